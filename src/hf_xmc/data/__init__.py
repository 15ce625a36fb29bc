"""The XMC data layer: loaders for every supported layout, the label vocabulary and the label utilities."""

from __future__ import annotations

from .clustering import balanced_label_clusters, cluster_labels, kmeans_label_clusters
from .dataset import XMCDataset
from .errors import XMCInputError
from .features import pifa_from_xmc, pifa_label_features
from .label_matrix import build_label_matrix, label_counts
from .hf_dataset import xmc_dataset_from_hf
from .loading import BUILTIN_DATASETS, builtin_dataset_path, detect_layout, load_xmc_dataset
from .parquet import save_xmc_dataset_parquet
from .propensity import PROPENSITY_PRESETS, inverse_propensity, resolve_propensity_params
from .simulate import drop_positives, few_shot_label_subset
from .vocabulary import LABEL_VOCABULARY_FILE, LabelVocabulary


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
