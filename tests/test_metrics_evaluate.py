"""The `xmc_metrics` evaluate module (`metrics/xmc_metrics/`), `hf_xmc.load_metric()` and the Space app."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import hf_xmc
from hf_xmc.metrics import METRIC_MODULE_DIR, compute_xmc_metrics, load_metric

REPO_ROOT = Path(__file__).resolve().parents[1]
MODULE_FOLDER = REPO_ROOT / "metrics" / "xmc_metrics"
PREDICTIONS = [[3, 1, 7], [0, 2, 5], [], [4, 0]]
REFERENCES = [[1, 2], [0], [3], []]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    import evaluate.config

    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)


def test_repository_module_is_a_symlink_to_the_packaged_file():
    link = MODULE_FOLDER / "xmc_metrics.py"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.resolve() == (METRIC_MODULE_DIR / "xmc_metrics.py").resolve()


def test_bare_name_loads_from_the_folder_holding_it(monkeypatch):
    import evaluate

    monkeypatch.chdir(REPO_ROOT / "metrics")
    metric = evaluate.load("xmc_metrics")
    assert metric.name == "xmc_metrics"
    assert metric.compute(predictions=PREDICTIONS, references=REFERENCES, k=[1, 3]) == pytest.approx(
        compute_xmc_metrics(PREDICTIONS, REFERENCES, k=[1, 3])
    )


def test_path_loads_and_load_metric_works_from_anywhere(monkeypatch, tmp_path):
    import evaluate

    monkeypatch.chdir(REPO_ROOT)
    by_relative_path = evaluate.load("metrics/xmc_metrics")
    monkeypatch.chdir(tmp_path)
    by_absolute_path = evaluate.load(str(MODULE_FOLDER))
    loaders = [by_relative_path, by_absolute_path, load_metric()]
    if hasattr(hf_xmc, "load_metric"):
        loaders.append(hf_xmc.load_metric())
    expected = compute_xmc_metrics(PREDICTIONS, REFERENCES, k=[1, 2])
    for metric in loaders:
        assert metric.compute(predictions=PREDICTIONS, references=REFERENCES, k=[1, 2]) == pytest.approx(expected)


def test_docstring_example_and_default_k():
    results = load_metric().compute(predictions=[[3, 1, 7], [0, 2, 5]], references=[[1, 2], [0]], k=[1, 3])
    assert {name: round(value, 4) for name, value in results.items()} == {
        "P@1": 0.5, "P@3": 0.3333, "nDCG@1": 0.5, "nDCG@3": 0.6934, "R@1": 0.5, "R@3": 0.75,
        "coverage@1": 0.3333, "coverage@3": 0.6667,
    }  # fmt: skip
    default = load_metric().compute(predictions=PREDICTIONS, references=REFERENCES)
    assert [name for name in default if name.startswith("P@")] == ["P@1", "P@3", "P@5"]


def test_add_batch_then_compute_equals_one_compute():
    rng = np.random.default_rng(0)
    predictions = [rng.choice(60, size=rng.integers(0, 12), replace=False).tolist() for _ in range(50)]
    references = [rng.choice(50, size=rng.integers(0, 4), replace=False).tolist() for _ in range(50)]
    options = dict(k=[1, 3, 5], label_counts=rng.integers(0, 40, 50), num_train_docs=200, propensity="wiki")
    metric = load_metric()
    whole = metric.compute(predictions=predictions, references=references, **options)
    for start in range(0, 50, 16):
        metric.add_batch(predictions=predictions[start : start + 16], references=references[start : start + 16])
    assert metric.compute(**options) == pytest.approx(whole, abs=1e-12)
    for prediction, reference in zip(predictions, references):
        metric.add(prediction=prediction, reference=reference)
    assert metric.compute(**options) == pytest.approx(whole, abs=1e-12)
    assert whole == pytest.approx(compute_xmc_metrics(predictions, references, **options), abs=1e-12)
    assert "PSP@5_norm" in whole


def test_set_average_and_label_strings():
    metric = load_metric("labels")
    results = metric.compute(
        predictions=[["sports", "made-up"]],
        references=[["sports", "news"]],
        label_names=["sports", "news", "tech"],
        average="set",
        k=[1],
    )
    assert results["micro_precision"] == 0.5 and results["micro_recall"] == 0.5
    assert results["F1@1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="not in label_names"):
        metric.compute(predictions=[["sports"]], references=[["weather"]], label_names=["sports"])
    with pytest.raises(ValueError, match="pass label_names"):
        metric.compute(predictions=[["sports"]], references=[["sports"]])
    with pytest.raises(ValueError, match="unknown configuration 'nope'"):
        load_metric("nope")


def test_first_document_without_labels_keeps_the_id_format():
    metric = load_metric()
    metric.add_batch(predictions=[[]], references=[[]])
    metric.add_batch(predictions=[[3, 1, 7], [0, 2, 5]], references=[[1, 2], [0]])
    expected = compute_xmc_metrics([[], [3, 1, 7], [0, 2, 5]], [[], [1, 2], [0]], k=[1, 3])
    assert metric.compute(k=[1, 3]) == pytest.approx(expected)
    assert metric.compute(predictions=[[], [4]], references=[[], [4]], k=1, average="set")["micro_f1"] == 1.0


def test_scores_configuration_takes_dense_score_rows():
    scores = [[0.1, 0.5, 0.2], [0.9, 0.1, 0.0]]
    results = load_metric("scores").compute(predictions=scores, references=[[1, 2], [0]], k=[1, 3])
    assert results == pytest.approx(compute_xmc_metrics(np.array(scores), [[1, 2], [0]], k=[1, 3]))
    assert results["P@1"] == 1.0
    with pytest.raises(ValueError, match="rows of different lengths"):
        load_metric("scores").compute(predictions=[[0.1, 0.5], [0.9]], references=[[1], [0]])


def test_bad_input_reaches_the_user_as_a_clear_error():
    metric = load_metric()
    with pytest.raises(ValueError, match="references contains label id 5"):
        metric.compute(predictions=[[0]], references=[[5]], num_labels=3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        metric.compute(predictions=[[0]], references=[[0]], k=0)


def _import_app():
    spec = importlib.util.spec_from_file_location("xmc_metrics_space_app", MODULE_FOLDER / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)  # the __main__ guard keeps it from launching
    return app


def test_space_app_function_and_card():
    import gradio as gr
    from huggingface_hub import SpaceCard

    app = _import_app()
    assert isinstance(app.demo, gr.Interface)
    table = dict(app.compute_table("3 1 7\n0 2 5", "1 2\n0", "1 3"))
    assert table["P@1"] == 0.5 and table["nDCG@3"] == pytest.approx(0.693426)
    with_ps = dict(app.compute_table("0 1", "1 2", "1", "5 1 0", 20, "amazon"))
    assert "PSP@1_norm" in with_ps
    with pytest.raises(gr.Error, match="line 1"):
        app.compute_table("a b", "1", "1")
    card = SpaceCard.load(MODULE_FOLDER / "README.md")
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert "evaluate" in card.data.tags and "metric" in card.data.tags
    assert (MODULE_FOLDER / "requirements.txt").read_text().count("hf-xmc") == 1
