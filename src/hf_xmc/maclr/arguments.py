"""MACLR's flags: the shared recipe's argument dataclasses extended with the method's own (one `help` each)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sentence_transformers import SentenceTransformerTrainingArguments

from ..training.arguments import (
    RecipeTrainingOptions,
    XMCDataArguments,
    XMCModelArguments,
    check_training_arguments,
)

STAGES = ("pretrain", "self-train", "few-shot")


@dataclass
class MACLRDataArguments(XMCDataArguments):
    """Which MACLR stage, the pairs it trains on and how it is evaluated."""

    stage: str = field(
        default="pretrain",
        metadata={"help": "pretrain (stage I: ICT + clustering + label regularization), self-train (stage II: "
                  "encoder and TF-IDF pseudo pairs) or few-shot (true pairs of --few_shot_ratio of the labels)."},
    )  # fmt: skip
    max_length: int = field(default=128, metadata={"help": "Tokens per text (the paper: 288 instance, 64 label)."})
    label_text: str = field(
        default="title", metadata={"help": "What a label is embedded from: title, or title+description."}
    )
    remove_title_probability: float = field(
        default=0.9, metadata={"help": "Stage I: chance that a context sentence loses the title's occurrences."}
    )
    initial_clusters: int | None = field(
        default=None, metadata={"help": "Stage I: K0 (default: one cluster per 128 pairs, the paper's ratio)."}
    )
    double_every: int | None = field(
        default=None, metadata={"help": "Stage I: T_K, steps between doublings of K (default: 2 x T_update)."}
    )
    update_every: int | None = field(
        default=None, metadata={"help": "Stage I: T_update, steps between re-clusterings (default: from num_updates)."}
    )
    num_updates: int = field(
        default=10,
        metadata={"help": "Stage I: clusterings in the first half of training when --update_every is not set (the "
                  "paper: 10; each encodes every instance, so use 2-3 on CPU)."},
    )  # fmt: skip
    cluster_max_length: int | None = field(
        default=64, metadata={"help": "Stage I: tokens per instance when encoding them for clustering."}
    )
    num_negatives: int = field(
        default=32, metadata={"help": "Stage I: random label texts per step for the label regularization (0: off)."}
    )
    regularization_weight: float = field(default=1.0, metadata={"help": "Stage I: weight of eq. 4 in eq. 5."})
    pseudo_k: int = field(default=3, metadata={"help": "Stage II: encoder pseudo labels per document (paper: 3)."})
    tfidf_k: int | None = field(default=None, metadata={"help": "Stage II: TF-IDF pseudo labels (default: pseudo_k)."})
    encoder_min_score: float | None = field(
        default=None, metadata={"help": "Stage II: keep encoder pseudo labels scoring at least this."}
    )
    tfidf_min_score: float | None = field(
        default=None, metadata={"help": "Stage II: keep TF-IDF pseudo labels with at least this cosine."}
    )
    pseudo_views: str = field(default="encoder,tfidf", metadata={"help": "Stage II: views used (comma-separated)."})
    pseudo_merge: str = field(
        default="union",
        metadata={"help": "Stage II: union (the paper: labels of either view) or agreement (only labels both views "
                  "chose: fewer, more precise pseudo pairs)."},
    )  # fmt: skip
    few_shot_ratio: float = field(
        default=0.01, metadata={"help": "Few-shot: share of labels whose training pairs are used (0.8: GZ-XMC)."}
    )
    exclude_own_id: str = field(
        default="auto",
        metadata={"help": "Leave a document's own id out of its ranking (BEIR): auto (when documents are labels), "
                  "yes or no."},
    )  # fmt: skip
    decision_validation_size: float = field(
        default=0, metadata={"help": "Unused by MACLR (it tunes no decision thresholds)."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.stage not in STAGES:
            raise ValueError(f"--stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.label_text not in ("title", "title+description"):
            raise ValueError(f"--label_text must be title or title+description, got {self.label_text!r}")
        if self.exclude_own_id not in ("auto", "yes", "no"):
            raise ValueError(f"--exclude_own_id must be auto, yes or no, got {self.exclude_own_id!r}")
        if not 0 < self.few_shot_ratio <= 1:
            raise ValueError(f"--few_shot_ratio must be in (0, 1], got {self.few_shot_ratio}")
        if not 0 <= self.remove_title_probability <= 1:
            raise ValueError(f"--remove_title_probability must be in [0, 1], got {self.remove_title_probability}")
        views = {view.strip() for view in self.pseudo_views.split(",") if view.strip()}
        if not views or views - {"encoder", "tfidf"}:
            raise ValueError(f"--pseudo_views must name encoder and/or tfidf, got {self.pseudo_views!r}")
        if self.pseudo_merge not in ("union", "agreement"):
            raise ValueError(f"--pseudo_merge must be union or agreement, got {self.pseudo_merge!r}")
        if self.pseudo_merge == "agreement" and views != {"encoder", "tfidf"}:
            raise ValueError(
                "--pseudo_merge agreement keeps the labels both views chose: --pseudo_views must name both"
            )
        for flag in ("initial_clusters", "double_every", "update_every", "num_updates", "pseudo_k", "tfidf_k"):
            value = getattr(self, flag)
            if value is not None and value < 1:
                raise ValueError(f"--{flag} must be >= 1, got {value}")


@dataclass
class MACLRModelArguments(XMCModelArguments):
    """The encoder and the similarity."""

    pooling: str = field(default="cls", metadata={"help": "Pooling of a plain transformer encoder: cls or mean."})
    projection_dim: int | None = field(
        default=None, metadata={"help": "The paper's tanh projection of a plain encoder (512 there; none: off)."}
    )
    scale: float | None = field(
        default=None,
        metadata={"help": "Similarity scale (1/temperature); default: 1 (the paper's raw inner products), 20 for an "
                  "encoder that L2-normalises (the shipped MiniLM)."},
    )  # fmt: skip
    mini_batch_size: int | None = field(
        default=None,
        metadata={"help": "Gradient caching: embed the batch in mini-batches of this size (a large batch in bounded "
                  "memory); none: one pass."},
    )  # fmt: skip
    label_index_backend: str = field(
        default="exact", metadata={"help": "Label index stored with the model: exact, hnsw or ivf (faiss)."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"--pooling must be cls or mean, got {self.pooling!r}")
        if self.label_index_backend not in ("exact", "hnsw", "ivf"):
            raise ValueError(f"--label_index_backend must be exact, hnsw or ivf, got {self.label_index_backend!r}")
        if self.scale is not None and self.scale <= 0:
            raise ValueError(f"--scale must be > 0, got {self.scale}")
        if self.mini_batch_size is not None and self.mini_batch_size < 1:
            raise ValueError(f"--mini_batch_size must be >= 1, got {self.mini_batch_size}")


@dataclass
class MACLRTrainingArguments(SentenceTransformerTrainingArguments, RecipeTrainingOptions):
    """`SentenceTransformerTrainingArguments` with MACLR's defaults and the recipe's options (budget, checkpoints)."""

    output_dir: str = field(default="maclr-output", metadata={"help": "Where the MACLR checkpoint is written."})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Pairs per batch (in-batch negatives)."})
    learning_rate: float = field(default=2e-5, metadata={"help": "AdamW learning rate (the paper: 1e-5, 100K steps)."})
    warmup_steps: float = field(
        default=0.1, metadata={"help": "Linear warm-up: steps, or a share of them when < 1 (the paper: 0.1)."}
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs over the pairs."})
    save_strategy: str = field(default="no", metadata={"help": "Trainer checkpoints (the final model is saved)."})
    logging_steps: float = field(default=10, metadata={"help": "Log the loss every this many steps."})

    def __post_init__(self):
        check_training_arguments(self)
        super().__post_init__()
