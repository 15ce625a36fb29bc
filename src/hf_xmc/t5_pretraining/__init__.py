"""A small pre-trained T5 for the generative methods (XLGen, XDA): a Unigram tokenizer trained on a data set's texts
and labels, and T5 span-corruption pre-training within a time budget, saved as an ordinary T5 folder.

The training code imports torch and transformers, so it loads on first use; `T5PretrainingArguments` does not.
"""

from __future__ import annotations

import importlib

from .arguments import T5PretrainingArguments

_LAZY = {
    "PRETRAINING_FILE": "pretrain",
    "build_small_t5": "pretrain",
    "pretrain_t5": "pretrain",
    "SpanCorruptionCollator": "span_corruption",
    "corrupt": "span_corruption",
    "input_and_target_lengths": "span_corruption",
    "random_spans_noise_mask": "span_corruption",
    "train_t5_tokenizer": "tokenizer",
    "whole_label_share": "tokenizer",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["T5PretrainingArguments", *sorted(_LAZY)]
