"""hf-xmc: extreme multi-label text classification (XMC) as ordinary Hugging Face citizens.

Importing `hf_xmc` registers its models with the `transformers` Auto classes, so `AutoModel.from_pretrained(path)`
returns the right hf-xmc class for any checkpoint it wrote.
"""

from __future__ import annotations

from .data import LabelVocabulary, XMCDataset, XMCInputError, inverse_propensity, load_xmc_dataset
from .metrics import compute_xmc_metrics, load_metric, top_k_ids
from .models import (
    EncoderAPLCConfig,
    EncoderWithAPLC,
    XLNetAPLCConfig,
    XLNetWithAPLC,
    register_auto_classes,
)

__version__ = "0.1.0"

register_auto_classes()

__all__ = [
    "EncoderAPLCConfig",
    "EncoderWithAPLC",
    "LabelVocabulary",
    "XLNetAPLCConfig",
    "XLNetWithAPLC",
    "XMCDataset",
    "XMCInputError",
    "__version__",
    "compute_xmc_metrics",
    "inverse_propensity",
    "load_metric",
    "load_xmc_dataset",
    "top_k_ids",
]
