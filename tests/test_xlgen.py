"""XLGen's model (`T5ForClusterGuidedLabelGeneration`, base / BCL / MCG), its config, collator, special tokens and
Auto-class / remote-code round trips."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer
from xlgen_fixtures import NUM_CLUSTERS, debtags, tiny_t5_folder, tiny_xlgen, train_examples

from hf_xmc.data import XMCInputError
from hf_xmc.generation import IGNORE_INDEX, XLGenDataCollator, XLGenTokens, document_clusters
from hf_xmc.generation.collator import pad_rows
from hf_xmc.models.cg_t5 import ClusterGuidedT5Config, T5ForClusterGuidedLabelGeneration


def collated(variant: str, count: int = 4, **config_kwargs):
    model, tokenizer, tokens, codec, label_clusters = tiny_xlgen(variant, **config_kwargs)
    examples = train_examples(count)
    features = [
        {"input_ids": ids, "labels": example["labels"]}
        for ids, example in zip(tokens.encode_texts(tokenizer, [e["text"] for e in examples], 48), examples)
    ]
    collator = XLGenDataCollator(
        tokens, codec, variant, None if variant == "base" else label_clusters,
        condition_on_clusters=bool(model.config.condition_on_clusters),
    )  # fmt: skip
    return model, tokenizer, tokens, label_clusters, examples, collator(features)


# ------------------------------------------------------------------------------------------------- config
def test_a_tiny_config_builds_from_t5_size_fields_alone():
    config = ClusterGuidedT5Config(vocab_size=64, d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2)
    assert (config.variant, config.num_clusters, config.condition_on_clusters) == ("base", 30, False)
    assert ClusterGuidedT5Config(variant="mcg").condition_on_clusters is True
    model = T5ForClusterGuidedLabelGeneration(config)
    assert model.cluster_head is None and model.accepts_loss_kwargs is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "xl"}, "variant"),
        ({"variant": "mcg", "condition_on_clusters": False}, "condition_on_clusters"),
        ({"variant": "base", "condition_on_clusters": True}, "condition_on_clusters"),
        ({"num_clusters": 3, "cluster_token_ids": [1, 2]}, "cluster_token_ids"),
        ({"cluster_threshold": 1.5}, "cluster_threshold"),
    ],
)
def test_bad_config_values_name_the_field(kwargs, message):
    # huggingface_hub's strict dataclasses wrap the ValueError (StrictDataclassClassValidationError), message kept
    with pytest.raises(Exception, match=message):
        ClusterGuidedT5Config(**kwargs)


# ----------------------------------------------------------------------------------------------- collator
def test_targets_are_masked_with_minus_100_and_end_with_one_eos():
    _, tokenizer, _, _, examples, batch = collated("base")
    labels = debtags().vocabulary.labels
    for row, example in zip(batch["labels"], examples):
        real = row[row != IGNORE_INDEX].tolist()
        assert real.count(tokenizer.eos_token_id) == 1 and real[-1] == tokenizer.eos_token_id
        assert (row[len(real) :] == IGNORE_INDEX).all()
        # most frequent label first (vocabulary ids are frequency ranks)
        assert tokenizer.decode(real, skip_special_tokens=True).split(" ; ") == [
            labels[i] for i in sorted(example["labels"])
        ]
    assert batch["input_ids"][:, 0].eq(XLGenTokens.from_tokenizer(tokenizer).label_task_token_id).all()


def test_bcl_batches_carry_multi_hot_clusters_and_a_text_only_mask():
    _, _, tokens, label_clusters, examples, batch = collated("bcl", condition_on_clusters=True)
    for row, example in zip(batch["cluster_targets"], examples):
        assert set(np.nonzero(row.numpy())[0]) == set(label_clusters[example["labels"]].tolist())
    cluster_positions = torch.isin(batch["input_ids"], torch.tensor(tokens.cluster_token_ids))
    assert cluster_positions.any()  # gold clusters appended (the reference code's conditioning)
    assert not batch["text_attention_mask"][cluster_positions].any()


def test_mcg_batches_hold_a_label_and_a_cluster_example_per_document():
    _, _, tokens, label_clusters, examples, batch = collated("mcg")
    assert batch["task_ids"].tolist() == [0, 1] * len(examples)
    assert batch["input_ids"][1::2, 0].eq(tokens.cluster_task_token_id).all()
    first_clusters = document_clusters(examples[0]["labels"], label_clusters)
    target = batch["labels"][1][batch["labels"][1] != IGNORE_INDEX].tolist()
    assert target == [tokens.cluster_token_ids[c] for c in first_clusters] + [tokens.eos_token_id]


# -------------------------------------------------------------------------------------------------- model
def test_losses_combine_as_eq_1():
    model, *_, batch = collated("bcl", condition_on_clusters=False)
    model.cluster_loss_weight = 0.25
    output = model(**batch)
    assert output.cluster_logits.shape == (4, NUM_CLUSTERS)
    assert output.loss.item() == pytest.approx(output.generation_loss.item() + 0.25 * output.cluster_loss.item())
    model, *_, batch = collated("mcg")
    output = model(**batch)
    assert output.generation_loss is not None and output.cluster_loss is not None  # the two tasks apart
    only_labels = model(**{key: value[::2] for key, value in batch.items()})
    assert only_labels.cluster_loss is None
    assert only_labels.generation_loss.item() == pytest.approx(output.generation_loss.item(), rel=1e-5)


def test_the_bcl_cluster_layer_cannot_see_the_appended_gold_clusters():
    model, tokenizer, tokens, *_ = tiny_xlgen("bcl", condition_on_clusters=True)
    text_ids = torch.tensor([tokens.encode_texts(tokenizer, ["a GTK image viewer"], 32)[0]])
    with_clusters = torch.tensor([tokens.with_clusters(text_ids[0].tolist(), [2, 0])])
    text_mask = torch.ones_like(with_clusters)
    text_mask[0, -3:-1] = 0
    decoder = torch.zeros((1, 1), dtype=torch.long)
    with torch.no_grad():
        plain = model(input_ids=text_ids, decoder_input_ids=decoder).cluster_logits
        guarded = model(input_ids=with_clusters, text_attention_mask=text_mask, decoder_input_ids=decoder)
    assert torch.allclose(plain, guarded.cluster_logits, atol=1e-5)


def test_training_steps_lower_the_loss():
    model, *_, batch = collated("mcg", count=8)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_mcg_generate_predicts_clusters_then_labels_in_one_call():
    model, tokenizer, tokens, *_ = tiny_xlgen("mcg")
    input_ids = pad_rows(tokens.encode_texts(tokenizer, ["a GTK image viewer", "a perl library"], 32), 0)
    clusters = model.predict_clusters(input_ids, (input_ids != 0).long())
    assert all(1 <= len(row) == len(set(row)) and all(0 <= c < NUM_CLUSTERS for c in row) for row in clusters)
    settings = {"do_sample": False, "num_beams": 2, "max_new_tokens": 6, "attention_mask": (input_ids != 0).long()}
    assert torch.equal(
        model.generate(input_ids, **settings), model.generate(input_ids, cluster_ids=clusters, **settings)
    )
    oracle = model.generate(input_ids, cluster_ids=[[0], [1, 2]], **settings)
    assert oracle.shape[0] == 2


def test_bcl_predicts_clusters_above_the_threshold_and_at_least_one():
    model, tokenizer, tokens, *_ = tiny_xlgen("bcl", condition_on_clusters=True, cluster_threshold=0.999)
    input_ids = torch.tensor(tokens.encode_texts(tokenizer, ["a GTK image viewer"], 32))
    assert len(model.predict_clusters(input_ids)[0]) == 1
    assert model.generate(input_ids, max_new_tokens=4).shape[0] == 1


def test_misuse_gets_a_clear_error():
    base, tokenizer, tokens, *_ = tiny_xlgen("base")
    input_ids = torch.tensor(tokens.encode_texts(tokenizer, ["a text"], 16))
    with pytest.raises(ValueError, match="base"):
        base.predict_clusters(input_ids)
    with pytest.raises(ValueError, match="does not read clusters"):
        base.generate(input_ids, cluster_ids=[[0]])
    with pytest.raises(ValueError, match="MultiLabel"):
        base.generate(input_ids[:, 1:], max_new_tokens=2)
    mcg, *_ = tiny_xlgen("mcg")
    plain_tokenizer = AutoTokenizer.from_pretrained(tiny_t5_folder())
    with pytest.raises(XMCInputError, match="lacks XLGen's special tokens"):
        XLGenTokens.for_model(plain_tokenizer, mcg.config)
    with pytest.raises(ValueError, match="outside"):
        mcg.append_clusters(input_ids, None, [[NUM_CLUSTERS]])
    mcg_tokenizer = tiny_xlgen("mcg")[1]
    mcg_ids = torch.tensor(XLGenTokens.for_model(mcg_tokenizer, mcg.config).encode_texts(mcg_tokenizer, ["a"], 16))
    with pytest.raises(ValueError, match="base inference"):
        mcg.generate(mcg_ids, cluster_ids=[[]], max_new_tokens=2)


# ------------------------------------------------------------------------------------------- round trips
def test_save_and_auto_classes_reload_identical_outputs(tmp_path):
    model, tokenizer, tokens, *_ = tiny_xlgen("mcg")
    model.save_pretrained(tmp_path)
    input_ids = torch.tensor(tokens.encode_texts(tokenizer, ["a GTK image viewer"], 32))
    for auto_class in (AutoModelForSeq2SeqLM, AutoModel):
        reloaded = auto_class.from_pretrained(tmp_path).eval()
        assert type(reloaded) is T5ForClusterGuidedLabelGeneration and reloaded.config.variant == "mcg"
        assert torch.equal(model.generate(input_ids, max_new_tokens=5), reloaded.generate(input_ids, max_new_tokens=5))


REMOTE_SCRIPT = """
import sys, torch
from transformers import AutoModelForSeq2SeqLM
model = AutoModelForSeq2SeqLM.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
input_ids = torch.load(sys.argv[2])
print(type(model).__module__, model.config.variant)
print(model.generate(input_ids, max_new_tokens=5).tolist())
assert "hf_xmc" not in sys.modules, "hf_xmc was imported"
"""


def test_remote_code_loads_without_hf_xmc(tmp_path):
    from hf_xmc.models import register_auto_classes

    register_auto_classes()  # `save_pretrained` copies the code of registered classes
    model, tokenizer, tokens, *_ = tiny_xlgen("bcl", condition_on_clusters=True)
    model.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "modeling_cg_t5.py").is_file()
    input_ids = torch.tensor(tokens.encode_texts(tokenizer, ["a GTK image viewer"], 32))
    torch.save(input_ids, tmp_path / "ids.pt")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(tmp_path / "model"), str(tmp_path / "ids.pt")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    module, variant = result.stdout.splitlines()[0].split()
    assert module.startswith("transformers_modules") and variant == "bcl"
    assert result.stdout.splitlines()[1] == str(model.generate(input_ids, max_new_tokens=5).tolist())
