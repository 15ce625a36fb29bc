"""Model cards for hf-xmc checkpoints: one Jinja template per method (`model_cards/<method>.md`), filled from the
training run (data set, label space, hyper-parameters, `xmc_metrics` results as `model-index` eval results).

`build_model_card` renders a card; `ModelCardCallback` (a `TrainerCallback`, as in setfit and sentence-transformers)
calls it at the end of training and again after every later evaluation, writing `README.md` into the output folder.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import TrainerCallback

MODEL_CARDS_DIR_ENV = "HF_XMC_MODEL_CARDS_DIR"
TASK_TYPE = "text-classification"
TASK_NAME = "Extreme multi-label text classification"
# Keys Trainer adds to every evaluation that are not model-quality metrics.
TRAINER_BOOKKEEPING_KEYS = frozenset(
    {"loss", "runtime", "samples_per_second", "steps_per_second", "epoch", "model_preparation_time", "total_flos"}
)
METRIC_PREFIXES = ("eval_", "test_", "predict_")


@dataclass(frozen=True)
class MethodCard:
    """What the card machinery needs to know about one method.

    Args:
        method (`str`): the short name (`"aplc"`), also the template's file stem.
        title (`str`): the name people know the method by (`"APLC-XLNet"`).
        pipeline_tag (`str`): the Hub task of the checkpoint.
        tags (`tuple[str, ...]`): extra Hub tags.
    """

    method: str
    title: str
    pipeline_tag: str
    tags: tuple[str, ...] = ()

    @property
    def template(self) -> str:
        return f"{self.method}.md"


METHOD_CARDS: dict[str, MethodCard] = {
    "aplc": MethodCard("aplc", "APLC-XLNet", "text-classification", ("aplc", "xlnet")),
    "gudn": MethodCard("gudn", "GUDN", "text-classification", ("gudn", "label-text")),
    "xlgen": MethodCard("xlgen", "XLGen", "text-generation", ("xlgen", "t5", "label-generation")),
    "maclr": MethodCard("maclr", "MACLR", "sentence-similarity", ("maclr", "zero-shot", "sentence-transformers")),
    "xda": MethodCard("xda", "XDA", "text-classification", ("xda", "data-augmentation", "long-tail")),
    "ranker": MethodCard("ranker", "Shortlist ranker", "text-classification", ("shortlist", "label-text", "long-tail")),
    "ranker": MethodCard("ranker", "Shortlist ranker", "text-classification", ("shortlist", "label-text", "long-tail")),
}


def model_cards_dir() -> Path:
    """The folder holding the templates: `$HF_XMC_MODEL_CARDS_DIR`, else the package's `resources/model_cards` (the
    repository's top-level `model_cards/` is a link to it, so source checkouts and wheels read the same files)."""
    candidates = []
    if os.environ.get(MODEL_CARDS_DIR_ENV):
        candidates.append(Path(os.environ[MODEL_CARDS_DIR_ENV]))
    package_root = Path(__file__).resolve().parents[1]
    candidates.append(package_root / "resources" / "model_cards")
    for candidate in candidates:
        if (candidate / "aplc.md").is_file():
            return candidate
    raise FileNotFoundError(
        f"hf-xmc model card templates not found (looked in {', '.join(map(str, candidates))}); "
        f"set {MODEL_CARDS_DIR_ENV} to the folder holding <method>.md."
    )


def method_card(method: str) -> MethodCard:
    if method not in METHOD_CARDS:
        raise ValueError(f"no model card template for method {method!r}; known methods: {sorted(METHOD_CARDS)}")
    return METHOD_CARDS[method]


