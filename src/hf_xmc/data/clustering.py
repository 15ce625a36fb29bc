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
    label_features,
    n_clusters: int,
    seed: int = 0,
    minibatch: bool | None = None,
    n_init: int = 3,
    max_iter: int = 100,
    order_by_size: bool = True,
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
        model = MiniBatchKMeans(
            n_clusters=n_clusters, random_state=seed, n_init=n_init, max_iter=max_iter, batch_size=4096
        )
    else:
        model = KMeans(n_clusters=n_clusters, random_state=seed, n_init=n_init, max_iter=max_iter)
    cluster_ids = model.fit_predict(label_features).astype(np.int64)
    return renumber_by_size(cluster_ids) if order_by_size else cluster_ids


def _two_means_split(features, rng: np.random.Generator, eps: float, max_iter: int) -> np.ndarray:
    """Balanced 2-means of the rows of one node's `features` (normalised); returns the mask of the first half."""
    num_rows = features.shape[0]
    half = num_rows // 2
    if sp.issparse(features):  # work in the node's own columns: the centres stay as small as the node
        columns = np.unique(features.indices)
        if not len(columns):  # all-zero rows (labels without training documents): any balanced split is as good
            left = np.zeros(num_rows, dtype=bool)
            left[rng.permutation(num_rows)[:half]] = True
            return left
        features = features[:, columns]
    first = rng.choice(num_rows, size=2, replace=False)
    centres = features[first]
    centres = centres.toarray() if sp.issparse(centres) else np.array(centres)
    old_objective, left = -np.inf, None
    for _ in range(max_iter):
        similarity = np.asarray(features @ centres.T)
        difference = similarity[:, 0] - similarity[:, 1]
        left = np.zeros(num_rows, dtype=bool)
        left[np.argpartition(-difference, half - 1)[:half]] = True
        objective = (similarity[left, 0].sum() + similarity[~left, 1].sum()) / num_rows
        if objective - old_objective < eps:
            break
        old_objective = objective
        centres = normalize(
            np.vstack([np.asarray(features[left].sum(axis=0)), np.asarray(features[~left].sum(axis=0))])
        )
    return left


