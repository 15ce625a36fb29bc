"""Label clustering on label features (e.g. PIFA): seeded K-means and balanced hierarchical 2-means.

- `kmeans_label_clusters`: flat K-means (scikit-learn `KMeans`, or `MiniBatchKMeans` for large label sets), as XLGen
  clusters its labels (30 clusters, renumbered by decreasing size).
- `balanced_label_clusters`: AttentionXML / LightXML recursive balanced 2-means: every node is split into two halves
  of equal size (the labels ranked by the difference of their cosine similarity to the two centres) until every leaf
  holds at most `max_leaf_size` labels. Each node costs a product with two centres, so the whole tree is
  `O(nnz(features) * depth * iterations)`: nothing is `L x L`, and 1M labels fit.

Both return one cluster id per label (`np.ndarray` int64 of shape `(L,)`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.preprocessing import normalize
from tqdm.auto import tqdm


MINIBATCH_ABOVE = 50_000


def renumber_by_size(cluster_ids: np.ndarray) -> np.ndarray:
    """Renumber clusters so that cluster 0 is the largest (ties: lower old id first)."""
    sizes = np.bincount(cluster_ids)
    order = np.argsort(-sizes, kind="stable")
    new_id = np.empty_like(order)
    new_id[order] = np.arange(len(order))
    return new_id[cluster_ids].astype(np.int64)


def kmeans_label_clusters(
    label_features, n_clusters: int, seed: int = 0, minibatch: bool | None = None, n_init: int = 3,
    max_iter: int = 100, order_by_size: bool = True,
) -> np.ndarray:
    """Seeded flat K-means on label features.

    Args:
        label_features (`np.ndarray` or `scipy.sparse` matrix of shape `(L, D)`): e.g. `pifa_label_features`.
        n_clusters (`int`): number of clusters (at most `L`).
        seed (`int`): random state (results are reproducible).
        minibatch (`bool`, *optional*): use `MiniBatchKMeans`; default: when `L > 50,000`.
        n_init, max_iter (`int`): passed to scikit-learn.
        order_by_size (`bool`): renumber clusters by decreasing size (XLGen's cluster vocabulary order).

    Returns:
        `np.ndarray` int64 of shape `(L,)`: the cluster of every label.
    """
    num_labels = label_features.shape[0]
    if not 1 <= n_clusters <= num_labels:
        raise ValueError(f"n_clusters={n_clusters} must be between 1 and the number of labels ({num_labels}).")
    minibatch = num_labels > MINIBATCH_ABOVE if minibatch is None else minibatch
    if minibatch:
        model = MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, n_init=n_init, max_iter=max_iter,
                                batch_size=4096)
    else:
        model = KMeans(n_clusters=n_clusters, random_state=seed, n_init=n_init, max_iter=max_iter)
    cluster_ids = model.fit_predict(label_features).astype(np.int64)
    return renumber_by_size(cluster_ids) if order_by_size else cluster_ids


def _two_means_split(features, rng: np.random.Generator, eps: float, max_iter: int) -> np.ndarray:
    """Balanced 2-means of the rows of `features` (normalised); returns a boolean mask of the first half."""
    num_rows = features.shape[0]
    half = num_rows // 2
    first = rng.choice(num_rows, size=2, replace=False)
    centres = features[first]
    centres = centres.toarray() if sp.issparse(centres) else np.array(centres)
    old_objective, left = -np.inf, None
    for _ in range(max_iter):
        similarity = np.asarray(features @ centres.T)
        difference = similarity[:, 0] - similarity[:, 1]
        order = np.argpartition(-difference, half - 1) if 0 < half < num_rows else np.argsort(-difference)
        left = np.zeros(num_rows, dtype=bool)
        left[order[:half]] = True
        objective = (similarity[left, 0].sum() + similarity[~left, 1].sum()) / num_rows
        if objective - old_objective < eps:
            break
        old_objective = objective
        centres = np.vstack([np.asarray(features[left].sum(axis=0)), np.asarray(features[~left].sum(axis=0))])
        centres = normalize(centres)
    return left


def balanced_label_clusters(
    label_features, max_leaf_size: int = 100, seed: int = 0, eps: float = 1e-4, max_iter: int = 20,
    show_progress: bool = False,
) -> np.ndarray:
    """Balanced hierarchical 2-means (AttentionXML / LightXML label groups).

    Args:
        label_features (`np.ndarray` or `scipy.sparse` matrix of shape `(L, D)`): e.g. `pifa_label_features`; rows
            are L2-normalised here (cosine similarity).
        max_leaf_size (`int`): split until every cluster holds at most this many labels (LightXML: 100).
        seed (`int`): seed of the centre initialisation (differently seeded trees give the ensemble's variety).
        eps (`float`): stop a node's iterations when the mean similarity gains less than this.
        max_iter (`int`): iterations per node at most.
        show_progress (`bool`): a progress bar over tree levels.

    Returns:
        `np.ndarray` int64 of shape `(L,)`: the leaf cluster of every label; leaves are numbered left to right and
        their sizes differ by at most one within a level.
    """
    if max_leaf_size < 1:
        raise ValueError(f"max_leaf_size must be >= 1, got {max_leaf_size}.")
    features = sp.csr_matrix(label_features, dtype=np.float32) if sp.issparse(label_features) else np.asarray(
        label_features, dtype=np.float32)
    features = normalize(features)
    rng = np.random.default_rng(seed)
    groups = [np.arange(features.shape[0])]
    levels = int(np.ceil(np.log2(max(features.shape[0] / max_leaf_size, 1))))
    for _ in tqdm(range(levels), desc="balanced 2-means", disable=not show_progress):
        next_groups = []
        for group in groups:
            if len(group) <= max_leaf_size:
                next_groups.append(group)
                continue
            left = _two_means_split(features[group], rng, eps, max_iter)
            next_groups.extend([group[left], group[~left]])
        groups = next_groups
    cluster_ids = np.empty(features.shape[0], dtype=np.int64)
    for index, group in enumerate(groups):
        cluster_ids[group] = index
    return cluster_ids


def cluster_labels(label_features, method: str = "balanced", n_clusters: int | None = None,
                   max_leaf_size: int = 100, seed: int = 0, **kwargs) -> np.ndarray:
    """One entry point: `method="kmeans"` (needs `n_clusters`) or `"balanced"` (needs `max_leaf_size`)."""
    if method == "kmeans":
        if n_clusters is None:
            raise ValueError("method='kmeans' needs n_clusters.")
        return kmeans_label_clusters(label_features, n_clusters, seed=seed, **kwargs)
    if method == "balanced":
        return balanced_label_clusters(label_features, max_leaf_size=max_leaf_size, seed=seed, **kwargs)
    raise ValueError(f"method={method!r} must be 'kmeans' or 'balanced'.")