def clean_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Model-quality metrics from a Trainer metrics dict: prefixes (`eval_`, `test_`) and bookkeeping removed.

    `{"eval_P@1": 0.8, "eval_loss": 0.1, "eval_runtime": 3.0}` -> `{"P@1": 0.8}`.
    """
    cleaned = {}
    for key, value in (metrics or {}).items():
        for prefix in METRIC_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        if key in TRAINER_BOOKKEEPING_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        cleaned[key] = float(value)
    return cleaned


def xmc_eval_results(
    metrics: Mapping[str, float],
    dataset_name: str,
    dataset_id: str | None = None,
    dataset_split: str | None = "test",
    dataset_config: str | None = None,
) -> list[EvalResult]:
    """One `EvalResult` per metric; the metric type and name are the `xmc_metrics` key (`"P@1"`, `"PSnDCG@5"`)."""
    return [
        EvalResult(
            task_type=TASK_TYPE,
            task_name=TASK_NAME,
            dataset_type=dataset_id or dataset_name,
            dataset_name=dataset_name,
            dataset_config=dataset_config,
            dataset_split=dataset_split,
            metric_type=name,
            metric_name=name,
            metric_value=round(value, 6),
        )
        for name, value in metrics.items()
    ]


def markdown_table(rows: Mapping[str, Any], header: tuple[str, str]) -> str:
    """A two-column markdown table (`""` when there are no rows)."""
    if not rows:
        return ""
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    for key, value in rows.items():
        shown = (
            f"{value:.4g}" if isinstance(value, float) else f"`{value}`" if isinstance(value, (list, tuple)) else value
        )
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines)


_METRIC_AT_K = re.compile(r"^(?P<name>.+)@(?P<k>\d+)(?P<suffix>_\w+)?$")


def metrics_markdown_table(metrics: Mapping[str, float]) -> str:
    """The metrics as a table with one row per metric family and one column per cut-off k (`P@1`, `P@3` -> `P`
    row, `@1`, `@3` columns); metrics without a cut-off get a row of their own."""
    if not metrics:
        return ""
    families: dict[str, dict[int, float]] = {}
    others: dict[str, float] = {}
    for key, value in metrics.items():
        match = _METRIC_AT_K.match(key)
        if match is None:
            others[key] = value
            continue
        families.setdefault(match["name"] + (match["suffix"] or ""), {})[int(match["k"])] = value
    ks = sorted({k for values in families.values() for k in values})
    lines = []
    if families:
        lines += ["| Metric | " + " | ".join(f"@{k}" for k in ks) + " |", "| --- |" + " ---: |" * len(ks)]
        for family, values in families.items():
            cells = [f"{values[k]:.4f}" if k in values else "" for k in ks]
            lines.append(f"| {family} | " + " | ".join(cells) + " |")
    if others:
        lines += (
            ["", markdown_table(others, ("Metric", "Value"))]
            if lines
            else [markdown_table(others, ("Metric", "Value"))]
        )
    return "\n".join(lines)


def framework_versions() -> dict[str, str]:
    import datasets
    import huggingface_hub
    import torch
    import transformers

    import hf_xmc

    return {
        "Python": platform.python_version(),
        "hf-xmc": hf_xmc.__version__,
        "Transformers": transformers.__version__,
        "PyTorch": torch.__version__,
        "Datasets": datasets.__version__,
        "huggingface_hub": huggingface_hub.__version__,
    }


def build_model_card(
    method: str,
    model_name: str,
    *,
    metrics: Mapping[str, Any] | None = None,
    dataset_name: str | None = None,
    dataset_id: str | None = None,
    dataset_split: str | None = "test",
    base_model: str | None = None,
    num_labels: int | None = None,
    num_train_docs: int | None = None,
    num_unseen_labels: int | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    model_details: Mapping[str, Any] | None = None,
    language: str | list[str] | None = "en",
    license: str | None = "apache-2.0",
    tags: list[str] | None = None,
    library_name: str = "transformers",
    **template_kwargs,
) -> ModelCard:
    """Render the method's template into a `huggingface_hub.ModelCard`.

    Args:
        method (`str`): a key of `METHOD_CARDS` (`"aplc"`, `"gudn"`, `"xlgen"`, `"maclr"`, `"xda"`).
        model_name (`str`): the repo id or name the card describes (used in the usage snippet and `model-index`).
        metrics (`Mapping[str, float]`, *optional*): `compute_xmc_metrics` / Trainer evaluation output; Trainer
            prefixes and bookkeeping keys are dropped. Becomes the metrics table and the `model-index` eval results.
        dataset_name, dataset_id, dataset_split (`str`, *optional*): the evaluation data (`dataset_id` is a Hub id).
        base_model (`str`, *optional*): the pretrained checkpoint fine-tuned.
        num_labels, num_train_docs, num_unseen_labels (`int`, *optional*): the label space (from `LabelVocabulary`).
        hyperparameters (`Mapping`, *optional*): training settings shown as a table.
        model_details (`Mapping`, *optional*): method-specific architecture settings shown as a table.
        language, license, tags: card metadata.
        library_name (`str`): the Hub library of the checkpoint (`"sentence-transformers"` for MACLR encoders).
        template_kwargs: more variables for the template.
    """
    info = method_card(method)
    metrics = clean_metrics(metrics)
    if metrics and not dataset_name:
        raise ValueError("metrics given without dataset_name: a model-index eval result must name its data set")
    card_data = ModelCardData(
        language=language,
        license=license,
        library_name=library_name,
        pipeline_tag=info.pipeline_tag,
        tags=list(dict.fromkeys(["hf-xmc", "extreme-multi-label-classification", *info.tags, *(tags or [])])),
        datasets=[dataset_id] if dataset_id else None,
        base_model=base_model,
        metrics=sorted(metrics) or None,
        model_name=model_name,
        eval_results=xmc_eval_results(metrics, dataset_name, dataset_id, dataset_split) if metrics else None,
    )
    template_path = model_cards_dir() / info.template
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path),
        model_id=model_name,
        method_title=info.title,
        dataset_name=dataset_name,
        dataset_id=dataset_id,
        dataset_split=dataset_split,
        base_model=base_model,
        num_labels=num_labels,
        num_train_docs=num_train_docs,
        num_unseen_labels=num_unseen_labels,
        metrics_table=metrics_markdown_table(metrics),
        hyperparameters_table=markdown_table(dict(hyperparameters or {}), ("Hyper-parameter", "Value")),
        model_details_table=markdown_table(dict(model_details or {}), ("Setting", "Value")),
        framework_versions=framework_versions(),
        **template_kwargs,
    )


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


class ModelCardCallback(TrainerCallback):
    """Writes the method's model card into `args.output_dir/README.md` when training ends, and refreshes it after
    every later evaluation (so `trainer.evaluate(test_set)` after `train()` lands in the card).

    Args:
        method (`str`): which template (`"aplc"`, ...).
        dataset_name (`str`): the data set the metrics are computed on.
        dataset_id (`str`, *optional*): its Hub id, for the card's `datasets` metadata.
        dataset_split (`str`, defaults to `"test"`): the split the reported metrics come from.
        vocabulary (`LabelVocabulary`, *optional*): gives the label-space size, training documents and unseen labels.
        base_model (`str`, *optional*): the pretrained checkpoint fine-tuned.
        model_name (`str`, *optional*): the repo id of the card; defaults to `args.hub_model_id` or the output
            folder's name.
        card_kwargs: passed to `build_model_card` (language, license, tags, template variables).
    """

    def __init__(
        self,
        method: str,
        dataset_name: str,
        dataset_id: str | None = None,
        dataset_split: str = "test",
        vocabulary=None,
        base_model: str | None = None,
        model_name: str | None = None,
        **card_kwargs,
    ):
        method_card(method)  # fail at construction, not at the end of a long run
        self.method = method
        self.dataset_name = dataset_name
        self.dataset_id = dataset_id
        self.dataset_split = dataset_split
        self.vocabulary = vocabulary
        self.base_model = base_model
        self.model_name = model_name
        self.card_kwargs = card_kwargs
        self.metrics: dict[str, float] = {}
        self.model_card: ModelCard | None = None
        self._training_ended = False
        self._model = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.metrics = clean_metrics(metrics)
        if self._training_ended:
            self._write(args, state)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._model = model if model is not None else self._model
        self._training_ended = True
        self._write(args, state)

    def _write(self, args, state) -> None:
        if not state.is_world_process_zero:
            return
        config = getattr(self._model, "config", None)
        vocabulary = self.vocabulary
        base_model = self.base_model or getattr(config, "_name_or_path", None) or None
        self.model_card = build_model_card(
            self.method,
            self.model_name or getattr(args, "hub_model_id", None) or Path(args.output_dir).name,
            metrics=self.metrics,
            dataset_name=self.dataset_name,
            dataset_id=self.dataset_id,
            dataset_split=self.dataset_split,
            base_model=base_model if base_model and not os.path.isdir(base_model) else None,
            num_labels=len(vocabulary) if vocabulary is not None else getattr(config, "num_labels", None),
            num_train_docs=getattr(vocabulary, "num_train_docs", None),
            num_unseen_labels=getattr(vocabulary, "num_unseen_labels", None),
            hyperparameters={**training_hyperparameters(args), "global_steps": state.global_step},
            model_details=model_details_from_config(config) if config is not None else None,
            **self.card_kwargs,
        )
        os.makedirs(args.output_dir, exist_ok=True)
        self.model_card.save(os.path.join(args.output_dir, "README.md"))
