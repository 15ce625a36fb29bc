"""The decision layer `hf_xmc.decision`: thresholds tuned on validation, applied by every method and by the Hub.

Specification: `tune_thresholds` finds the global threshold (micro- or macro-F1) and the per-label thresholds that a
brute-force search over every candidate threshold finds (same F1), for any real-valued scores; labels with too few
validation positives keep the global threshold; positives outside the top-K are false negatives. `decide` keeps the
ranking order and never predicts padding. The thresholds round-trip through `decision_thresholds.json` (folder and
Hub), travel with a checkpoint, and `load_xmc_model(...).predict(texts, threshold=...)` returns only the labels that
pass. The Space marks them. On debtags, tuned thresholds beat a fixed 0.5 on held-out documents.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi
from tiny_checkpoints import tiny_aplc_model, tiny_bert_tokenizer, tiny_vocabulary

from hf_xmc.decision import DECISION_THRESHOLDS_FILE, DecisionThresholds, decision_metrics, tune_thresholds
from hf_xmc.hub import XMCCheckpointError, load_xmc_model, push_xmc_model, save_xmc_checkpoint

pytest_plugins = ["hub_fixtures"]  # the `fake_hub` and `unique_repo_id` fixtures
TEXTS = ["the debian package editor for python", "sound and video tool", "a web server library"]
SPACE_APP = Path(__file__).resolve().parents[1] / "spaces" / "xmc_demo" / "app.py"


# ------------------------------------------------------------------------------------------ a brute-force oracle
def oracle_f1(ids, scores, references, thresholds, num_labels) -> dict[str, float]:
    """Micro/macro F1 of `score >= thresholds[label]`, counted one pair at a time (the test's independent oracle)."""
    tp, predicted = np.zeros(num_labels), np.zeros(num_labels)
    relevant = np.bincount([label for row in references for label in row], minlength=num_labels)
    for row_ids, row_scores, row_refs in zip(ids, scores, references):
        for label, score in zip(row_ids, row_scores):
            if label >= 0 and score >= thresholds[label]:
                predicted[label] += 1
                tp[label] += label in row_refs
    micro = 2 * tp.sum() / (predicted.sum() + relevant.sum())
    present = relevant > 0
    macro = float(np.mean(2 * tp[present] / (predicted[present] + relevant[present])))
    return {"micro": float(micro), "macro": macro}


def random_validation(seed: int, n: int = 10, k: int = 3, num_labels: int = 5):
    """Top-k candidates with many tied scores, outside [0, 1] too, some padding, and positives outside the top-k."""
    rng = np.random.default_rng(seed)
    ids = np.array([rng.permutation(num_labels)[:k] for _ in range(n)])
    ids[0, -1] = -1  # padding
    scores = rng.choice([-2.0, -1.0, 0.0, 0.25, 0.5, 0.5, 1.0, 3.0], size=(n, k))
    references = [sorted({int(x) for x in rng.choice(num_labels, size=rng.integers(1, 3))}) for _ in range(n)]
    return ids, scores, references, num_labels


@pytest.mark.parametrize("objective", ["micro", "macro"])
def test_global_threshold_is_the_best_of_every_candidate_threshold(objective):
    for seed in range(60):
        ids, scores, references, num_labels = random_validation(seed)
        tuned = tune_thresholds(ids, scores, references, num_labels, objective=objective)
        candidates = [*np.unique(scores[ids >= 0]), np.inf]
        best = max(oracle_f1(ids, scores, references, [c] * num_labels, num_labels)[objective] for c in candidates)
        reached = oracle_f1(ids, scores, references, [tuned.global_threshold] * num_labels, num_labels)[objective]
        assert reached == pytest.approx(best, abs=1e-12), seed
        assert tuned.validation_f1 == tuned.global_validation_f1 == pytest.approx(best, abs=1e-12)
        assert tuned.per_label is None and tuned.num_validation_docs == 10 and tuned.top_k == 3


@pytest.mark.parametrize("objective", ["micro", "macro"])
def test_per_label_thresholds_are_the_best_combination_with_rare_labels_on_the_global_one(objective):
    for seed in range(60):
        ids, scores, references, num_labels = random_validation(seed)
        tuned = tune_thresholds(ids, scores, references, num_labels, objective, per_label=True, min_label_positives=3)
        positives = np.bincount([label for row in references for label in row], minlength=num_labels)
        options = [
            [*np.unique(scores[ids == label]), np.inf] if positives[label] >= 3 else [tuned.global_threshold]
            for label in range(num_labels)
        ]
        best = max(
            oracle_f1(ids, scores, references, combination, num_labels)[objective]
            for combination in itertools.product(*options)
        )
        per_label = tuned.thresholds_for(np.arange(num_labels))
        assert oracle_f1(ids, scores, references, per_label, num_labels)[objective] == pytest.approx(best, abs=1e-12)
        assert tuned.validation_f1 == pytest.approx(best, abs=1e-12)
        assert tuned.validation_f1 >= tuned.global_validation_f1 - 1e-12  # never worse than the global threshold
        rare = positives < 3
        assert (tuned.per_label[rare] == tuned.global_threshold).all()
        assert tuned.num_tuned_labels == int((~rare & np.isin(np.arange(num_labels), ids)).sum())


def test_a_label_with_few_positives_keeps_the_global_threshold():
    # label 0: 6 positives, scored 0.9 when relevant and 0.6 when not -> its own threshold between them;
    # label 1: a single positive at 0.2 -> too rare, it keeps the global threshold
    ids = np.array([[0, 1]] * 8)
    scores = np.array([[0.9, 0.2]] * 6 + [[0.6, 0.1]] * 2)
    references = [[0]] * 6 + [[1], []]
    tuned = tune_thresholds(ids, scores, references, 2, per_label=True, min_label_positives=5)
    assert tuned.num_tuned_labels == 1 and tuned.per_label[1] == tuned.global_threshold
    assert 0.6 < tuned.per_label[0] <= 0.9
    assert tuned.per_label[0] == pytest.approx(0.75)  # halfway between the lowest kept and the next score
    assert tuned.decide(ids, scores)[:1] == [[0]] and tuned.decide(ids, scores)[6] == []


def test_positives_outside_the_top_k_are_false_negatives():
    ids, scores = np.array([[0], [0]]), np.array([[0.9], [0.8]])
    references = [[0, 1], [0, 2]]  # labels 1 and 2 never reach the top-1
    tuned = tune_thresholds(ids, scores, references, 3)
    assert tuned.decide(ids, scores) == [[0], [0]]
    assert tuned.validation_f1 == pytest.approx(2 * 2 / (2 + 4))  # recall 2/4, precision 1
    assert decision_metrics([[0], [0]], references, 3)["micro_recall"] == pytest.approx(0.5)


def test_decide_keeps_the_ranking_order_and_never_predicts_padding():
    thresholds = DecisionThresholds("micro", 0.5, per_label=np.array([0.9, 0.1, 0.5, 0.5]))
    ids = np.array([[2, 1, 0, -1], [0, 3, 1, 2]])
    scores = np.array([[0.7, 0.3, 0.6, 0.99], [0.95, 0.4, 0.05, 0.01]])
    assert thresholds.decide(ids, scores) == [[2, 1], [0]]
    assert thresholds.decide(ids, scores[:, ::-1].copy()) == [[2, 1], [1, 2]]  # column order, whatever the scores
    np.testing.assert_array_equal(thresholds.thresholds_for([[1, -1, 7]]), [[0.1, 0.5, 0.5]])  # unknown: global


def test_min_labels_keeps_the_best_candidate_of_an_empty_row():
    thresholds = DecisionThresholds.fixed(0.8)
    ids, scores = np.array([[4, 2, -1], [1, 3, 0]]), np.array([[0.3, 0.5, 0.9], [0.9, 0.2, 0.85]])
    assert thresholds.decide(ids, scores) == [[], [1, 0]]
    assert thresholds.decide(ids, scores, min_labels=1) == [[2], [1, 0]]  # padding is no candidate
    with pytest.raises(ValueError, match="min_labels"):
        thresholds.decide(ids, scores, min_labels=-1)


def test_decision_metrics_are_the_set_metrics():
    metrics = decision_metrics([[0, 1], [], [2]], [[0], [1], [2, 3]], num_labels=4)
    assert metrics["micro_precision"] == pytest.approx(2 / 3) and metrics["micro_recall"] == pytest.approx(2 / 4)
    assert metrics["macro_f1"] == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert set(metrics) == {f"{a}_{m}" for a in ("micro", "macro") for m in ("precision", "recall", "f1")}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "weighted"}, "objective must be one of"),
        ({"min_label_positives": -1}, "min_label_positives"),
        ({"top_k_scores": np.array([[np.nan, 0.1]])}, "NaN"),
        ({"top_k_ids": np.array([[1, 1]])}, "repeats a label id in row 0"),
        ({"top_k_ids": np.array([[0, 9]])}, "label id 9"),
        ({"references": [[0], [1]]}, "1 documents but references has 2"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    arguments = {"top_k_ids": np.array([[0, 1]]), "top_k_scores": np.array([[0.9, 0.1]]), "references": [[0]]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        tune_thresholds(num_labels=3, **arguments)


def test_the_decision_layer_needs_no_torch():
    import subprocess

    code = "import sys, hf_xmc.decision; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


# --------------------------------------------------------------------------------------------------- persistence
def tuned_thresholds(num_labels: int = 12) -> DecisionThresholds:
    ids, scores, references, _ = random_validation(0, n=40, k=4, num_labels=num_labels)
    return tune_thresholds(ids, scores, references, num_labels, per_label=True, min_label_positives=2)


def test_save_and_load_round_trip(tmp_path):
    thresholds = tuned_thresholds()
    path = thresholds.save_pretrained(tmp_path / "model")
    assert Path(path).name == DECISION_THRESHOLDS_FILE
    for source in (tmp_path / "model", path):
        loaded = DecisionThresholds.from_pretrained(source)
        np.testing.assert_array_equal(loaded.per_label, thresholds.per_label)  # exact, not approximate
        assert loaded == thresholds and loaded != DecisionThresholds.fixed(0.5)


def test_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"has no {DECISION_THRESHOLDS_FILE}"):
        DecisionThresholds.from_pretrained(tmp_path)
    assert DecisionThresholds.from_pretrained(tmp_path, missing_ok=True) is None
    with pytest.raises(FileNotFoundError, match="neither a folder, a file nor a Hub repo id"):
        DecisionThresholds.from_pretrained(tmp_path / "no" / "such" / "folder")
    (tmp_path / DECISION_THRESHOLDS_FILE).write_text('{"objective": "micro"}')
    with pytest.raises(ValueError, match=r"lack the key\(s\) \['global_threshold'\]"):
        DecisionThresholds.from_pretrained(tmp_path)


# -------------------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny APLC checkpoint with per-label thresholds and the same model without: `(with, without, thresholds)`."""
    tokenizer, vocabulary = tiny_bert_tokenizer(), tiny_vocabulary()
    model = tiny_aplc_model("encoder", tokenizer, num_labels=len(vocabulary))
    root = tmp_path_factory.mktemp("decision")
    ranked = load_xmc_model(save_xmc_checkpoint(root / "plain", model, tokenizer, vocabulary)).predict(TEXTS, k=6)
    ids = np.array([[label.label_id for label in row] for row in ranked])
    scores = np.array([[label.score for label in row] for row in ranked])
    references = [[int(row[0]), int(row[2])] for row in ids]  # some positives rank 1st, some 3rd
    thresholds = tune_thresholds(ids, scores, references, len(vocabulary), per_label=True, min_label_positives=1)
    with_thresholds = save_xmc_checkpoint(root / "tuned", model, tokenizer, vocabulary, thresholds=thresholds)
    return with_thresholds, root / "plain", thresholds


def test_checkpoint_loads_its_thresholds(checkpoints):
    with_thresholds, plain, thresholds = checkpoints
    assert (with_thresholds / DECISION_THRESHOLDS_FILE).is_file()
    assert load_xmc_model(with_thresholds).thresholds.to_dict() == thresholds.to_dict()
    assert load_xmc_model(plain).thresholds is None


def test_predict_with_a_threshold_keeps_the_passing_labels_in_ranking_order(checkpoints):
    checkpoint = load_xmc_model(checkpoints[0])
    ranked = checkpoint.predict(TEXTS, k=6)
    assert [len(row) for row in ranked] == [6, 6, 6]  # no threshold: the ranking, unchanged
    for threshold in (0.0, 0.5, float(np.median([label.score for row in ranked for label in row]))):
        decided = checkpoint.predict(TEXTS, k=6, threshold=threshold)
        assert decided == [[label for label in row if label.score >= threshold] for row in ranked]
    tuned = checkpoint.predict(TEXTS, k=6, threshold="tuned")
    limits = checkpoint.thresholds.per_label
    assert tuned == [[label for label in row if label.score >= limits[label.label_id]] for row in ranked]
    assert tuned != ranked and any(tuned)  # the tuned thresholds decide something, and not everything
    assert all(len(row) >= 1 for row in checkpoint.predict(TEXTS, k=6, threshold=1.0, min_labels=1))


def test_with_a_threshold_k_caps_the_labels_returned_from_the_depth_tuned_on(checkpoints):
    checkpoint = load_xmc_model(checkpoints[0])
    ranked = checkpoint.predict(TEXTS[:1], k=12)[0]  # every label of the tiny vocabulary, best first
    never = 1e9  # a threshold no probability reaches

    def thresholds(passing, top_k=20):
        per_label = np.full(12, never)
        per_label[[ranked[rank].label_id for rank in passing]] = 0.0
        return DecisionThresholds("micro", never, per_label=per_label, top_k=top_k)

    # only the label ranked 6th passes its threshold: k=5 still returns it (ranked as deep as the thresholds' top_k)
    assert checkpoint.predict(TEXTS[:1], k=5, threshold=thresholds([5]))[0] == [ranked[5]]
    # k is the most labels returned: the five best-ranked of those that pass
    many = thresholds([0, 2, 3, 5, 7, 8, 9])
    assert checkpoint.predict(TEXTS[:1], k=5, threshold=many)[0] == [ranked[i] for i in (0, 2, 3, 5, 7)]
    assert checkpoint.predict(TEXTS[:1], k=2, threshold=many)[0] == [ranked[0], ranked[2]]
    # thresholds tuned on the top 3 look no deeper than k (the depth they were tuned on is what they know)
    assert checkpoint.predict(TEXTS[:1], k=5, threshold=thresholds([5], top_k=3))[0] == []


def test_tuned_threshold_without_saved_thresholds_is_a_clear_error(checkpoints):
    checkpoint = load_xmc_model(checkpoints[1])
    with pytest.raises(XMCCheckpointError, match="has no tuned thresholds"):
        checkpoint.predict(TEXTS, threshold="tuned")
    with pytest.raises(ValueError, match='threshold must be None, a number or "tuned"'):
        checkpoint.predict(TEXTS, threshold="best")


def test_thresholds_of_another_label_space_are_rejected(checkpoints, tmp_path):
    import shutil

    broken = tmp_path / "other-labels"
    shutil.copytree(checkpoints[0], broken)
    DecisionThresholds.fixed(0.5, num_labels=99).save_pretrained(broken)
    with pytest.raises(XMCCheckpointError, match="thresholds are for 99 labels but the label vocabulary has 12"):
        load_xmc_model(broken)


def test_thresholds_travel_through_the_hub(checkpoints, fake_hub, unique_repo_id):
    with_thresholds, plain, thresholds = checkpoints
    push_xmc_model(with_thresholds, unique_repo_id)  # a folder push uploads the file with the rest
    assert DECISION_THRESHOLDS_FILE in HfApi().list_repo_files(unique_repo_id)
    assert DecisionThresholds.from_pretrained(unique_repo_id).to_dict() == thresholds.to_dict()
    reloaded = load_xmc_model(unique_repo_id)
    assert reloaded.thresholds.to_dict() == thresholds.to_dict()
    assert reloaded.predict(TEXTS, threshold="tuned") == load_xmc_model(with_thresholds).predict(
        TEXTS, threshold="tuned"
    )

    plain_repo = f"{unique_repo_id}-plain"
    push_xmc_model(plain, plain_repo)
    assert DecisionThresholds.from_pretrained(plain_repo, missing_ok=True) is None
    push_xmc_model(plain, plain_repo, thresholds=thresholds)  # thresholds added to a folder at push time
    assert load_xmc_model(plain_repo).thresholds.to_dict() == thresholds.to_dict()


def test_cli_predict_applies_a_threshold(checkpoints, capsys):
    from hf_xmc.cli.main import main

    with_thresholds, plain, _ = checkpoints
    expected = load_xmc_model(with_thresholds).predict(TEXTS[:1], k=6, threshold="tuned")[0]
    assert (
        main(
            ["hub", "predict", str(with_thresholds), TEXTS[0], "--k", "6", "--threshold", "tuned", "--format", "json"]
        )
        == 0
    )
    assert [row["label"] for row in json.loads(capsys.readouterr().out)[0]] == [label.label for label in expected]
    assert main(["hub", "predict", str(plain), TEXTS[0], "--threshold", "1.5"]) == 0
    assert "none of the top 5 labels reaches the threshold" in capsys.readouterr().out
    assert main(["hub", "predict", str(plain), TEXTS[0], "--threshold", "tuned"]) == 2
    assert "has no tuned thresholds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["hub", "predict", str(plain), TEXTS[0], "--threshold", "best"])
    assert "invalid threshold value: 'best'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------ the Space
@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("xmc_demo_app_decision", SPACE_APP)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_space_marks_the_labels_that_pass_the_tuned_thresholds(app, checkpoints):
    with_thresholds, plain, thresholds = checkpoints
    message, _, table = app.predict(TEXTS[0], 6, str(with_thresholds))
    limits = thresholds.per_label[
        [app.get_predictor(str(with_thresholds)).vocabulary.label_to_id[x] for x in table.label]
    ]
    passes = table["score"].to_numpy() >= limits - 1e-4  # the table rounds scores to 4 digits
    assert table["decision"].tolist() == [app.PASSES if p else app.FAILS for p in passes]
    assert f"{int(passes.sum())} of them pass" in message and "tuned for micro-F1" in message
    assert f"{thresholds.global_threshold:.4f} for every label" in message

    message, _, table = app.predict(TEXTS[0], 6, str(plain))
    assert (table["decision"] == "").all() and "threshold" not in message  # a ranking only


def test_tuned_thresholds_file_is_plain_json(checkpoints):
    data = json.loads((checkpoints[0] / DECISION_THRESHOLDS_FILE).read_text())
    assert data["objective"] == "micro" and len(data["per_label"]) == 12 and data["top_k"] == 6


# --------------------------------------------------------------------------------------------------- real data
@pytest.mark.real_data
def test_tuned_thresholds_beat_a_fixed_half_on_held_out_debtags(debtags_dir):
    """A TF-IDF nearest-neighbour scorer (scores in [0, 1]: the neighbours' similarity-weighted label vote)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.metrics.topk import top_k_with_scores

    xmc = load_xmc_dataset(debtags_dir, validation_size=0.1, seed=0)
    train, validation, test = xmc["train"].select(range(6000)), xmc["validation"], xmc["test"].select(range(2000))
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, dtype=np.float32)
    train_features = vectorizer.fit_transform(train["text"])
    train_labels = xmc.label_matrix("train")[:6000]

    def top_k(texts, k=10, neighbours=20):
        similarity = (vectorizer.transform(texts) @ train_features.T).toarray()
        nearest = np.argpartition(-similarity, neighbours, axis=1)[:, :neighbours]
        weights = np.zeros_like(similarity)
        np.put_along_axis(weights, nearest, np.take_along_axis(similarity, nearest, axis=1), axis=1)
        weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        return top_k_with_scores(np.asarray(weights @ train_labels.toarray()), k)

    tuned = tune_thresholds(*top_k(validation["text"]), list(validation["labels"]), xmc.num_labels)
    test_ids, test_scores = top_k(test["text"])
    references = list(test["labels"])
    tuned_f1 = decision_metrics(tuned.decide(test_ids, test_scores), references, xmc.num_labels)["micro_f1"]
    fixed = DecisionThresholds.fixed(0.5).decide(test_ids, test_scores)
    fixed_f1 = decision_metrics(fixed, references, xmc.num_labels)["micro_f1"]
    print(
        f"debtags kNN micro-F1 on 2,000 test docs: tuned {tuned_f1:.4f} (t={tuned.global_threshold:.3f}), 0.5 {fixed_f1:.4f}"
    )
    assert tuned_f1 > fixed_f1 + 0.05
