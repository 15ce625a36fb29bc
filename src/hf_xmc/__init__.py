"""hf-xmc: extreme multi-label text classification (XMC) as ordinary Hugging Face citizens.

Importing `hf_xmc` registers its models with the `transformers` Auto classes, so `AutoModel.from_pretrained(path)`
returns the right hf-xmc class for any checkpoint it wrote. It does so lazily (`hf_xmc.registration`): the data layer,
the metrics and `hf-xmc --help` never import torch or transformers. Every name below loads its sub-module on first
access (`hf_xmc.EncoderWithAPLC` imports the models), and the Auto registration happens when transformers' Auto
classes are first consulted.
"""

from __future__ import annotations

import importlib

from .registration import register_auto_classes_lazily

__version__ = "0.1.0"

# name -> sub-module; loaded on first access, so `import hf_xmc` (and `hf-xmc --help`) costs nothing and the model
# classes (torch, transformers) load only when used.
_LAZY = {
    "LabelVocabulary": "data",
    "XMCDataset": "data",
    "XMCInputError": "data",
    "inverse_propensity": "data",
    "load_xmc_dataset": "data",
    "compute_xmc_metrics": "metrics",
    "load_metric": "metrics",
    "top_k_ids": "metrics",
    "EncoderAPLCConfig": "models",
    "EncoderWithAPLC": "models",
    "XLNetAPLCConfig": "models",
    "XLNetWithAPLC": "models",
    "ClusterContrastiveLoss": "maclr",
    "LabelRegularizationLoss": "maclr",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_auto_classes_lazily()

__all__ = [
    "ClusterContrastiveLoss",
    "EncoderAPLCConfig",
    "EncoderWithAPLC",
    "LabelRegularizationLoss",
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
