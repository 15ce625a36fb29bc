"""What a model card says about the run that made it: the command that reproduces it, and how much data it used.

`training_command` rebuilds the command line from the parsed argument dataclasses (every flag whose value differs
from its default; secrets such as `--hub_token` left out), so the card names what really ran, whether it was started
as `hf-xmc train <method>`, as `python examples/train_<method>.py` or from Python. `training_data_summary` and
`evaluation_data_summary` are the sentences every template shows about the training and evaluation documents: the
numbers actually used, and the data set's full size apart. `training_hyperparameters` and `model_details_from_config`
are the tables of settings.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import shlex
import sys
from pathlib import Path
from typing import Any

SECRET_FIELD_MARKERS = ("token", "password", "secret")


def _program(method: str) -> str:
    """How the run was started: the example script when that is what ran, else the `hf-xmc` command."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == f"train_{method}.py":
        return f"python {shlex.quote(sys.argv[0])}"
    return f"hf-xmc train {method}"


def _plain(value):
    """A value as the command line spells it (enums by value, tuples as lists)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _tokens(value) -> list[str] | None:
    """The command-line tokens of a flag's value, or `None` when the command line cannot express it."""
    value = _plain(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [str(item) for item in value] or None
    if isinstance(value, dict):
        return [json.dumps(value)]
    if isinstance(value, float) and value.is_integer():
        return [str(int(value))] if abs(value) < 1e15 else [repr(value)]
    return [str(value)]


def _default_instance(dataclass_type):
    try:
        return dataclass_type()
    except (TypeError, ValueError):  # a required field, or a default its own validation rejects
        return None


def training_command(method: str, *arguments, program: str | None = None) -> str:
    """The command line that reproduces a run of `method`'s recipe.

    Args:
        method (`str`): the registered method (`"aplc"`).
        arguments: the parsed argument dataclasses (data, model, training) as the recipe received them.
        program (`str`, *optional*): the command before the flags; by default `python <script>` when
            `examples/train_<method>.py` is running, else `hf-xmc train <method>`.

    Returns:
        `str`: the program and, for each field whose value differs from its default, `--name value...`; secret
        fields (tokens) and values a command line cannot express (`None` over a non-`None` default) are left out.
    """
    words = [program or _program(method)]
    for args in arguments:
        defaults = _default_instance(type(args))
        for field in dataclasses.fields(args):
            if not field.init or any(marker in field.name for marker in SECRET_FIELD_MARKERS):
                continue
            value = getattr(args, field.name)
            if defaults is not None and _plain(getattr(defaults, field.name, dataclasses.MISSING)) == _plain(value):
                continue
            tokens = _tokens(value)
            if tokens is not None:
                words += [f"--{field.name}", *map(shlex.quote, tokens)]
    return " ".join(words)


def _count(value: int) -> str:
    return f"{value:,}"


def training_data_summary(
    num_train_examples: int | None, num_train_docs: int | None, num_decision_examples: int | None = None
) -> str:
    """How many training documents the model saw, against the size of the data set's train split.

    `(8000, 21229)` -> `"8,000 training documents, a random subset of the 21,229 in the data set's train split"`.
    """
    if num_train_examples is None:
        return f"{_count(num_train_docs)} training documents" if num_train_docs else ""
    text = f"{_count(num_train_examples)} training documents"
    if num_train_docs and num_train_examples < num_train_docs:
        text += f", a random subset of the {_count(num_train_docs)} in the data set's train split"
    elif num_train_docs:
        text += " (the whole train split)"
    if num_decision_examples:
        text += f"; {_count(num_decision_examples)} other training documents were held out to tune decision thresholds"
    return text


def evaluation_data_summary(split: str | None, num_eval_examples: int | None, num_eval_split_docs: int | None) -> str:
    """Which documents the reported metrics come from.

    `("test", 3000, 9071)` -> `"3,000 documents of the test split (a random subset of its 9,071; ...)"`.
    """
    split = split or "evaluation"
    if num_eval_examples is None:
        return f"the {split} split"
    text = f"{_count(num_eval_examples)} documents of the {split} split"
    if num_eval_split_docs and num_eval_examples < num_eval_split_docs:
        text += (
            f" (a random subset of its {_count(num_eval_split_docs)} documents; the full split gives somewhat "
            "different numbers)"
        )
    elif num_eval_split_docs:
        text += " (all of it)"
    return text


HYPERPARAMETER_FIELDS = (
    "learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
    "num_train_epochs", "max_steps", "lr_scheduler_type", "warmup_steps", "weight_decay", "optim", "seed",
)  # fmt: skip
MODEL_DETAIL_FIELDS = (
    "model_type", "num_labels", "cluster_sizes", "label_cutoffs", "dim_decay_factor", "aplc_hidden_size",
    "tail_projection", "pooling", "num_clusters", "d_model", "hidden_size", "n_layer", "num_hidden_layers",
    "num_text_feature_layers", "num_label_feature_layers", "extracted_feature_size", "classifier_hidden_size",
    "class_loss_weight", "feature_loss_weight", "link_loss_weight", "num_label_clusters", "shortlist_clusters",
)  # fmt: skip


def training_hyperparameters(args) -> dict[str, Any]:
    """The `TrainingArguments` fields a reader needs to reproduce a run, plus the world size."""
    values = {name: getattr(args, name) for name in HYPERPARAMETER_FIELDS if hasattr(args, name)}
    if values.get("max_steps", -1) <= 0:
        values.pop("max_steps", None)
    values["optim"] = str(values.get("optim", "")).split(".")[-1].lower() or None
    values["lr_scheduler_type"] = str(values.get("lr_scheduler_type", "")).split(".")[-1].lower() or None
    values["world_size"] = getattr(args, "world_size", 1)
    return {key: value for key, value in values.items() if value is not None}


def model_details_from_config(config) -> dict[str, Any]:
    details = {}
    for name in MODEL_DETAIL_FIELDS:
        try:
            value = getattr(config, name)
        except (AttributeError, ValueError):
            continue
        if value is not None and name not in details:
            details[name] = list(value) if isinstance(value, tuple) else value
    return details


__all__ = [
    "evaluation_data_summary",
    "model_details_from_config",
    "training_command",
    "training_data_summary",
    "training_hyperparameters",
]
