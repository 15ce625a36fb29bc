"""Model cards: one template per method in `model_cards/`, filled by `build_model_card` / `ModelCardCallback`.

Specification: every template renders to a card whose YAML metadata parses and carries the metrics as `model-index`
eval results named by the `xmc_metrics` keys (`P@1`, ...); the prose names the paper and has the sections a reader
needs; the Trainer callback writes the card into the output folder at the end of training and refreshes it with the
metrics of a later `trainer.evaluate(...)`.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shlex
import subprocess
import sys
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
    "ranker": "NGAME: Negative Mining-aware Mini-batching for Extreme Classification",
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


# ------------------------------------------------------------------------------------ the card describes its run
pytest_plugins = ["hub_fixtures"]


def _code_block(text: str, language: str, after: str = "") -> str:
    """The first fenced `language` block of `text` after the line containing `after`."""
    start = text.index(f"```{language}\n", text.index(after)) + len(language) + 4
    return text[start : text.index("```", start)]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One short recipe run on a tiny LF set (48 train / 16 test docs), with training and evaluation subsets."""
    from hf_xmc.training.aplc_recipe import build_aplc_parser, run_aplc_recipe

    root = tmp_path_factory.mktemp("card_run")
    data = write_tiny_lf_dataset(root / "data")
    encoder = save_tiny_bert(root / "bert")
    argv = ["--dataset_name_or_path", str(data), "--model_name_or_path", str(encoder), "--output_dir",
            str(root / "run"), "--max_train_samples", "24", "--max_eval_samples", "10", "--max_steps", "2",
            "--per_device_train_batch_size", "8", "--save_strategy", "no", "--use_cpu", "--report_to", "none",
            "--max_length", "32", "--hub_token", "hf_secret_value"]  # fmt: skip
    arguments = build_aplc_parser().parse_args_into_dataclasses(argv)
    result = run_aplc_recipe(*arguments)  # the recipe's own card callback
    return root / "run", arguments, result


def test_the_card_reports_the_architecture_data_and_command_of_its_run(tiny_run):
    from hf_xmc.training.aplc_recipe import build_aplc_parser

    output_dir, arguments, result = tiny_run
    card = ModelCard.load(output_dir / "README.md")
    # a MiniLM/BERT encoder with an APLC head is not "APLC-XLNet"
    assert card.text.splitlines()[1].endswith(": APLC for extreme multi-label text classification")
    assert "APLC-XLNet**" not in card.text and "**Architecture:** `EncoderWithAPLC`" in card.text
    assert "bert" in card.data.tags and "xlnet" not in card.data.tags
    # the numbers of the run: 24 of the train split's 48 documents, 10 of the 16 test documents
    held_out = result["decision"]["num_validation_docs"]
    assert result["num_train_examples"] == 24 and result["num_eval_examples"] == 10
    assert (
        "24 training documents, a random subset of the 48 in the data set's train split; "
        f"{held_out} other training documents were held out to tune decision thresholds" in card.text
    )
    assert "10 documents of the test split (a random subset of its 16 documents" in card.text
    saved = json.loads((output_dir / "xmc_metrics.json").read_text())
    assert saved["num_examples"] == 10
    reported = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert reported["P@1"] == pytest.approx(saved["P@1"], abs=1e-6)
    # the command line names the command and reproduces the run's settings (the token is left out)
    command = _code_block(card.text, "bash", "Trained with hf-xmc").strip()
    words = shlex.split(command)
    assert words[:3] == ["hf-xmc", "train", "aplc"] and "hf_secret_value" not in command
    reparsed = build_aplc_parser().parse_args_into_dataclasses(words[3:])
    for given, parsed in zip(arguments, reparsed):
        for name in (f.name for f in dataclasses.fields(given) if f.init and "token" not in f.name):
            assert getattr(parsed, name) == getattr(given, name), name


def test_the_without_hf_xmc_snippet_runs_on_the_local_output_folder(tiny_run):
    output_dir, _, _ = tiny_run
    card = ModelCard.load(output_dir / "README.md")
    snippet = _code_block(card.text, "python", "Without hf-xmc installed")
    assert f'model_path = "{output_dir}"' in snippet
    labels = json.loads((output_dir / "label_vocabulary.json").read_text())["labels"]
    completed = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    printed = ast.literal_eval(completed.stdout.strip().splitlines()[-1])
    assert len(printed) == 5 and set(printed) <= set(labels)


def test_a_push_renders_the_card_for_the_repo_id(tiny_run, fake_hub, unique_repo_id):
    from huggingface_hub import hf_hub_download

    from hf_xmc.hub import push_xmc_model

    output_dir, _, _ = tiny_run
    local_before = (output_dir / "README.md").read_text()
    push_xmc_model(output_dir, unique_repo_id)
    pushed = ModelCard.load(hf_hub_download(unique_repo_id, "README.md"))
    assert pushed.data.model_name == unique_repo_id and pushed.text.splitlines()[1].startswith(f"# {unique_repo_id}:")
    snippet = _code_block(pushed.text, "python", "Without hf-xmc installed")
    assert f'model_path = "{unique_repo_id}"' in snippet and str(output_dir) not in snippet
    assert f'load_xmc_model("{unique_repo_id}")' in _code_block(pushed.text, "python", "## Intended use")
    local = ModelCard.load(output_dir / "README.md")
    assert {r.metric_type: r.metric_value for r in pushed.data.eval_results} == {
        r.metric_type: r.metric_value for r in local.data.eval_results
    }  # the same run, only the name changed
    assert (output_dir / "README.md").read_text() == local_before  # the local folder is left as it was
    completed = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]  # the snippet loads from the Hub repo too


def test_the_command_names_the_example_script_when_that_ran(monkeypatch):
    from hf_xmc.hub.run_description import training_command
    from hf_xmc.training.aplc_recipe import build_aplc_parser

    arguments = build_aplc_parser().parse_args_into_dataclasses(["--max_train_samples", "500", "--hub_token", "x"])
    monkeypatch.setattr(sys, "argv", ["examples/train_aplc.py", "--max_train_samples", "500"])
    assert training_command("aplc", *arguments) == "python examples/train_aplc.py --max_train_samples 500"
