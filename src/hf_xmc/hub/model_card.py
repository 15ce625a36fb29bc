"""Model cards for hf-xmc checkpoints: one Jinja template per method (`model_cards/<method>.md`), filled from the
training run (data set, label space, hyper-parameters, `xmc_metrics` results as `model-index` eval results).

`build_model_card` renders a card; `ModelCardCallback` (a `TrainerCallback`, as in setfit and sentence-transformers)
calls it at the end of training and again after every later evaluation, writing `README.md` into the output folder,
with the inputs it was rendered from (`model_card.json`): `push_xmc_model` re-renders the card for the repo id it
pushes to, so a pushed card never names the local folder.
"""

from __future__ import annotations

import json
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import TrainerCallback

from .run_description import (  # noqa: F401  (the hyper-parameter helpers are importable from here too)
    HYPERPARAMETER_FIELDS,
    MODEL_DETAIL_FIELDS,
    evaluation_data_summary,
    model_details_from_config,
    training_data_summary,
    training_hyperparameters,
)

MODEL_CARDS_DIR_ENV = "HF_XMC_MODEL_CARDS_DIR"
TASK_TYPE = "text-classification"
TASK_NAME = "Extreme multi-label text classification"
# Keys Trainer adds to every evaluation that are not model-quality metrics.
TRAINER_BOOKKEEPING_KEYS = frozenset(
    {"loss", "runtime", "samples_per_second", "steps_per_second", "epoch", "model_preparation_time", "total_flos"}
)
METRIC_PREFIXES = ("eval_", "test_", "predict_")
MODEL_CARD_FILE = "README.md"
MODEL_CARD_INPUTS_FILE = "model_card.json"


@dataclass(frozen=True)
class MethodCard:
    """What the card machinery needs to know about one method.

    Args:
        method (`str`): the short name (`"aplc"`), also the template's file stem.
        title (`str`): the name people know the method by (`"APLC"`).
        pipeline_tag (`str`): the Hub task of the checkpoint.
        tags (`tuple[str, ...]`): extra Hub tags.
        variants (`Mapping[str, tuple[str, tuple[str, ...]]]`): per model class (`"XLNetWithAPLC"`), the title and the
            extra tags of a checkpoint of that architecture; a class not listed gets `title` and `tags` alone.
    """

    method: str
    title: str
    pipeline_tag: str
    tags: tuple[str, ...] = ()
    variants: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return f"{self.method}.md"


# The paper's model is APLC-XLNet; hf-xmc puts the same head on any encoder (MiniLM by default): not "APLC-XLNet".
APLC_VARIANTS = {"XLNetWithAPLC": ("APLC-XLNet", ("xlnet",)), "EncoderWithAPLC": ("APLC", ())}

