"""hf-xmc's evaluation: ranking and set metrics for XMC (numpy/scipy), the `evaluate` module and Trainer hooks.

`compute_xmc_metrics` is the core; `top_k_ids` is the one numpy/scipy top-k; `load_metric()` returns the
`evaluate` module (`metrics/xmc_metrics/` in the repository, shipped inside this package);
`make_compute_metrics` / `make_preprocess_logits_for_metrics` plug the metrics into `transformers.Trainer`.
"""

from __future__ import annotations

from pathlib import Path

from .core import compute_xmc_metrics
from .set_metrics import FREQUENCY_GROUPS
from .topk import top_k_ids
from .trainer import make_compute_metrics, make_preprocess_logits_for_metrics

METRIC_MODULE_DIR = Path(__file__).resolve().parent / "xmc_metrics"


def load_metric(config_name: str | None = None, **kwargs):
    """Load the `xmc_metrics` `evaluate` module shipped with hf-xmc (works offline, from any working directory).

    Args:
        config_name (`str`, *optional*): `None` / "default" for id lists, "labels" for label strings (with
            `label_names=` at compute time), "scores" for dense score rows.
        **kwargs: passed to `evaluate.load` (e.g. `experiment_id`, `keep_in_memory`).

    Returns:
        `evaluate.EvaluationModule`: call `.compute(predictions=..., references=..., k=[1, 3, 5], ...)`.
    """
    import evaluate

    return evaluate.load(str(METRIC_MODULE_DIR), config_name, **kwargs)


__all__ = [
    "FREQUENCY_GROUPS",
    "METRIC_MODULE_DIR",
    "compute_xmc_metrics",
    "load_metric",
    "make_compute_metrics",
    "make_preprocess_logits_for_metrics",
    "top_k_ids",
]
