"""The XDA pipeline's options, one dataclass per stage (torch-free, so `hf-xmc --help` stays instant).

`hf-xmc augment <stage>` exposes `XDACommonArguments` plus the stage's dataclass; `hf-xmc augment run` all of them.
Bad values raise a one-line `ValueError` naming the flag in `__post_init__`, before anything loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_SENTINELS = 100  # T5's <extra_id_0..99>
DIVERSITY_KINDS = ("kl", "bce_sum")
AUGMENTATION_LOSSES = ("masked", "reweighted", "plain")
STAGES = ("prompt-tune", "generate", "filter", "train")


def max_spans(max_words: int, noise_density: float, mean_span_length: float) -> int:
    """The most masked spans a document of `max_words` words gets (the count `random_spans_noise_mask` uses)."""
    num_noise = min(max(int(round(max_words * noise_density)), 1), max_words - 1)
    return min(max(int(round(num_noise / mean_span_length)), 1), num_noise, max_words - num_noise)


@dataclass
class XDACommonArguments:
    """What every stage shares: the data, the pipeline folder, the seed."""

    dataset_name_or_path: str = field(default="debtags", metadata={"help": "Built-in data set or a folder."})
    output_dir: str = field(
        default="outputs/xda-debtags",
        metadata={"help": "Pipeline folder: prompt/, generated/, filtered/, classifier/ and pipeline_state.json."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Augment and train on a seeded subset of this many training documents."}
    )
    max_eval_samples: int | None = field(
        default=2000, metadata={"help": "Evaluate the final classifier on this many test documents (0: all)."}
    )
    max_words: int = field(
        default=128, metadata={"help": "Documents are cut to their first this many words before masking."}
    )
    noise_density: float = field(default=0.15, metadata={"help": "Share of a document's words masked (paper: 15%)."})
    mean_span_length: float = field(default=3.0, metadata={"help": "Mean masked span length in words."})
    t5_name_or_path: str = field(
        default="outputs/t5-small-debtags",
        metadata={"help": "The T5 folder (`hf-xmc pretrain-t5`'s output, or any T5 with <extra_id_*> sentinels)."},
    )
    max_source_length: int = field(default=256, metadata={"help": "T5 tokens of a masked input (labels + text)."})
    seed: int = field(default=0, metadata={"help": "Random seed (subsets, masks, sampling, training order)."})
    overwrite: bool = field(
        default=False, metadata={"help": "Re-run a stage whose output exists (default: a finished stage is kept)."}
    )
    threads: int | None = field(default=None, metadata={"help": "torch threads (default: torch's choice)."})
    progress: bool = field(default=True, metadata={"help": "Progress bars on the long stages."})

    def __post_init__(self):
        if self.max_words < 2:
            raise ValueError(f"--max_words must be >= 2 (a span needs a word before it), got {self.max_words}")
        if not 0 < self.noise_density < 1:
            raise ValueError(f"--noise_density must be in (0, 1), got {self.noise_density}")
        if self.mean_span_length < 1:
            raise ValueError(f"--mean_span_length must be >= 1, got {self.mean_span_length}")
        if self.max_source_length < 8:
            raise ValueError(f"--max_source_length must be >= 8, got {self.max_source_length}")
        spans = max_spans(self.max_words, self.noise_density, self.mean_span_length)
        if spans > MAX_SENTINELS:
            raise ValueError(
                f"--max_words {self.max_words} at --noise_density {self.noise_density} and --mean_span_length "
                f"{self.mean_span_length} gives {spans} masked spans, but T5 has only {MAX_SENTINELS} sentinels: "
                "lower --max_words or raise --mean_span_length"
            )


@dataclass
class PromptTuneArguments:
    """Stage 1: a PEFT prefix (soft prompt) on a frozen T5, trained to fill label-conditioned masked spans."""

    num_virtual_tokens: int = field(default=5, metadata={"help": "Prefix length per layer (reference code: 5)."})
    prompt_minutes: float = field(default=10.0, metadata={"help": "Wall-clock budget of prefix tuning."})
    prompt_epochs: float = field(default=30.0, metadata={"help": "At most this many epochs (reference: 30)."})
    prompt_batch_size: int = field(default=16, metadata={"help": "Documents per prefix-tuning step."})
    prompt_learning_rate: float = field(default=0.3, metadata={"help": "Adafactor learning rate (reference: 0.3)."})
    max_target_length: int = field(default=128, metadata={"help": "Tokens of the span target."})
    eval_documents: int = field(
        default=64, metadata={"help": "Held-out documents whose fill loss is measured before and after."}
    )

    def __post_init__(self):
        for name in ("num_virtual_tokens", "prompt_batch_size", "max_target_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.prompt_minutes <= 0:
            raise ValueError(f"--prompt_minutes must be > 0, got {self.prompt_minutes}")
        if self.prompt_learning_rate <= 0:
            raise ValueError(f"--prompt_learning_rate must be > 0, got {self.prompt_learning_rate}")


@dataclass
class GenerateArguments:
    """Stage 2: N_a augmented documents per source, its masked spans filled by the prefix-tuned T5."""

    num_augmentations: int = field(default=2, metadata={"help": "N_a: augmented documents per source (paper: 2-4)."})
    spans_per_round: int = field(
        default=10,
        metadata={"help": "Iterative fill: spans re-masked and generated per round, the others shown (<= 100)."},
    )
    sampling: bool = field(default=False, metadata={"help": "Sample the fill (default: greedy, as the reference)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=0.9, metadata={"help": "Nucleus sampling: smallest set of tokens with this mass."})
    max_new_tokens: int = field(default=96, metadata={"help": "Generated tokens per round at most."})
    repetition_penalty: float = field(
        default=2.5, metadata={"help": "Penalty on tokens a fill already generated (reference: 2.5; 1: none)."}
    )
    max_span_tokens: int = field(
        default=8,
        metadata={
            "help": "Keep decoding in T5's span format (each sentinel in order, every span at least one and at most "
            "this many tokens); 0: unconstrained (a weak T5 then often fills nothing)."
        },
    )
    generate_batch_size: int = field(default=32, metadata={"help": "Documents per generation batch."})
    no_prompt: bool = field(
        default=False, metadata={"help": "Fill with the plain T5 (the 'w/o Prompt' ablation; skips prompt-tune)."}
    )
    generate_minutes: float | None = field(
        default=None,
        metadata={"help": "Stop generating after this many minutes (the documents done are kept and counted)."},
    )

    def __post_init__(self):
        if self.num_augmentations < 1:
            raise ValueError(
                f"--num_augmentations (N_a) must be >= 1, got {self.num_augmentations}: N_a = 0 generates nothing; "
                "train the classifier without augmentation instead (`hf-xmc augment train --no_augmentation`)"
            )
        if not 1 <= self.spans_per_round <= MAX_SENTINELS:
            raise ValueError(f"--spans_per_round must be in [1, {MAX_SENTINELS}] (T5's sentinels), got "
                             f"{self.spans_per_round}")  # fmt: skip
        if self.repetition_penalty < 1:
            raise ValueError(f"--repetition_penalty must be >= 1, got {self.repetition_penalty}")
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"--temperature must be > 0 and --top_p in (0, 1], got {self.temperature}, {self.top_p}")
        if self.max_new_tokens < 2 or self.generate_batch_size < 1 or self.max_span_tokens < 0:
            raise ValueError("--max_new_tokens must be >= 2, --generate_batch_size >= 1, --max_span_tokens >= 0")


@dataclass
class FilterArguments:
    """Stage 3: diversity (eq. 2) + consistency (eq. 3) from a classifier trained on the original data."""

    scorer_name_or_path: str = field(
        default="outputs/aplc-debtags",
        metadata={"help": "An hf-xmc classifier checkpoint (folder or repo id) trained on the same label space."},
    )
    diversity: str = field(
        default="kl", metadata={"help": "kl (the paper's eq. 2) or bce_sum (the reference code's summed BCE)."}
    )
    keep_fraction: float = field(
        default=0.2, metadata={"help": "Keep the best this share by normalised diversity + consistency (paper: 0.2)."}
    )
    scorer_top_k: int = field(
        default=0, metadata={"help": "Labels scored per text; the rest count as probability 0 (0: every label)."}
    )
    score_batch_size: int = field(default=64, metadata={"help": "Texts per scoring batch."})

    def __post_init__(self):
        if self.diversity not in DIVERSITY_KINDS:
            raise ValueError(f"--diversity must be one of {DIVERSITY_KINDS}, got {self.diversity!r}")
        if not 0 < self.keep_fraction <= 1:
            raise ValueError(f"--keep_fraction must be in (0, 1], got {self.keep_fraction}")
        if self.scorer_top_k < 0:
            raise ValueError(f"--scorer_top_k must be >= 0, got {self.scorer_top_k}")


@dataclass
class MDATrainArguments:
    """Stage 4: the classifier's head trained (encoder frozen) on L_BCE(original) + L_Aug(augmented, eq. 4)."""

    classifier_name_or_path: str | None = field(
        default=None, metadata={"help": "The classifier to continue (default: --scorer_name_or_path, f_0)."}
    )
    head_tail_threshold: float = field(
        default=50.0, metadata={"help": "N_t: a label with fewer than N_t training documents is a tail label."}
    )
    augmentation_loss: str = field(
        default="masked",
        metadata={
            "help": "masked (eq. 4: head-label positives of augmented pairs masked), reweighted (the reference "
            "code's (max/(n+1))^q-weighted BCE x 0.3) or plain (BCE: the 'w/o Mask' ablation)."
        },
    )
    reweight_power: float = field(default=0.5, metadata={"help": "q of the reweighted loss."})
    reweight_scale: float = field(default=0.3, metadata={"help": "Factor of the reweighted loss (reference: 0.3)."})
    train_on: str = field(
        default="kept",
        metadata={"help": "kept (the filter's choice) or all (every generated document: the 'w/o Filter' ablation)."},
    )
    no_augmentation: bool = field(
        default=False, metadata={"help": "Train on the original data only (the baseline row, same budget)."}
    )
    train_minutes: float = field(default=10.0, metadata={"help": "Wall-clock budget of the classifier training."})
    train_epochs: float = field(default=5.0, metadata={"help": "At most this many passes over the original data."})
    train_batch_size: int = field(default=32, metadata={"help": "Original documents per step (and augmented ones)."})
    train_learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate of the classifier."})
    max_length: int = field(default=64, metadata={"help": "Tokens the classifier reads per document."})
    swa: bool = field(default=False, metadata={"help": "Stochastic weight averaging of the classifier (LightXML)."})
    swa_start: float = field(default=0.5, metadata={"help": "SWA starts after this share of the steps."})
    swa_every: int = field(default=10, metadata={"help": "SWA averages every this many steps."})

    def __post_init__(self):
        if self.augmentation_loss not in AUGMENTATION_LOSSES:
            raise ValueError(
                f"--augmentation_loss must be one of {AUGMENTATION_LOSSES}, got {self.augmentation_loss!r}"
            )
        if self.train_on not in ("kept", "all"):
            raise ValueError(f"--train_on must be 'kept' or 'all', got {self.train_on!r}")
        if self.head_tail_threshold <= 0:
            raise ValueError(f"--head_tail_threshold (N_t) must be > 0, got {self.head_tail_threshold}")
        if self.train_minutes <= 0 or self.train_epochs <= 0:
            raise ValueError("--train_minutes and --train_epochs must be > 0")
        if self.train_batch_size < 1 or self.max_length < 2 or self.swa_every < 1 or not 0 <= self.swa_start < 1:
            raise ValueError("--train_batch_size >= 1, --max_length >= 2, --swa_every >= 1, --swa_start in [0, 1)")


STAGE_ARGUMENTS = {
    "prompt-tune": PromptTuneArguments,
    "generate": GenerateArguments,
    "filter": FilterArguments,
    "train": MDATrainArguments,
}

__all__ = [
    "AUGMENTATION_LOSSES",
    "DIVERSITY_KINDS",
    "FilterArguments",
    "GenerateArguments",
    "MAX_SENTINELS",
    "MDATrainArguments",
    "PromptTuneArguments",
    "STAGES",
    "STAGE_ARGUMENTS",
    "XDACommonArguments",
    "max_spans",
]
