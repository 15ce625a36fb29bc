"""MACLR end to end: the recipe's three stages on a tiny LF data set (`hf-xmc train maclr --stage ...`), the saved
checkpoint as a normal sentence-transformers model plus its label index, `load_xmc_model(method="maclr")` ranking
labels like the classifiers, the push to the (loopback) Hub, and the flags' errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from maclr_fixtures import tiny_encoder
from tiny_checkpoints import tiny_vocabulary, write_tiny_lf_dataset

from hf_xmc.hub import load_xmc_model, push_xmc_model
from hf_xmc.maclr import LabelIndex, MACLRLoss, load_maclr_model, save_maclr_model
from hf_xmc.maclr.checkpoint import MACLRCheckpoint
from hf_xmc.maclr.losses import ClusterContrastiveLoss, LabelRegularizationLoss
from hf_xmc.methods import get_recipe

pytest_plugins = ["hub_fixtures"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_tiny_lf_dataset(tmp_path_factory.mktemp("maclr_data") / "lf", num_train=40, num_test=12)


@pytest.fixture(scope="module")
def tiny_bert():
    from maclr_fixtures import _tiny_bert_folder

    return _tiny_bert_folder()


def run_stage(stage, data, encoder_path, output_dir, *extra):
    recipe = get_recipe("maclr")
    argv = [
        "--stage", stage, "--dataset_name_or_path", str(data), "--model_name_or_path", str(encoder_path),
        "--output_dir", str(output_dir), "--max_steps", "3", "--per_device_train_batch_size", "8",
        "--max_length", "24", "--use_cpu", "--disable_tqdm", "true", "--seed", "0",
        "--learning_rate", "1e-3", "--logging_steps", "1", "--sample_text", "python graph library", *extra,
    ]  # fmt: skip
    return recipe.run(*recipe.parse_args(argv))


def test_pretrain_stage_trains_clusters_evaluates_saves_and_reloads(tiny_data, tiny_bert, tmp_path):
    result = run_stage("pretrain", tiny_data, tiny_bert, tmp_path / "stage1", "--initial_clusters", "2",
                       "--num_negatives", "4", "--mini_batch_size", "4", "--projection_dim", "16")  # fmt: skip
    assert result["global_step"] == 3 and len(result["train_loss_history"]) == 3
    assert all(np.isfinite(result["train_loss_history"]))
    clusters = [entry["clusters"] for entry in result["clustering"]]
    assert clusters[0] == 2 and result["clustering"][-1]["instance_level"]  # K0, then instances at half
    assert result["reload_max_abs_diff"] <= 1e-4
    metrics = json.loads((tmp_path / "stage1" / "xmc_metrics.json").read_text())
    assert {"P@1", "P@5", "R@8", "PSP@5_norm"} <= set(metrics) and 0 <= metrics["P@1"] <= 1  # k <= 8 labels
    assert len(result["predictions"]) == 5
    marker = json.loads((tmp_path / "stage1" / "maclr.json").read_text())
    assert marker["stage"] == "pretrain" and "MACLRLoss" in marker["losses"]
    card = (tmp_path / "stage1" / "README.md").read_text()
    assert "library_name: sentence-transformers" in card and "### Losses" in card and "num_negatives" in card


def test_self_training_and_few_shot_stages(tiny_data, tiny_bert, tmp_path):
    result = run_stage("self-train", tiny_data, tiny_bert, tmp_path / "stage2", "--pseudo_k", "2", "--pooling", "mean")
    assert result["pairs"]["encoder_pairs"] == 2 * 40 and result["pairs"]["tfidf_pairs"] > 0
    # continues from the stage-II checkpoint (a sentence-transformers folder)
    few = run_stage("few-shot", tiny_data, tmp_path / "stage2", tmp_path / "fs", "--few_shot_ratio", "0.5")
    assert few["pairs"]["labels_trained"] <= 4
    # labels with no training pair are reported apart (the generalized zero-shot view)
    assert few["metrics"]["unseen/num_labels"] == 8 - few["pairs"]["labels_trained"] > 0
    assert few["metrics"]["seen/num_labels"] == few["pairs"]["labels_trained"]


def test_checkpoint_is_a_sentence_transformers_model_with_its_label_index(tmp_path):
    from sentence_transformers import SentenceTransformer

    encoder = tiny_encoder().eval()
    vocabulary = tiny_vocabulary(6)
    loss = MACLRLoss(encoder, ClusterContrastiveLoss(encoder), LabelRegularizationLoss(encoder, vocabulary.texts, 2))
    folder = save_maclr_model(tmp_path / "m", encoder, vocabulary, loss=loss, stage="pretrain", dataset_name="tiny")
    plain = SentenceTransformer(str(folder), device="cpu")
    texts = ["python graph library", "web server"]
    np.testing.assert_allclose(plain.encode(texts), encoder.encode(texts), atol=1e-6)

    loaded = load_xmc_model(folder, method="maclr")  # the hub loader dispatches to MACLR
    assert isinstance(loaded, MACLRCheckpoint) and loaded.method == "maclr" and len(loaded.index) == 6
    ranked = loaded.predict(texts, k=3)
    expected, _ = LabelIndex(encoder.encode(vocabulary.texts)).search(encoder.encode(texts), 3)
    assert [[r.label_id for r in row] for row in ranked] == expected.tolist()
    assert ranked[0][0].label == vocabulary.labels[expected[0, 0]] and ranked[0][0].text is not None
    # with thresholds, k caps the labels returned from the depth they were tuned on: the 4th-ranked label passes
    from hf_xmc.decision import DecisionThresholds

    deep, _ = LabelIndex(encoder.encode(vocabulary.texts)).search(encoder.encode(texts[:1]), 6)
    per_label = np.full(6, 1e9)
    per_label[deep[0, 3]] = -1e9
    decided = loaded.predict(texts[:1], k=3, threshold=DecisionThresholds("micro", 1e9, per_label=per_label, top_k=6))
    assert [r.label_id for r in decided[0]] == [deep[0, 3]]
    new_ids = loaded.add_labels(["python graph library"], labels=["tag::new"])
    assert new_ids.tolist() == [6]
    assert any(r.label == "tag::new" for r in loaded.predict(["python graph library"], k=7)[0])
    with pytest.raises(Exception, match="not a 'aplc' model"):
        load_xmc_model(folder, method="aplc")


def test_a_folder_without_its_label_index_is_rejected(tmp_path):
    from hf_xmc.hub import XMCCheckpointError

    encoder = tiny_encoder()
    folder = save_maclr_model(tmp_path / "m", encoder, tiny_vocabulary(4))
    for path in (folder / "label_index").iterdir():
        path.unlink()
    with pytest.raises(XMCCheckpointError, match="label index is missing"):
        load_maclr_model(folder)


def test_push_and_load_from_the_hub(fake_hub, unique_repo_id, tmp_path):
    encoder = tiny_encoder().eval()
    vocabulary = tiny_vocabulary(5)
    folder = save_maclr_model(tmp_path / "m", encoder, vocabulary, stage="few-shot", model_name=unique_repo_id)
    push_xmc_model(folder, unique_repo_id)
    loaded = load_xmc_model(unique_repo_id)
    assert loaded.method == "maclr" and loaded.source == unique_repo_id
    texts = ["sound video editor"]
    assert [r.label for r in loaded.predict(texts, k=2)[0]] == [
        r.label for r in load_maclr_model(folder).predict(texts, k=2)[0]
    ]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--stage", "finetune", "--stage must be one of"),
        ("--few_shot_ratio", "0", "--few_shot_ratio"),
        ("--pseudo_views", "bm25", "--pseudo_views"),
        ("--pseudo_merge", "intersection", "--pseudo_merge must be union or agreement"),
        ("--label_index_backend", "annoy", "--label_index_backend"),
    ],
)
def test_bad_flags_are_one_line_errors(flag, value, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("maclr").parse_args([flag, value])


def test_agreement_of_the_views_needs_both_views():
    with pytest.raises(ValueError, match="--pseudo_views must name both"):
        get_recipe("maclr").parse_args(["--pseudo_merge", "agreement", "--pseudo_views", "tfidf"])


def test_labels_without_text_are_embedded_from_their_label_string():
    from hf_xmc.data import LabelVocabulary
    from hf_xmc.maclr.recipe import label_texts_of

    vocabulary = LabelVocabulary.from_label_lists([["a", "b"]], texts={"a": "Alpha tag", "b": " "})
    assert label_texts_of(vocabulary, "title") == ["Alpha tag", "b"]


def test_command_line_runs_a_stage(tiny_data, tiny_bert, tmp_path):
    from hf_xmc.cli.main import main

    code = main(
        [
            "train", "maclr", "--stage", "few-shot", "--few_shot_ratio", "0.5", "--dataset_name_or_path",
            str(tiny_data), "--model_name_or_path", tiny_bert, "--pooling", "mean", "--output_dir",
            str(tmp_path / "cli"), "--max_steps", "1", "--per_device_train_batch_size", "4", "--max_length", "16",
            "--use_cpu", "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    assert code == 0
    assert json.loads((tmp_path / "cli" / "maclr.json").read_text())["stage"] == "few-shot"
    assert main(["train", "maclr", "--stage", "nope"]) == 2  # a bad flag: one line, exit code 2


def test_the_evaluation_leaves_out_the_filter_pairs_unless_told_not_to(tmp_path):
    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.maclr.recipe import evaluate_split
    from hf_xmc.maclr.retrieval import encode_texts
    from hf_xmc.metrics import compute_xmc_metrics

    folder = write_tiny_lf_dataset(tmp_path / "lf", num_train=40, num_test=12)
    encoder = tiny_encoder().eval()
    xmc = load_xmc_dataset(folder)
    index = LabelIndex.build(encoder, xmc.vocabulary.label_texts(), labels=xmc.vocabulary.labels)
    # the 8 documents the evaluation draws (seeded), and their rows in the test split
    evaluated = xmc.splits["test"].shuffle(seed=0).select(range(8))
    rows = [xmc.splits["test"]["uid"].index(uid) for uid in evaluated["uid"]]
    ids, _ = index.search(encode_texts(encoder, evaluated["text"]), len(index))
    references = [list(row) for row in evaluated["labels"]]
    # filter pairs: each evaluated document's best-ranked relevant label in its top 5 (lbl.json line of "L<j>": j)
    pairs = [(row, int(xmc.vocabulary.labels[hit][1:])) for row, ranked, relevant in zip(rows, ids, references)
             for hit in [next((i for i in ranked[:5] if i in relevant), None)] if hit is not None]  # fmt: skip
    assert pairs
    (folder / "filter_labels_test.txt").write_text("".join(f"{doc} {label}\n" for doc, label in pairs))
    xmc = load_xmc_dataset(folder)
    mask = xmc.filter_pairs["test"][rows]
    recipe = get_recipe("maclr")

    def evaluate(*extra):
        flags = ["--dataset_name_or_path", str(folder), "--max_eval_samples", "8", "--output_dir", str(tmp_path)]
        data_args, _, _ = recipe.parse_args([*flags, *extra])
        return evaluate_split(encoder, index, xmc, data_args, seed=0)

    filtered, kept = evaluate(), evaluate("--apply_filter_labels", "false")
    expected = compute_xmc_metrics(ids, references, k=(1, 5), exclude=mask, num_labels=len(index))
    plain = compute_xmc_metrics(ids, references, k=(1, 5), num_labels=len(index))
    assert filtered["P@1"] == pytest.approx(expected["P@1"]) and filtered["P@5"] == pytest.approx(expected["P@5"])
    assert kept["P@1"] == pytest.approx(plain["P@1"])
    assert kept["P@5"] == pytest.approx(plain["P@5"]) != pytest.approx(expected["P@5"])
    assert filtered["num_excluded_filter_pairs"] == len(pairs) and kept["num_excluded_filter_pairs"] == 0


def test_few_shot_psp_weighs_labels_by_the_full_training_split(tmp_path):
    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.maclr.recipe import evaluate_split, few_shot_data

    folder = write_tiny_lf_dataset(tmp_path / "lf", num_train=40, num_test=12)
    encoder = tiny_encoder().eval()
    xmc = load_xmc_dataset(folder)
    subset, counts = few_shot_data(xmc, 0.3, seed=0)
    assert subset.vocabulary.labels != xmc.vocabulary.labels  # re-sorted by the subset's counts
    data_args, _, _ = get_recipe("maclr").parse_args(
        ["--dataset_name_or_path", str(folder), "--max_eval_samples", "8", "--output_dir", str(tmp_path)]
    )

    def evaluate(data, **kwargs):
        index = LabelIndex.build(encoder, data.vocabulary.label_texts(), labels=data.vocabulary.labels)
        return evaluate_split(encoder, index, data, data_args, seed=0, **kwargs)

    full = evaluate(xmc)
    few = evaluate(subset, propensity_counts=counts)
    naive = evaluate(subset)
    assert few["PSP@5"] == pytest.approx(full["PSP@5"]) and few["P@5"] == pytest.approx(full["P@5"])
    assert naive["PSP@5"] != pytest.approx(full["PSP@5"])  # the subset's counts would reweigh every label
    seen = int((subset.vocabulary.counts > 0).sum())  # seen / unseen still follow the subset
    assert few["seen/num_labels"] == seen and few["unseen/num_labels"] == len(subset.vocabulary) - seen
