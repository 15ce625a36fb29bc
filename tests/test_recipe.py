"""The shared recipe (`hf_xmc.training.recipe`) as a user and a method author meet it: the registry, the command line
(short help, one-line errors), the wall-clock budget, the decision thresholds, the peers' rows, a tidy output folder.

Tiny random BERTs on a tiny LF data set: the whole file runs in well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import partial

import pytest
import torch
from tiny_checkpoints import save_tiny_bert, write_tiny_lf_dataset

from hf_xmc.cli.main import main as hf_xmc_cli


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    return write_tiny_lf_dataset(root / "data", num_train=96, num_test=24), save_tiny_bert(root / "bert")


def tiny_flags(data, encoder, output_dir, *extra) -> list[str]:
    return [
        "--dataset_name_or_path", str(data), "--model_name_or_path", str(encoder), "--output_dir", str(output_dir),
        "--per_device_train_batch_size", "8", "--max_length", "32", "--use_cpu", "--report_to", "none",
        "--decision_validation_size", "16", *extra,
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------------- registry
def test_the_registry_imports_no_torch_and_finds_each_methods_recipe():
    import hf_xmc.methods

    # the module alone (not the package `__init__`, whose import cost is guarded elsewhere) pulls in no torch
    code = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('methods', sys.argv[1]); "
        "module = sys.modules['methods'] = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "print(module.method_names(), 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, hf_xmc.methods.__file__], capture_output=True, text=True, check=True
    ).stdout
    assert out.split("] ")[1].split() == ["False", "False"] and "'aplc'" in out

    from hf_xmc.methods import get_recipe, method_of_model_type
    from hf_xmc.training.aplc_recipe import APLC_RECIPE

    assert get_recipe("aplc") is APLC_RECIPE and method_of_model_type("encoder_aplc") == "aplc"
    with pytest.raises(ValueError, match="unknown method 'nope'; known methods: aplc"):
        get_recipe("nope")


def test_another_methods_checkpoint_is_refused_by_name(monkeypatch, tiny):
    from hf_xmc import methods
    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.training.aplc_recipe import APLCModelArguments, load_or_create_model

    data, encoder = tiny
    monkeypatch.setitem(methods.METHODS, "other", methods.MethodEntry("other", "x:Y", "another method", ("bert",)))
    with pytest.raises(ValueError, match="checkpoint of hf-xmc method 'other'.*hf-xmc train other"):
        load_or_create_model(APLCModelArguments(model_name_or_path=str(encoder)), load_xmc_dataset(data).vocabulary)


# --------------------------------------------------------------------------------------------------- command line
def test_train_help_is_short_and_help_all_has_every_training_flag(capsys):
    with pytest.raises(SystemExit):
        hf_xmc_cli(["train", "aplc", "--help"])
    short = capsys.readouterr().out
    assert "--label_cutoffs" in short and "--learning_rate_aplc" in short and "--num_train_epochs" in short
    assert "--ddp_backend" not in short and len(short.splitlines()) < 100 and "--help-all" in short
    with pytest.raises(SystemExit):
        hf_xmc_cli(["train", "aplc", "--help-all"])
    assert "--ddp_backend" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max_length", "abc"], "argument --max_length/--max-length: invalid int value: 'abc'"),
        (["--no_such_flag", "1"], "unrecognized arguments: --no_such_flag 1"),
        (["--max_train_samples", "-5"], "--max_train_samples must be >= 0 (0 means all), got -5"),
        (["--num_train_epochs", "-1"], "--num_train_epochs must be > 0 (or set --max_steps), got -1"),
        (["--model_name_or_path", "/no/such/dir/model"], "--model_name_or_path /no/such/dir/model: no such folder"),
    ],
)
def test_a_bad_flag_is_one_short_error_naming_it(flags, message, capsys):
    try:
        code = hf_xmc_cli(["train", "aplc", *flags])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) <= 2, err


def test_the_example_script_gives_the_same_one_line_error(capsys):
    from hf_xmc.methods import get_recipe

    assert get_recipe("aplc").main(["--num_train_epochs", "-1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "hf-xmc train aplc: error: --num_train_epochs must be > 0 (or set --max_steps), got -1"
    )


def test_checkpoints_stay_only_when_asked_for():
    from hf_xmc.training.aplc_recipe import APLCTrainingArguments
    from hf_xmc.training.recipe import _keep_checkpoints

    def keeps(**kwargs):
        return _keep_checkpoints(APLCTrainingArguments(output_dir="unused", use_cpu=True, **kwargs))

    assert not keeps() and keeps(keep_checkpoints=True) and keeps(save_strategy="steps", save_steps=5)
    assert not keeps(save_strategy="steps", save_steps=5, keep_checkpoints=False)


# --------------------------------------------------------------------------------------------------------- budget
class _FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_budget_replans_steps_and_schedule_from_the_measured_step_time(monkeypatch):
    from types import SimpleNamespace

    from transformers import TrainerControl

    from hf_xmc.training import budget
    from hf_xmc.training.optimization import get_slanted_triangular_schedule

    clock = _FakeClock()
    monkeypatch.setattr(budget.time, "perf_counter", clock)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_slanted_triangular_schedule(optimizer, num_warmup_steps=1000, num_training_steps=10_000)
    args = SimpleNamespace(get_warmup_steps=lambda total: int(0.1 * total))
    state = SimpleNamespace(global_step=0, max_steps=10_000)
    callback = budget.TimeBudgetCallback(seconds=100)
    control = TrainerControl()
    callback.on_train_begin(args, state, control)
    while not control.should_training_stop:
        clock.now += 5.0 if state.global_step == 0 else 1.0  # a slow first step, then 1 s per step
        optimizer.step()
        scheduler.step()
        state.global_step += 1
        callback.on_step_end(args, state, control, lr_scheduler=scheduler)
    report = callback.report()
    # 100 s at 1 s per step after a 5 s first step: 96 steps, the schedule ends at 0 exactly there
    assert report["steps_planned"] == report["steps_done"] == state.global_step == 96
    assert report["stopped_by"] == "plan" and report["seconds_per_step"] == pytest.approx(1.0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)
    assert scheduler.lr_lambdas[0].keywords == {"num_warmup_steps": 9, "num_training_steps": 96}


def test_a_budgeted_run_uses_its_budget_with_the_real_trainer(tiny, tmp_path):
    from hf_xmc.training.aplc_recipe import APLC_RECIPE

    data, encoder = tiny
    flags = tiny_flags(data, encoder, tmp_path / "run", "--max_train_minutes", "0.1", "--max_steps", "100000",
                       "--save_strategy", "no", "--decision_validation_size", "0")  # fmt: skip
    result = APLC_RECIPE.run(*APLC_RECIPE.parse_args(flags))
    budget = result["budget"]
    assert budget["steps_done"] == result["global_step"] >= 10
    # the budget is used (not a fraction of it), and not overrun: the plan ends near the deadline
    assert 4.0 <= budget["train_seconds"] <= 7.5
    assert budget["stopped_by"] == "budget" or budget["steps_planned"] == budget["steps_done"]
    assert budget["schedule_replanned"] is True and "decision" not in result


# --------------------------------------------------------------------------------- the run a user sees end to end
def test_a_run_tunes_thresholds_prints_its_plan_and_peers_and_leaves_a_tidy_folder(tiny, tmp_path, capfd):
    from hf_xmc.hub import load_xmc_model
    from hf_xmc.training.aplc_recipe import APLC_RECIPE

    data, encoder = tiny
    output_dir = tmp_path / "run"
    flags = tiny_flags(data, encoder, output_dir, "--num_train_epochs", "2", "--compare_with_peers", "true",
                       "--max_train_minutes", "5", "--per_device_eval_batch_size", "4")  # fmt: skip
    result = APLC_RECIPE.run(*APLC_RECIPE.parse_args(flags))
    out, err = capfd.readouterr()

    # the plan first, the measured step time, the peers beside the model, and no progress-bar escape codes
    assert out.index("train on 80 of 80 training documents") < out.index("tune decision thresholds on 16")
    assert "measured" in out and "s per step" in out and "evaluating: batch 3/6" in out
    assert "omikuji Bonsai (TF-IDF)" in out and "aplc (this run)" in out
    assert set(result["peers"]) == {"napkinXC PLT (TF-IDF)", "omikuji Parabel (TF-IDF)", "omikuji Bonsai (TF-IDF)"}
    assert "\r" not in out + err and "\x1b[" not in out + err

    # thresholds tuned on held-out documents, reported beside P@k, saved with the model and used by predict
    metrics = json.loads((output_dir / "xmc_metrics.json").read_text())
    for key in ("micro_f1@0.5", "micro_f1@tuned", "macro_f1@0.5", "macro_f1@tuned", "P@1"):
        assert 0.0 <= metrics[key] <= 1.0 and metrics[key] == pytest.approx(result["metrics"][key])
    assert result["decision"]["num_validation_docs"] == 16
    checkpoint = load_xmc_model(output_dir, method="aplc")
    assert checkpoint.thresholds.global_threshold == pytest.approx(result["decision"]["global_threshold"])
    tuned = checkpoint.predict(["some text"], k=5, threshold="tuned")
    assert all(label.score >= checkpoint.thresholds.thresholds_for([label.label_id])[0] for label in tuned[0])

    # a cap the plan fits in leaves the plan (and its schedule) alone
    assert (
        result["global_step"] == result["budget"]["steps_planned"] == 20 and result["budget"]["stopped_by"] == "plan"
    )
    assert result["budget"]["schedule_replanned"] is False

    # the final model stays, Trainer's checkpoints do not
    assert not list(output_dir.glob("checkpoint-*")) and result["removed_checkpoints"] == ["checkpoint-20"]
    assert {"model.safetensors", "label_vocabulary.json", "decision_thresholds.json"} <= {
        path.name for path in output_dir.iterdir()
    }


def test_the_recipe_tunes_one_global_threshold_unless_asked_for_one_per_label():
    import numpy as np

    from hf_xmc.training.arguments import XMCDataArguments
    from hf_xmc.training.recipe_steps import tune_decisions

    assert XMCDataArguments().decision_per_label is False  # measured: per-label overfits 1,000 held-out docs
    rng = np.random.default_rng(0)
    ids = np.tile(np.arange(4), (40, 1))
    scores = rng.random((40, 4))
    references = [[int(j) for j in np.flatnonzero(row > 0.6)] for row in scores]
    args = (ids, scores, references, ids, scores, references, 4)
    global_only, _ = tune_decisions(*args)
    per_label, metrics = tune_decisions(*args, per_label=True)
    assert global_only.per_label is None and per_label.per_label is not None and len(per_label.per_label) == 4
    assert metrics["micro_f1@tuned"] == 1.0  # the scores separate the labels at 0.6


def test_without_the_peer_libraries_the_run_says_so(monkeypatch, capsys):
    from hf_xmc import baselines
    from hf_xmc.training import recipe_steps

    monkeypatch.setattr(baselines, "peer_is_installed", lambda algorithm: False)
    assert recipe_steps.compare_with_peers({}, None, None, {}, "aplc") == {}
    assert "napkinxc and omikuji are not installed" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------------ baselines
def test_a_sparse_peer_ranks_the_labels_of_its_words():
    from hf_xmc.baselines import SparsePeer

    texts = [f"{word} {word} filler {i}" for i in range(30) for word in ("alpha", "beta", "gamma")]
    labels = [[0] if "alpha" in t else [1] if "beta" in t else [2, 0] for t in texts]
    for algorithm in ("napkinxc-plt", "omikuji-parabel"):
        ids, scores = SparsePeer(algorithm, threads=1).fit(texts, labels, 3).predict_top_k(["beta", "gamma"], k=2)
        assert ids.shape == scores.shape == (2, 2) and ids[0, 0] == 1 and set(ids[1]) == {2, 0}
        assert (scores[:, 0] >= scores[:, 1]).all()


def test_a_missing_peer_library_names_what_to_install(monkeypatch):
    import importlib

    from hf_xmc import baselines

    real_import = importlib.import_module

    def no_omikuji(name, *args):
        if name == "omikuji":
            raise ImportError("No module named 'omikuji'")
        return real_import(name, *args)

    monkeypatch.setattr(baselines.importlib, "import_module", partial(no_omikuji))
    with pytest.raises(baselines.PeerNotInstalledError, match="omikuji is not installed: `pip install omikuji`"):
        baselines.SparsePeer("omikuji-bonsai").fit(["a b", "b c"], [[0], [1]], 2)


# ------------------------------------------------------------------------------- LF filter pairs in the evaluation
def add_filter_files(folder, test_pairs, train_pairs=()):
    """An LF folder's `filter_labels_{test,train}.txt` (one `doc_index lbl_index` pair a line)."""
    for split, pairs in (("test", test_pairs), ("train", train_pairs)):
        (folder / f"filter_labels_{split}.txt").write_text("".join(f"{doc} {label}\n" for doc, label in pairs))
    return folder


