"""Model cards: one template per method in `model_cards/`, filled by `build_model_card` / `ModelCardCallback`.

Specification: every template renders to a card whose YAML metadata parses and carries the metrics as `model-index`
eval results named by the `xmc_metrics` keys (`P@1`, ...); the prose names the paper and has the sections a reader
needs; the Trainer callback writes the card into the output folder at the end of training and refreshes it with the
metrics of a later `trainer.evaluate(...)`.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import yaml
from huggingface_hub import ModelCard
from tiny_checkpoints import save_tiny_bert, write_tiny_lf_dataset

from hf_xmc.hub import METHOD_CARDS, ModelCardCallback, build_model_card
from hf_xmc.hub.model_card import clean_metrics, metrics_markdown_table, model_cards_dir

METRICS = {"P@1": 0.812, "P@3": 0.6, "P@5": 0.45, "nDCG@3": 0.7, "PSP@5_norm": 0.55, "R@100": 0.9}
PAPER_TITLES = {
    "aplc": "Adaptive Probabilistic Label Clusters for Extreme Multi-label Text Classification",
    "gudn": "GUDN: A novel guide network with label reinforcement strategy",
    "xlgen": "Cluster-Guided Label Generation in Extreme Multi-Label Classification",
    "maclr": "Extreme Zero-Shot Learning for Extreme Text Classification",
    "xda": "Taming Prompt-Based Data Augmentation for Long-Tailed Extreme Multi-Label Text Classification",
}
SECTIONS = (
    "## Model details",
    "## Intended use",
    "## Training data",
    "## Evaluation",
    "## Limitations",
    "## Citation",
)


def test_there_is_one_template_per_method():
    assert sorted(p.stem for p in model_cards_dir().glob("*.md")) == sorted(METHOD_CARDS) == sorted(PAPER_TITLES)


@pytest.mark.parametrize("method", sorted(METHOD_CARDS))
def test_card_metadata_parses_and_carries_the_metrics(method):
    card = build_model_card(
        method, "fake-user/tiny", metrics=METRICS, dataset_name="debtags", dataset_id="fake-user/debtags",
        base_model="some/base", num_labels=598, num_train_docs=21229, hyperparameters={"seed": 42},
    )  # fmt: skip
    text = str(card)
    metadata = yaml.safe_load(text.split("---")[1])  # the raw YAML block, as the Hub reads it
    results = metadata["model-index"][0]["results"][0]
    assert {m["type"]: m["value"] for m in results["metrics"]} == METRICS
    assert results["dataset"] == {"name": "debtags", "type": "fake-user/debtags", "split": "test"}
    assert metadata["datasets"] == ["fake-user/debtags"] and metadata["base_model"] == "some/base"
    assert metadata["pipeline_tag"] == METHOD_CARDS[method].pipeline_tag and method in metadata["tags"]

    reparsed = ModelCard(text)  # huggingface_hub's own parser agrees
    assert {r.metric_type: r.metric_value for r in reparsed.data.eval_results} == METRICS
    assert all(r.dataset_split == "test" for r in reparsed.data.eval_results)
    for section in SECTIONS:
        assert section in reparsed.text, section
    assert PAPER_TITLES[method] in reparsed.text and ("@inproceedings" in text or "@misc" in text)
    assert "598" in reparsed.text and "{{" not in text  # filled: no template variable left over
    assert "| P | 0.8120 | 0.6000 | 0.4500 |" in reparsed.text  # one row per metric family, one column per k


@pytest.mark.parametrize("method", sorted(METHOD_CARDS))
def test_card_without_metrics_says_so(method):
    card = build_model_card(method, "fake-user/tiny")
    assert card.data.eval_results is None and "No evaluation results were recorded" in card.text
    assert "{{" not in str(card)


def test_unknown_method_and_metrics_without_data_set_are_errors():
    with pytest.raises(ValueError, match=r"no model card template for method 'bonsai'.*'aplc'"):
        build_model_card("bonsai", "x")
    with pytest.raises(ValueError, match="metrics given without dataset_name"):
        build_model_card("aplc", "x", metrics={"P@1": 0.5})
    with pytest.raises(ValueError, match="no model card template"):
        ModelCardCallback("bonsai", dataset_name="d")  # fails before training, not after it


def test_trainer_prefixes_and_bookkeeping_are_not_metrics():
    raw = {"eval_P@1": 0.5, "test_nDCG@3": 0.25, "eval_loss": 1.0, "eval_runtime": 2.0, "epoch": 1.0, "tag": "x"}
    assert clean_metrics(raw) == {"P@1": 0.5, "nDCG@3": 0.25}
    table = metrics_markdown_table({"P@1": 0.5, "P@3": 0.25, "nDCG@3": 0.4, "MAP": 0.3})
    assert "| Metric | @1 | @3 |" in table and "| nDCG |  | 0.4000 |" in table and "| MAP | 0.3 |" in table


def test_callback_writes_only_on_the_main_process(tmp_path):
    callback = ModelCardCallback("aplc", dataset_name="tiny")
    args = SimpleNamespace(output_dir=str(tmp_path), hub_model_id=None, seed=1, world_size=2)
    callback.on_train_end(args, SimpleNamespace(is_world_process_zero=False, global_step=3), None)
    assert not (tmp_path / "README.md").exists()
    callback.on_train_end(args, SimpleNamespace(is_world_process_zero=True, global_step=3), None)
    assert ModelCard.load(tmp_path / "README.md").data.model_name == tmp_path.name


def test_callback_fills_the_card_at_the_end_of_a_real_training_run(tmp_path):
    from hf_xmc.training.aplc_recipe import build_aplc_parser, run_aplc_recipe

    data = write_tiny_lf_dataset(tmp_path / "data")
    encoder = save_tiny_bert(tmp_path / "bert")
    output_dir = tmp_path / "run"
    data_args, model_args, training_args = build_aplc_parser().parse_args_into_dataclasses(
        ["--dataset_name_or_path", str(data), "--model_name_or_path", str(encoder), "--output_dir", str(output_dir),
         "--max_steps", "3", "--per_device_train_batch_size", "8", "--save_strategy", "no", "--use_cpu",
         "--report_to", "none", "--max_length", "32", "--disable_tqdm", "true"]
    )  # fmt: skip
    callback = ModelCardCallback("aplc", dataset_name="tiny-lf", model_name="fake-user/tiny-aplc")
    result = run_aplc_recipe(data_args, model_args, training_args, callbacks=[callback])

    card = ModelCard.load(output_dir / "README.md")
    reported = {r.metric_type: r.metric_value for r in card.data.eval_results}
    # the recipe's final `trainer.evaluate(metric_key_prefix="test")` (after training) is what the card reports
    expected = json.loads((output_dir / "xmc_metrics.json").read_text())
    for name in ("P@1", "P@3", "nDCG@5", "PSP@5_norm"):
        assert reported[name] == pytest.approx(expected[name], abs=1e-6) == pytest.approx(result["metrics"][name])
    assert "loss" not in reported and card.data.model_name == "fake-user/tiny-aplc"
    assert "| num_labels | 8 |" in card.text and "| seed | 42 |" in card.text and "| global_steps | 3 |" in card.text
