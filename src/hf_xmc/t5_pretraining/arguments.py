"""The pre-training step's options (torch-free, so `hf-xmc --help` stays instant)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class T5PretrainingArguments:
    """Data, tokenizer, model size and budget of the pre-training step."""

    dataset_name_or_path: str = field(default="debtags", metadata={"help": "Built-in data set or a folder."})
    output_dir: str = field(default="outputs/t5-small-debtags", metadata={"help": "Where the T5 folder goes."})
    split: str = field(default="train", metadata={"help": "Split whose texts (and labels) are used."})
    max_texts: int | None = field(default=None, metadata={"help": "Use at most this many texts (default: all)."})
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "Reuse this tokenizer (e.g. t5-base's) instead of training one."}
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Continue pre-training this T5 checkpoint instead of a new small one."}
    )
    vocab_size: int = field(default=8000, metadata={"help": "Unigram pieces to learn (before whole-label pieces)."})
    max_whole_labels: int = field(default=10_000, metadata={"help": "Labels kept as single tokens (0: none)."})
    label_separator: str = field(default=";", metadata={"help": "XLGen's label separator (kept as one piece)."})
    d_model: int = field(default=256, metadata={"help": "Hidden size of the new T5."})
    d_ff: int = field(default=1024, metadata={"help": "Feed-forward size."})
    num_layers: int = field(default=4, metadata={"help": "Encoder layers (and decoder layers)."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads (d_kv = d_model / num_heads)."})
    inputs_length: int = field(default=128, metadata={"help": "Corrupted input tokens per example."})
    noise_density: float = field(default=0.15, metadata={"help": "Share of tokens masked (T5: 0.15)."})
    mean_noise_span_length: float = field(default=3.0, metadata={"help": "Mean masked span length (T5: 3)."})
    minutes: float = field(default=30.0, metadata={"help": "Wall-clock budget of the pre-training loop."})
    batch_size: int = field(default=32, metadata={"help": "Examples per step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate (linear decay)."})
    warmup: float = field(default=0.02, metadata={"help": "Warm-up steps, or a fraction of the steps below 1."})
    eval_chunks: int = field(default=128, metadata={"help": "Held-out chunks whose loss is measured before/after."})
    seed: int = field(default=0, metadata={"help": "Random seed (masks, order, initialisation)."})
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's choice)."})


__all__ = ["T5PretrainingArguments"]
