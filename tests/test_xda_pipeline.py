"""The XDA pipeline end to end on tiny models: `hf-xmc augment` stages, their saved outputs with provenance, resuming,
the filter's id alignment, the frozen-encoder MDA training, and the adapter on the (loopback) Hub."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import load_from_disk
from peft import PeftModel
from tiny_checkpoints import tiny_aplc_model, tiny_bert_tokenizer
from transformers import T5ForConditionalGeneration
from xlgen_fixtures import debtags, tiny_t5_folder

from hf_xmc.cli.main import main as cli_main
from hf_xmc.hub import load_xmc_model, save_xmc_checkpoint
from hf_xmc.xda.filtering import LabelScorer, score_augmented

pytest_plugins = ["hub_fixtures"]


@functools.lru_cache(maxsize=1)
def tiny_scorer_folder() -> Path:
    """A tiny random APLC checkpoint on the debtags label space (the filter's scorer and the classifier f_0)."""
    tokenizer = tiny_bert_tokenizer()
    model = tiny_aplc_model("encoder", tokenizer, num_labels=len(debtags().vocabulary))
    return save_xmc_checkpoint(Path(tempfile.mkdtemp(prefix="hf_xmc_xda_scorer_")), model, tokenizer,
                               debtags().vocabulary)  # fmt: skip


def _common(output_dir) -> list[str]:
    return ["--output_dir", str(output_dir), "--max_train_samples", "24", "--max_eval_samples", "16",
            "--max_words", "32", "--t5_name_or_path", str(tiny_t5_folder()), "--max_source_length", "96",
            "--no-progress", "--threads", "1"]  # fmt: skip


def test_every_stage_runs_from_the_command_line_saves_its_output_and_resumes(tmp_path, capsys):
    out = tmp_path / "xda"
    scorer = str(tiny_scorer_folder())
    assert cli_main(["augment", "prompt-tune", *_common(out), "--prompt_minutes", "0.2", "--prompt_epochs", "1",
                     "--prompt_batch_size", "8", "--eval_documents", "4"]) == 0  # fmt: skip
    assert (out / "prompt" / "adapter_config.json").is_file()
    assert cli_main(["augment", "generate", *_common(out), "--num_augmentations", "2", "--max_new_tokens", "8"]) == 0
    generated = load_from_disk(str(out / "generated" / "data"))
    report = json.loads((out / "generated" / "generate.json").read_text())
    assert len(generated) == 2 * report["augmented_sources"] and report["augmented_sources"] > 0
    assert {"id", "source_id", "copy", "stage", "labels", "changed", "empty_fills"} <= set(generated.column_names)
    train = debtags().splits["train"]
    row = generated[0]
    assert row["labels"] == train[row["source_id"]]["labels"] and row["stage"] == "generate"

    assert cli_main(["augment", "filter", *_common(out), "--scorer_name_or_path", scorer]) == 0
    filtered = load_from_disk(str(out / "filtered" / "data"))
    assert {"diversity", "consistency", "score", "kept"} <= set(filtered.column_names)
    assert set(filtered["stage"]) == {"filter"} and filtered["id"] == generated["id"]
    assert sum(filtered["kept"]) == json.loads((out / "filtered" / "filter.json").read_text())["kept"] >= 1

    assert cli_main(["augment", "train", *_common(out), "--classifier_name_or_path", scorer, "--train_minutes",
                     "0.3", "--train_epochs", "2", "--train_batch_size", "8", "--max_length", "32"]) == 0  # fmt: skip
    trained = json.loads((out / "classifier" / "train.json").read_text())
    assert trained["augmented"] and trained["augmented_rows"] == sum(filtered["kept"])
    assert {"P@1", "P@5", "PSP@1", "PSP@5"} <= set(trained["metrics"])
    classifier = load_xmc_model(out / "classifier")  # an ordinary hf-xmc checkpoint, with the XDA model card
    assert "XDA" in (out / "classifier" / "README.md").read_text()
    assert classifier.vocabulary.labels == debtags().vocabulary.labels

    capsys.readouterr()
    assert cli_main(["augment", "run", *_common(out), "--scorer_name_or_path", scorer]) == 0
    printed = capsys.readouterr().out
    assert all(f"{stage} already finished" in printed for stage in ("prompt-tune", "generate", "filter", "train"))
    state = json.loads((out / "pipeline_state.json").read_text())
    assert set(state["finished"]) == {"prompt-tune", "generate", "filter", "train"}


def test_stage_errors_are_one_line_and_name_what_to_do(tmp_path, capsys):
    assert cli_main(["augment", "generate", *_common(tmp_path / "none")]) == 2
    assert "run `hf-xmc augment prompt-tune` first" in capsys.readouterr().err
    assert cli_main(["augment", "generate", *_common(tmp_path), "--num_augmentations", "0"]) == 2
    assert "N_a" in capsys.readouterr().err
    assert cli_main(["augment", "train", *_common(tmp_path), "--augmentation_loss", "soft"]) == 2
    assert "--augmentation_loss" in capsys.readouterr().err


def test_filter_scores_follow_the_source_id_not_the_row_order():
    scorer = LabelScorer(load_xmc_model(tiny_scorer_folder()))
    scorer.check_label_space(debtags().vocabulary)
    train = debtags().splits["train"]
    sources = {i: train[i]["text"] for i in range(4)}
    rows = [(i, f"{train[i]['text']} extra words {copy}", train[i]["labels"]) for i in range(4) for copy in range(2)]
    columns, _ = score_augmented(scorer, [r[1] for r in rows], [r[0] for r in rows], [r[2] for r in rows], sources,
                                 keep_fraction=0.5, progress=False)  # fmt: skip
    order = np.random.default_rng(0).permutation(len(rows))
    shuffled = [rows[i] for i in order]
    again, _ = score_augmented(scorer, [r[1] for r in shuffled], [r[0] for r in shuffled], [r[2] for r in shuffled],
                               sources, keep_fraction=0.5, progress=False)  # fmt: skip
    for name in ("diversity", "consistency", "score", "kept"):
        assert np.allclose(np.asarray(again[name], dtype=float), np.asarray(columns[name], dtype=float)[order])
    # an augmented document identical to its source agrees with it completely
    same, _ = score_augmented(scorer, [sources[0]], [0], [train[0]["labels"]], sources, progress=False)
    assert same["consistency"].tolist() == [1.0]
    with pytest.raises(ValueError, match="source ids not in the source data"):
        score_augmented(scorer, ["x"], [99], [[0]], sources, progress=False)


def test_mda_training_changes_only_the_classifier_and_lowers_the_loss():
    from hf_xmc.xda.masked_loss import build_augmentation_loss, train_classifier

    checkpoint = load_xmc_model(tiny_scorer_folder())
    model = checkpoint.model
    encoder_before = {k: v.clone() for k, v in model.base_model.state_dict().items()}
    head_before = model.aplc.head.weight.detach().clone()
    vocabulary = debtags().vocabulary
    train = debtags().splits["train"].select(range(32))
    loss = build_augmentation_loss("masked", vocabulary.counts, 50.0)
    report = train_classifier(
        model, checkpoint.tokenizer, len(vocabulary), (train["text"], train["labels"]),
        (train["text"][:16], train["labels"][:16]), loss, minutes=0.5, epochs=6, batch_size=8,
        learning_rate=1e-2, max_length=32, swa=True, swa_start=0.5, swa_every=2, progress=False,
    )  # fmt: skip
    assert report["last_loss"] < report["first_loss"] and report["swa_averaged"] >= 2
    for name, value in model.base_model.state_dict().items():
        assert torch.equal(value, encoder_before[name]), f"encoder weight {name} changed"
    assert not torch.equal(model.aplc.head.weight, head_before)


def test_the_prefix_adapter_pushes_and_loads_from_the_hub(fake_hub, unique_repo_id, tmp_path):
    from peft import get_peft_model_state_dict

    from hf_xmc.xda.prompt_tuning import add_prefix_adapter

    torch.manual_seed(0)
    model = add_prefix_adapter(T5ForConditionalGeneration.from_pretrained(tiny_t5_folder()), 4)
    model.push_to_hub(unique_repo_id)
    pulled = PeftModel.from_pretrained(T5ForConditionalGeneration.from_pretrained(tiny_t5_folder()), unique_repo_id)
    mine, theirs = get_peft_model_state_dict(model), get_peft_model_state_dict(pulled)
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