METHOD_CARDS: dict[str, MethodCard] = {
    "aplc": MethodCard("aplc", "APLC", "text-classification", ("aplc",), variants=APLC_VARIANTS),
    "gudn": MethodCard("gudn", "GUDN", "text-classification", ("gudn", "label-text")),
    "xlgen": MethodCard("xlgen", "XLGen", "text-generation", ("xlgen", "t5", "label-generation")),
    "maclr": MethodCard("maclr", "MACLR", "sentence-similarity", ("maclr", "zero-shot", "sentence-transformers")),
    "xda": MethodCard("xda", "XDA", "text-classification", ("xda", "data-augmentation", "long-tail")),
    "ranker": MethodCard(
        "ranker", "Shortlist ranker", "text-classification", ("ranker", "shortlist", "label-text", "long-tail")
    ),
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
    architecture: str | None = None,
    base_model_type: str | None = None,
    model_path: str | None = None,
    num_train_examples: int | None = None,
    num_decision_examples: int | None = None,
    num_eval_examples: int | None = None,
    num_eval_split_docs: int | None = None,
    command_line: str | None = None,
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
        architecture (`str`, *optional*): the model class (`"EncoderWithAPLC"`); picks the title and tags of the
            method's variant (an APLC head on MiniLM is not "APLC-XLNet").
        base_model_type (`str`, *optional*): the `model_type` of the pretrained network (`"bert"`), added as a tag.
        model_path (`str`, *optional*): what the usage snippets load: the repo id, or the local folder's path
            (default: `model_name`).
        num_train_examples (`int`, *optional*): training documents the run actually used (`num_train_docs` is the
            size of the data set's train split); num_decision_examples: training documents held out to tune the
            decision thresholds.
        num_eval_examples, num_eval_split_docs (`int`, *optional*): documents the metrics were computed on, and the
            size of the split they were drawn from.
        command_line (`str`, *optional*): the command that ran (`hf-xmc train aplc --max_train_samples 8000 ...`,
            see `hf_xmc.hub.run_description.training_command`).
        template_kwargs: more variables for the template.
    """
    info = method_card(method)
    title, variant_tags = info.variants.get(architecture, (info.title, ()))
    metrics = clean_metrics(metrics)
    if metrics and not dataset_name:
        raise ValueError("metrics given without dataset_name: a model-index eval result must name its data set")
    card_data = ModelCardData(
        language=language,
        license=license,
        library_name=library_name,
        pipeline_tag=info.pipeline_tag,
        tags=list(
            dict.fromkeys(
                ["hf-xmc", "extreme-multi-label-classification", *info.tags, *variant_tags]
                + ([base_model_type] if base_model_type else [])
                + list(tags or [])
            )
        ),
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
        model_path=model_path or model_name,
        method_title=title,
        architecture=architecture,
        base_model_type=base_model_type,
        command_line=command_line,
        training_data=training_data_summary(num_train_examples, num_train_docs, num_decision_examples),
        evaluation_data=evaluation_data_summary(dataset_split, num_eval_examples, num_eval_split_docs),
        num_train_examples=num_train_examples,
        num_eval_examples=num_eval_examples,
        num_eval_split_docs=num_eval_split_docs,
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


def write_model_card(folder: str | os.PathLike, method: str, model_name: str, **card_kwargs) -> ModelCard:
    """`build_model_card`, written as `folder/README.md` next to its inputs (`model_card.json`), from which
    `rerender_model_card` renders it again for another name (the repo id of a push)."""
    card = build_model_card(method, model_name, **card_kwargs)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    card.save(folder / MODEL_CARD_FILE)
    inputs = {"method": method, "model_name": model_name, **card_kwargs}
    (folder / MODEL_CARD_INPUTS_FILE).write_text(json.dumps(inputs, indent=2, default=str), encoding="utf-8")
    return card


def rerender_model_card(folder: str | os.PathLike, model_name: str) -> ModelCard | None:
    """Render the card of `folder` again for `model_name` (a repo id): title, `model-index` and usage snippets name
    it, everything else stays. Rewrites `README.md` and `model_card.json` in `folder`; `None` (nothing written) when
    the folder has no `model_card.json` (a card hf-xmc did not write)."""
    path = Path(folder) / MODEL_CARD_INPUTS_FILE
    if not path.is_file():
        return None
    inputs = json.loads(path.read_text(encoding="utf-8"))
    inputs.update(model_name=model_name, model_path=model_name)
    return write_model_card(folder, **inputs)


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
            folder's name (the usage snippets then load the output folder's path).
        card_kwargs: passed to `build_model_card`: what the run used (`num_train_examples`, `num_decision_examples`,
            `num_eval_examples`, `num_eval_split_docs`, `command_line`), language, license, tags, template variables.
            The model class (`architecture`) and its base network's `base_model_type` are read from the trained model.
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
        repo_id = self.model_name or getattr(args, "hub_model_id", None)
        card_kwargs = {
            "architecture": type(self._model).__name__ if self._model is not None else None,
            "base_model_type": getattr(getattr(config, "encoder", None), "model_type", None),
            **self.card_kwargs,
        }
        self.model_card = write_model_card(
            args.output_dir,
            self.method,
            repo_id or Path(args.output_dir).name,
            model_path=repo_id or str(args.output_dir),
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
            **card_kwargs,
        )
