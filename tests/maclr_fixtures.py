"""Tiny MACLR encoders and texts for the `test_maclr*` modules (no download: a random 2-layer BERT, hidden 32)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from tiny_checkpoints import TINY_WORDS, save_tiny_bert

# (context, title) pairs over the tiny word list
PAIRS = [
    ("python library for graph data", "python graph"),
    ("web server software for the network", "web server"),
    ("sound editor and video tool", "sound video"),
    ("math science data file", "math science"),
    ("game with image and sound", "game image"),
    ("user interface library for python", "user interface"),
]


@functools.cache
def _tiny_bert_folder() -> str:
    return str(save_tiny_bert(Path(tempfile.mkdtemp(prefix="maclr_tiny_bert_"))))


@functools.cache
def _tiny_pad_bert_folder() -> str:
    """A tiny BERT whose tokenizer's [PAD] is id 4 (not 0), so a hard-coded `input_ids != 0` mask would be wrong."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = Path(tempfile.mkdtemp(prefix="maclr_tiny_pad_bert_"))
    specials = ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "[PAD]"]
    vocab = {token: index for index, token in enumerate(specials + list(TINY_WORDS))}
    tokenizer = BertTokenizer(vocab=vocab, model_max_length=48)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def tiny_encoder(projection_dim: int = 16, seed: int = 0):
    """A fresh tiny sentence encoder: BERT [CLS] -> Dense(tanh), the paper's architecture at toy size."""
    import torch

    from hf_xmc.maclr.encoder import load_encoder

    torch.manual_seed(seed)
    return load_encoder(_tiny_bert_folder(), projection_dim=projection_dim, device="cpu")


def tiny_pad_encoder():
    import torch

    from hf_xmc.maclr.encoder import load_encoder

    torch.manual_seed(0)
    return load_encoder(_tiny_pad_bert_folder(), pooling="mean", projection_dim=8, device="cpu")
