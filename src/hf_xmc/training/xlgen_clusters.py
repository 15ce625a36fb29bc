"""XLGen's label clusters: PIFA label features over TF-IDF of the training texts, seeded K-means (from the data
layer), saved next to the checkpoint; and the λ annealing of eq. 1 (paper A.2: λ = 1/epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

from ..data import XMCInputError

LABEL_CLUSTERS_FILE = "label_clusters.json"


def compute_label_clusters(xmc, num_clusters: int, seed: int = 0, max_features: int = 100_000) -> np.ndarray:
    """One cluster per label (renumbered by decreasing size): K-means on PIFA features of TF-IDF training texts.

    The paper clusters PIFA over T5 encoder means and reports TF-IDF as equally good (Table 16); TF-IDF needs no model
    pass. Labels without training documents have all-zero features and fall in whichever cluster K-means gives them.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ..data import kmeans_label_clusters, pifa_label_features

    train = xmc.splits["train"]
    if "text" not in train.column_names:
        if xmc.features and "train" in xmc.features:
            features = xmc.features["train"]
        else:
            raise XMCInputError("the data set has neither texts nor features to cluster its labels on")
    else:
        vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=max_features)
        features = vectorizer.fit_transform(train["text"])
    label_features = pifa_label_features(xmc.label_matrix("train"), features)
    return kmeans_label_clusters(label_features, num_clusters, seed=seed)


def save_label_clusters(directory, label_clusters: np.ndarray) -> Path:
    path = Path(directory) / LABEL_CLUSTERS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    clusters = np.asarray(label_clusters, dtype=np.int64)
    payload = {"num_clusters": int(clusters.max()) + 1, "label_clusters": clusters.tolist()}
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def load_label_clusters(directory) -> np.ndarray:
    path = Path(directory) / LABEL_CLUSTERS_FILE
    if not path.is_file():
        raise XMCInputError(f"{directory} has no {LABEL_CLUSTERS_FILE}: a bcl/mcg checkpoint needs its label clusters")
    return np.asarray(json.loads(path.read_text(encoding="utf-8"))["label_clusters"], dtype=np.int64)


class ClusterLossAnnealingCallback(TrainerCallback):
    """λ = `initial_weight / k` during epoch k (1-based), the paper's BCL schedule; the saved config keeps λ."""

    def __init__(self, initial_weight: float):
        self.initial_weight = float(initial_weight)

    def on_epoch_begin(self, args, state, control, model=None, **kwargs):
        if model is not None:
            model.cluster_loss_weight = self.initial_weight / (int(state.epoch or 0) + 1)


__all__ = [
    "LABEL_CLUSTERS_FILE",
    "ClusterLossAnnealingCallback",
    "compute_label_clusters",
    "load_label_clusters",
    "save_label_clusters",
]