def _split_level_dense(
    features: np.ndarray,
    groups: np.ndarray,
    num_groups: int,
    max_leaf_size: int,
    rng: np.random.Generator,
    eps: float,
    max_iter: int,
) -> np.ndarray:
    """Split every group of one tree level at once (dense features); returns the side (0/1) of every label.

    The labels are laid out group by group; each iteration ranks every group's labels by `x . (c0 - c1)` (one sort
    on `(group, -difference)`, so a group's first half is contiguous), sums both halves with one sparse product and
    takes the normalised sums as the new centres. The level stops when no group's mean similarity to its centre
    gains `eps` any more.
    """
    num_labels, dim = features.shape
    layout = np.argsort(groups, kind="stable")
    level_features, level_groups = features[layout], groups[layout]
    sizes = np.bincount(level_groups, minlength=num_groups)
    splits = sizes > max_leaf_size
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    halves = np.where(splits, sizes // 2, sizes)  # a group that is not split stays whole on the left
    positions = np.arange(num_labels)
    right_in_sorted = (positions - starts[level_groups]) >= halves[level_groups]
    indptr = np.r_[np.stack([starts, starts + halves], axis=1).ravel(), num_labels]
    ones = np.ones(num_labels, dtype=np.float32)
    first = starts + (rng.random(num_groups) * sizes).astype(np.int64)
    second = starts + (first - starts + 1 + (rng.random(num_groups) * (sizes - 1)).astype(np.int64)) % np.maximum(
        sizes, 1
    )
    first, second = np.minimum(first, num_labels - 1), np.minimum(second, num_labels - 1)  # empty groups
    centres = np.stack([level_features[first], level_features[second]], axis=1)
    group_key = level_groups * 8.0  # |difference| <= 2 for unit vectors: the group stays the primary key
    old_objective = np.full(num_groups, -np.inf)
    order = positions
    for _ in range(max_iter):
        difference = np.einsum("nd,nd->n", level_features, (centres[:, 0] - centres[:, 1])[level_groups])
        order = np.argsort(group_key - difference)
        # rows of the sorted layout are (group, side) segments: a CSR indicator built without any sorting
        indicator = sp.csr_matrix((ones, order, indptr), shape=(2 * num_groups, num_labels))
        sums = np.asarray(indicator @ level_features).reshape(num_groups, 2, dim)
        objective = np.einsum("gkd,gkd->g", sums, centres) / np.maximum(sizes, 1)
        if not np.any((objective - old_objective)[splits] >= eps):
            break
        old_objective = objective
        centres = normalize(sums.reshape(2 * num_groups, dim)).reshape(num_groups, 2, dim).astype(np.float32)
    side = np.empty(num_labels, dtype=np.int64)
    side[layout[order]] = right_in_sorted
    return side


def balanced_label_clusters(
    label_features,
    max_leaf_size: int = 100,
    seed: int = 0,
    eps: float = 1e-4,
    max_iter: int = 20,
    show_progress: bool = False,
) -> np.ndarray:
    """Balanced hierarchical 2-means (AttentionXML / LightXML label groups).

    Dense features split a whole tree level at once (vectorised over its nodes); sparse features split node by node,
    each node in its own columns.

    Args:
        label_features (`np.ndarray` or `scipy.sparse` matrix of shape `(L, D)`): e.g. `pifa_label_features`; rows
            are L2-normalised here (cosine similarity).
        max_leaf_size (`int`): split until every cluster holds at most this many labels (LightXML: 100).
        seed (`int`): seed of the centre initialisation (differently seeded trees give the ensemble's variety).
        eps (`float`): a node stops when its mean similarity to its centre gains less than this.
        max_iter (`int`): iterations per level (dense) or node (sparse) at most.
        show_progress (`bool`): a progress bar over tree levels.

    Returns:
        `np.ndarray` int64 of shape `(L,)`: the leaf cluster of every label, leaves numbered left to right; sizes
        within a level differ by at most one.
    """
    if max_leaf_size < 1:
        raise ValueError(f"max_leaf_size must be >= 1, got {max_leaf_size}.")
    sparse = sp.issparse(label_features)
    features = normalize(
        sp.csr_matrix(label_features, dtype=np.float32) if sparse else np.asarray(label_features, dtype=np.float32)
    )
    num_labels = features.shape[0]
    rng = np.random.default_rng(seed)
    groups = np.zeros(num_labels, dtype=np.int64)
    num_groups = 1
    levels = int(np.ceil(np.log2(max(num_labels / max_leaf_size, 1))))
    for _ in tqdm(range(levels), desc="balanced 2-means", disable=not show_progress):
        if sparse:
            side = np.zeros(num_labels, dtype=np.int64)
            members = np.argsort(groups, kind="stable")
            bounds = np.r_[0, np.cumsum(np.bincount(groups, minlength=num_groups))]
            for group in range(num_groups):
                rows = members[bounds[group] : bounds[group + 1]]
                if len(rows) > max_leaf_size:
                    side[rows] = ~_two_means_split(features[rows], rng, eps, max_iter)
        else:
            side = _split_level_dense(features, groups, num_groups, max_leaf_size, rng, eps, max_iter)
        groups = groups * 2 + side
        num_groups *= 2
    # leaves that were not split leave gaps in the numbering: make it 0..K-1, left to right
    return np.unique(groups, return_inverse=True)[1].astype(np.int64)


def cluster_labels(
    label_features,
    method: str = "balanced",
    n_clusters: int | None = None,
    max_leaf_size: int = 100,
    seed: int = 0,
    **kwargs,
) -> np.ndarray:
    """One entry point: `method="kmeans"` (needs `n_clusters`) or `"balanced"` (needs `max_leaf_size`)."""
    if method == "kmeans":
        if n_clusters is None:
            raise ValueError("method='kmeans' needs n_clusters.")
        return kmeans_label_clusters(label_features, n_clusters, seed=seed, **kwargs)
    if method == "balanced":
        return balanced_label_clusters(label_features, max_leaf_size=max_leaf_size, seed=seed, **kwargs)
    raise ValueError(f"method={method!r} must be 'kmeans' or 'balanced'.")
