"""What XLGen learns to generate: the label order of a target sequence and each document's clusters.

Label ids of a `LabelVocabulary` are in decreasing training frequency (ties in first-seen order), so the paper's
default order (§3.1, "Frequency") is simply increasing id; "inverse" is decreasing id (§5.1); "shuffle" draws a new
order every time a document is seen (once per epoch); "given" keeps the data set's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.errors import XMCInputError

LABEL_ORDERS = ("frequency", "inverse", "shuffle", "given")


def check_label_order(order: str) -> str:
    if order not in LABEL_ORDERS:
        raise ValueError(f"--label_order must be one of {LABEL_ORDERS}, got {order!r}")
    return order


def order_labels(
    label_ids: Sequence[int], order: str = "frequency", rng: np.random.Generator | None = None
) -> list[int]:
    """One document's label ids (vocabulary ids, i.e. frequency ranks) in the target order, repeats removed.

    Args:
        label_ids (`Sequence[int]`): the document's labels.
        order (`str`): `"frequency"` (most frequent first, the paper's default), `"inverse"` (rarest first),
            `"shuffle"` (random, needs `rng`) or `"given"`.
        rng (`np.random.Generator`, *optional*): for `"shuffle"`.
    """
    unique = list(dict.fromkeys(int(i) for i in label_ids))
    if order == "frequency":
        return sorted(unique)
    if order == "inverse":
        return sorted(unique, reverse=True)
    if order == "shuffle":
        if rng is None:
            raise ValueError("order='shuffle' needs a random generator (rng)")
        return [unique[i] for i in rng.permutation(len(unique))]
    if order == "given":
        return unique
    raise ValueError(f"order must be one of {LABEL_ORDERS}, got {order!r}")


def document_clusters(label_ids: Sequence[int], label_clusters: np.ndarray) -> list[int]:
    """The distinct clusters of a document's labels, the cluster holding most of them first (ties: lower id).

    This is the reference code's training order of the MCG cluster sequence.
    """
    if len(label_ids) == 0:
        return []
    counts = np.bincount(label_clusters[np.asarray(label_ids, dtype=np.int64)])
    present = np.nonzero(counts)[0]
    return present[np.lexsort((present, -counts[present]))].tolist()


def multi_hot_clusters(label_ids: Sequence[int], label_clusters: np.ndarray, num_clusters: int) -> np.ndarray:
    """BCL's multi-cluster target: `v_i = 1` if a label of the document is in cluster `i` (float32, `(K,)`)."""
    target = np.zeros(num_clusters, dtype=np.float32)
    if len(label_ids):
        target[label_clusters[np.asarray(label_ids, dtype=np.int64)]] = 1.0
    return target


def check_label_clusters(label_clusters: np.ndarray, num_labels: int, num_clusters: int) -> np.ndarray:
    """A label -> cluster array of the right shape and range, or an `XMCInputError` saying what is wrong."""
    label_clusters = np.asarray(label_clusters, dtype=np.int64)
    if label_clusters.shape != (num_labels,):
        raise XMCInputError(
            f"label_clusters must hold one cluster per label ({num_labels}), got {label_clusters.shape}"
        )
    if label_clusters.size and (label_clusters.min() < 0 or label_clusters.max() >= num_clusters):
        raise XMCInputError(f"label_clusters has ids outside 0..{num_clusters - 1}")
    return label_clusters


def check_num_clusters(num_clusters: int, num_labels: int) -> None:
    """More clusters than labels cannot be built; say so before K-means does."""
    if not 1 <= num_clusters <= num_labels:
        raise ValueError(
            f"--num_clusters must be between 1 and the number of labels ({num_labels}), got {num_clusters}"
        )


__all__ = [
    "LABEL_ORDERS",
    "check_label_clusters",
    "check_label_order",
    "check_num_clusters",
    "document_clusters",
    "multi_hot_clusters",
    "order_labels",
]