def test_the_chosen_examples_keep_their_rows_so_per_row_data_follows_them(tiny):
    import numpy as np
    from transformers import HfArgumentParser

    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.training.arguments import XMCDataArguments
    from hf_xmc.training.recipe_steps import select_examples

    data, _ = tiny
    xmc = load_xmc_dataset(data)
    (data_args,) = HfArgumentParser(XMCDataArguments).parse_args_into_dataclasses(
        ["--max_train_samples", "30", "--max_eval_samples", "10", "--decision_validation_size", "12"]
    )
    examples = select_examples(xmc, data_args, seed=7)
    for name in ("train", "eval", "decision"):
        split, rows = examples["rows"][name]
        assert examples[name]["uid"] == [xmc.splits[split]["uid"][int(row)] for row in rows]
    # the same documents as the seeded shuffles the recipe always drew
    shuffled = xmc.splits["train"].shuffle(seed=7)
    assert examples["decision"]["uid"] == shuffled["uid"][:12]
    assert examples["train"]["uid"] == shuffled.select(range(12, 96)).shuffle(seed=7)["uid"][:30]
    assert examples["eval"]["uid"] == xmc.splits["test"].shuffle(seed=7)["uid"][:10]
    assert len(np.intersect1d(examples["rows"]["train"][1], examples["rows"]["decision"][1])) == 0


