"""`hf-xmc train xlgen`: the shared recipe with XLGen's steps (clusters, special tokens, Seq2SeqTrainer, evaluation
by generation), the saved checkpoint and `load_xmc_model(method="xlgen")`."""

from __future__ import annotations

import json

import pytest
from xlgen_fixtures import tiny_t5_folder

from hf_xmc.cli.main import main as cli_main
from hf_xmc.hub import load_xmc_model

TINY_RUN = [
    "--max_train_samples", "64", "--max_eval_samples", "16", "--decision_validation_size", "16",
    "--max_length", "48", "--num_train_epochs", "1", "--per_device_train_batch_size", "16",
    "--max_new_tokens", "16", "--num_clusters", "4", "--num_beams", "2", "--logging_steps", "2",
    "--learning_rate", "3e-3",
]  # fmt: skip


@pytest.fixture(scope="module")
def mcg_checkpoint(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("xlgen") / "mcg"
    argv = ["train", "xlgen", "--variant", "mcg", "--model_name_or_path", str(tiny_t5_folder())]
    # a random tiny T5 often generates nothing at all; the label trie guarantees a label per document
    argv += ["--constrained_decoding", "true"]
    assert cli_main([*argv, *TINY_RUN, "--output_dir", str(output_dir)]) == 0
    return output_dir


def test_the_recipe_saves_a_complete_xlgen_checkpoint(mcg_checkpoint):
    files = {path.name for path in mcg_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "label_vocabulary.json", "label_clusters.json", "README.md"} <= files
    assert {"modeling_cg_t5.py", "configuration_cg_t5.py", "xmc_metrics.json"} <= files
    assert not any(name.startswith("checkpoint-") for name in files)
    metrics = json.loads((mcg_checkpoint / "xmc_metrics.json").read_text())
    for key in ("micro_f1", "macro_f1", "macro_f1_1to5shot", "P@1", "PSP@5_norm", "valid_share", "loss"):
        assert key in metrics
    assert len(json.loads((mcg_checkpoint / "label_clusters.json").read_text())["label_clusters"]) == 598


def test_load_xmc_model_ranks_generated_labels_marked_seen_or_new(mcg_checkpoint):
    checkpoint = load_xmc_model(mcg_checkpoint, method="xlgen")
    assert checkpoint.method == "xlgen" and checkpoint.model.config.variant == "mcg"
    ranked = checkpoint.predict(["A GTK image viewer written in C", "A Perl module"], k=3)
    assert len(ranked) == 2
    for labels in ranked:
        assert len(labels) <= 3
        assert all(0 < label.score <= 1 and label.seen in (True, False) for label in labels)
        assert all((label.label_id is None) == (label.seen is False) for label in labels)
        assert [label.score for label in labels] == sorted((label.score for label in labels), reverse=True)


def test_an_mcg_checkpoint_cannot_be_continued_as_another_variant(mcg_checkpoint, capsys):
    argv = ["train", "xlgen", "--variant", "base", "--model_name_or_path", str(mcg_checkpoint)]
    assert cli_main([*argv, *TINY_RUN, "--output_dir", str(mcg_checkpoint.parent / "again")]) == 2
    assert "XLGen-mcg checkpoint" in capsys.readouterr().err


def test_an_mcg_checkpoint_continues_with_its_clusters(mcg_checkpoint, tmp_path):
    argv = ["train", "xlgen", "--variant", "mcg", "--model_name_or_path", str(mcg_checkpoint)]
    quick = ["--max_train_samples", "16", "--decision_validation_size", "0", "--constrained_decoding", "true"]
    assert cli_main([*argv, *TINY_RUN, *quick, "--output_dir", str(tmp_path / "more")]) == 0
    clusters = (tmp_path / "more" / "label_clusters.json").read_text()
    assert clusters == (mcg_checkpoint / "label_clusters.json").read_text()


def test_bcl_with_the_reference_codes_conditioning_and_annealing_trains(tmp_path):
    argv = ["train", "xlgen", "--variant", "bcl", "--model_name_or_path", str(tiny_t5_folder())]
    flags = ["--condition_on_clusters", "true", "--anneal_cluster_loss", "true", "--constrained_decoding", "true"]
    flags += ["--max_train_samples", "32", "--decision_validation_size", "0", "--num_train_epochs", "2"]
    assert cli_main([*argv, *TINY_RUN, *flags, "--output_dir", str(tmp_path / "bcl")]) == 0
    config = json.loads((tmp_path / "bcl" / "config.json").read_text())
    assert config["variant"] == "bcl" and config["condition_on_clusters"] is True
    assert config["cluster_loss_weight"] == 1.0  # annealing changes the training weight, not the saved config


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--variant", "large"], "--variant"),
        (["--label_order", "alphabet"], "--label_order"),
        (["--decoding", "nucleus"], "--decoding"),
        (["--variant", "bcl", "--num_clusters", "1000"], "--num_clusters"),
    ],
)
def test_bad_flags_name_the_flag(flags, message, tmp_path, capsys):
    argv = ["train", "xlgen", "--model_name_or_path", str(tiny_t5_folder()), "--output_dir", str(tmp_path)]
    assert cli_main([*argv, *TINY_RUN, *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_model_that_generates_nothing_gets_a_clear_error(tmp_path, capsys):
    argv = ["train", "xlgen", "--model_name_or_path", str(tiny_t5_folder()), "--output_dir", str(tmp_path)]
    assert cli_main([*argv, *TINY_RUN, "--learning_rate", "1e-9"]) == 2
    assert "generated no vocabulary label" in capsys.readouterr().err


def test_a_t5_checkpoint_is_required(tmp_path, capsys):
    assert cli_main(["train", "xlgen", "--output_dir", str(tmp_path), *TINY_RUN]) == 2
    assert "pretrain-t5" in capsys.readouterr().err


def test_the_space_shows_an_xlgen_checkpoints_labels_as_seen_or_new(mcg_checkpoint):
    import importlib.util
    import sys
    from pathlib import Path

    app_file = Path(__file__).resolve().parents[1] / "spaces" / "xmc_demo" / "app.py"
    spec = importlib.util.spec_from_file_location("xmc_demo_app_xlgen", app_file)
    app = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = app
    spec.loader.exec_module(app)
    text = "A GTK image viewer written in C"
    message, _, table = app.predict(text, 3, str(mcg_checkpoint))
    assert "xlgen" in message and "Cannot use" not in message
    # the table is the checkpoint's own ranking (a tiny random T5 may stop early: compare, don't guess a length)
    ranked = load_xmc_model(mcg_checkpoint, method="xlgen").predict([text], k=3)[0]
    assert len(table) == len(ranked) <= 3
    assert list(table["label"]) == [label.label for label in ranked]
    assert list(table["status"]) == ["seen" if label.seen else "new" for label in ranked]
