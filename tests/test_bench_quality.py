"""`benchmarks/bench_quality.py` and its README table (`benchmarks/report.py`) as a benchmark author meets them:
ablation rows (`--methods METHOD:ROW`) with their own flags, side by side in one JSON and in the report.

The recipe's training is replaced by a stand-in that records the flags it was given (the recipe itself is tested in
test_recipe.py), so the file runs in seconds.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from tiny_checkpoints import write_tiny_lf_dataset

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name: str):
    if str(BENCHMARKS) not in sys.path:  # the scripts import their shared helper (provenance.py) as run from there
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_script("bench_quality")


def test_rows_get_the_methods_flags_then_their_own(bench):
    runs = bench.plan_runs(
        "gudn, gudn:plain BERT,aplc",
        ["gudn=--seed 1", "gudn:plain BERT=--feature_loss_weight 0 --link_loss_weight 0", "aplc=--max_length 32"],
    )
    assert [(run.key, run.method, run.row) for run in runs] == [
        ("gudn", "gudn", None), ("gudn:plain BERT", "gudn", "plain BERT"), ("aplc", "aplc", None),
    ]  # fmt: skip
    assert runs[0].flags == ("--seed", "1")
    assert runs[1].flags == ("--seed", "1", "--feature_loss_weight", "0", "--link_loss_weight", "0")
    assert runs[2].flags == ("--max_length", "32")


@pytest.mark.parametrize(
    "methods, flags, message",
    [
        ("gudn", ["gudn:plain=--link_loss_weight 0"], "--method_flags for 'gudn:plain', which --methods does not run"),
        ("gudn,gudn", [], "names the row 'gudn' twice"),
        ("gudn:", [], "METHOD or METHOD:ROW entries, got 'gudn:'"),
        ("gudn", ["gudn --seed 1"], "METHOD=FLAGS or METHOD:ROW=FLAGS"),
    ],
)
def test_a_mistyped_row_or_flag_is_refused_before_anything_runs(bench, methods, flags, message):
    with pytest.raises(SystemExit, match=message):
        bench.plan_runs(methods, flags)


def test_ablation_rows_coexist_in_one_file_and_in_the_report(bench, tmp_path, monkeypatch):
    from hf_xmc.training.gudn_recipe import GUDN_RECIPE

    data = write_tiny_lf_dataset(tmp_path / "data", num_train=40, num_test=12)
    given = {}

    def stand_in(data_args, model_args, training_args, callbacks=None):
        weights = (model_args.feature_loss_weight, model_args.link_loss_weight)
        given[Path(training_args.output_dir).name.split("_")[1]] = weights
        return {
            "metrics": {"P@1": 0.5 + 0.1 * sum(weights)},
            "global_step": 4, "num_train_examples": 40, "train_metrics": {"train_runtime": 2.0},
            "eval_docs_per_second": 50.0, "excluded_filter_pairs": 0,
        }  # fmt: skip

    monkeypatch.setattr(GUDN_RECIPE, "run", stand_in)
    output = tmp_path / "quality.json"

    def bench_main(*argv):
        common = ["--dataset", str(data), "--minutes", "1", "--skip_peers", "--output", str(output)]
        monkeypatch.setattr(sys, "argv", ["bench_quality.py", *common, *argv])
        bench.main()

    bench_main(
        "--methods", "gudn,gudn:plain BERT",
        "--method_flags", "gudn:plain BERT=--feature_loss_weight 0 --link_loss_weight 0",
    )  # fmt: skip
    bench_main("--methods", "gudn:+link guide", "--method_flags", "gudn:+link guide=--feature_loss_weight 0")
    # each row trained with its own flags, none replaced the other
    assert given["gudn"][0] > 0 and given["gudn"][1] > 0
    assert given["gudn-plain-BERT"] == (0.0, 0.0) and given["gudn-link-guide"][0] == 0.0
    rows = json.loads(output.read_text())["rows"]
    assert set(rows) == {"gudn", "gudn:plain BERT", "gudn:+link guide"}
    assert rows["gudn:plain BERT"]["metrics"]["P@1"] == pytest.approx(0.5)
    assert rows["gudn:plain BERT"]["row"] == "plain BERT" and rows["gudn"]["row"] is None

    # the report: the method's row in the main table, the ablations in their own, with their flags
    report = load_script("report")
    lines = report.quality_section(json.loads(output.read_text()))
    ablations = lines.index(next(line for line in lines if line.startswith("Ablations")))
    main_table = [line for line in lines[:ablations] if line.startswith("| gudn")]
    assert len(main_table) == 1 and main_table[0].startswith("| gudn (all-MiniLM-L6-v2)")
    plain = next(line for line in lines[ablations:] if line.startswith("| gudn, plain BERT"))
    assert "`--feature_loss_weight 0 --link_loss_weight 0`" in plain and "| 50.00 |" in plain
    assert any(line.startswith("| gudn, +link guide") for line in lines[ablations:])