def test_the_evaluation_leaves_out_the_filter_pairs_unless_told_not_to(tiny, tmp_path, capsys):
    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.metrics import compute_xmc_metrics
    from hf_xmc.training.aplc_recipe import APLC_RECIPE

    data, encoder = tiny
    folder = tmp_path / "lf"
    shutil.copytree(data, folder)
    # the most frequent label (lbl line 0) of every test document, and of a few training documents
    add_filter_files(folder, [(doc, 0) for doc in range(24)], [(doc, 0) for doc in range(0, 96, 3)])
    xmc = load_xmc_dataset(folder)
    # what the recipe evaluates: 16 of the 24 test documents, drawn by the seeded shuffle; their rows of the mask
    test_uids = xmc.splits["test"]["uid"]
    evaluated = xmc.splits["test"].shuffle(seed=42).select(range(16))
    mask = xmc.filter_pairs["test"][[test_uids.index(uid) for uid in evaluated["uid"]]]
    assert mask.nnz == 16
    references = [list(labels) for labels in evaluated["labels"]]

    def run(*extra):
        flags = tiny_flags(folder, encoder, tmp_path / f"run{len(extra)}", "--max_steps", "12", "--seed", "42",
                           "--max_eval_samples", "16", "--save_strategy", "no", *extra)  # fmt: skip
        return APLC_RECIPE.run(*APLC_RECIPE.parse_args(flags))

    filtered = run()
    assert "leave 16 filter pairs (test filter file) out of the evaluation" in capsys.readouterr().out
    ranking = filtered["eval_top_k"][0]  # the saved model's own top-20 of the evaluated documents
    num_labels = len(xmc.vocabulary)
    expected = compute_xmc_metrics(ranking, references, num_labels=num_labels, exclude=mask)
    for key in ("P@1", "P@3", "nDCG@5"):
        assert filtered["metrics"][key] == pytest.approx(expected[key])
    assert filtered["excluded_filter_pairs"] == 16

    unfiltered = run("--apply_filter_labels", "false")
    assert "keep the test filter pairs" in capsys.readouterr().out
    plain = compute_xmc_metrics(unfiltered["eval_top_k"][0], references, num_labels=num_labels)
    assert unfiltered["metrics"]["P@1"] == pytest.approx(plain["P@1"]) != pytest.approx(expected["P@1"])
    assert unfiltered["excluded_filter_pairs"] == 0
    # the decision F1s are measured on the same pairs as P@k
    assert unfiltered["metrics"]["micro_f1@0.5"] != pytest.approx(filtered["metrics"]["micro_f1@0.5"])


