"""Tiny, fast building blocks for the XLGen / generation / pre-training tests.

A Unigram tokenizer trained on 300 debtags texts and the 598 label strings (a few seconds), and a tiny random T5
(d_model 32, 2 layers) saved as an ordinary T5 folder, built once per test session.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

from hf_xmc.data import load_xmc_dataset
from hf_xmc.generation import LabelCodec, XLGenTokens
from hf_xmc.models.cg_t5 import T5ForClusterGuidedLabelGeneration
from hf_xmc.t5_pretraining import train_t5_tokenizer

NUM_TEXTS = 300
NUM_CLUSTERS = 4


@functools.lru_cache(maxsize=1)
def debtags():
    return load_xmc_dataset("debtags")


@functools.lru_cache(maxsize=1)
def tiny_t5_folder() -> Path:
    """A tiny T5 checkpoint folder (random weights) with a tokenizer trained on debtags texts and labels."""
    xmc = debtags()
    tokenizer = train_t5_tokenizer(xmc.splits["train"]["text"][:NUM_TEXTS], xmc.vocabulary.labels, vocab_size=300)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2, dropout_rate=0.0,
        decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="hf_xmc_tiny_t5_"))
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_xlgen(variant: str = "base", seed: int = 0, **config_kwargs):
    """`(model, tokenizer, tokens, codec, label_clusters)` for a tiny XLGen model of `variant`."""
    import torch

    torch.manual_seed(seed)
    folder = tiny_t5_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    vocabulary = debtags().vocabulary
    model = T5ForClusterGuidedLabelGeneration.from_t5_pretrained(
        folder, variant=variant, num_clusters=NUM_CLUSTERS, num_labels=len(vocabulary), **config_kwargs
    )
    tokens = XLGenTokens.add_to(tokenizer, model, NUM_CLUSTERS if variant != "base" else 0)
    codec = LabelCodec(tokenizer, vocabulary.labels)
    label_clusters = np.arange(len(vocabulary)) % NUM_CLUSTERS
    return model.eval(), tokenizer, tokens, codec, label_clusters


def train_examples(count: int = 16, offset: int = 0) -> list[dict]:
    split = debtags().splits["train"].select(range(offset, offset + count))
    return [{"text": text, "labels": list(labels)} for text, labels in zip(split["text"], split["labels"])]
