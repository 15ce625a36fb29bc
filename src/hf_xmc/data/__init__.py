"""The XMC data layer: loaders for every supported layout, the label vocabulary and the label utilities.

The clustering and PIFA helpers import scikit-learn, so they load on first use (`from hf_xmc.data import
balanced_label_clusters` works as usual); loading a data set does not pay for them.
"""

from __future__ import annotations

import importlib

from .dataset import XMCDataset
from .errors import XMCInputError
from .hf_dataset import xmc_dataset_from_hf
from .label_matrix import build_label_matrix, label_counts
from .loading import BUILTIN_DATASETS, builtin_dataset_path, detect_layout, load_xmc_dataset
from .parquet import save_xmc_dataset_parquet
from .propensity import PROPENSITY_PRESETS, inverse_propensity, resolve_propensity_params
from .simulate import drop_positives, few_shot_label_subset
from .vocabulary import LABEL_VOCABULARY_FILE, LabelVocabulary

_LAZY = {
    "balanced_label_clusters": "clustering",
    "cluster_labels": "clustering",
    "kmeans_label_clusters": "clustering",
    "pifa_from_xmc": "features",
    "pifa_label_features": "features",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILTIN_DATASETS",
    "LABEL_VOCABULARY_FILE",
    "LabelVocabulary",
    "PROPENSITY_PRESETS",
    "XMCDataset",
    "XMCInputError",
    "balanced_label_clusters",
    "build_label_matrix",
    "builtin_dataset_path",
    "cluster_labels",
    "detect_layout",
    "drop_positives",
    "few_shot_label_subset",
    "inverse_propensity",
    "kmeans_label_clusters",
    "label_counts",
    "load_xmc_dataset",
    "pifa_from_xmc",
    "pifa_label_features",
    "resolve_propensity_params",
    "save_xmc_dataset_parquet",
    "xmc_dataset_from_hf",
]