def test_the_peers_leave_out_the_same_pairs():
    import scipy.sparse as sp

    from hf_xmc.baselines import evaluate_peers
    from hf_xmc.data import LabelVocabulary
    from hf_xmc.metrics import compute_xmc_metrics

    texts = [f"{word} {word} filler {i}" for i in range(30) for word in ("alpha", "beta", "gamma")]
    labels = [[0] if "alpha" in t else [1] if "beta" in t else [2, 0] for t in texts]
    vocabulary = LabelVocabulary(["a", "b", "c"], counts=[60, 30, 30], num_train_docs=90)
    tests, references = ["gamma gamma", "alpha", "beta"], [[2, 0], [0], [1]]
    exclude = sp.csr_matrix(([1.0, 1.0], ([0, 1], [2, 0])), shape=(3, 3))  # the best label of the first two
    peers = evaluate_peers(texts, labels, tests, references, vocabulary, k=5, algorithms=("napkinxc-plt",),
                           exclude=exclude, print_fn=lambda line: None)  # fmt: skip
    peer = peers["napkinXC PLT (TF-IDF)"]
    expected = compute_xmc_metrics(peer["top_k"][0], references, num_labels=3, exclude=exclude)
    unfiltered = compute_xmc_metrics(peer["top_k"][0], references, num_labels=3)
    assert peer["metrics"]["P@1"] == pytest.approx(expected["P@1"]) != pytest.approx(unfiltered["P@1"])
