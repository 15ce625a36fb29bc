"""Set metrics for generated or thresholded predictions (XLGen's evaluation, done consistently).

A predicted id outside the label space is a false positive (XLGen's script drops it; here it counts against
precision). Repeated ids count once.

- ``micro_precision`` = TP / #predicted, ``micro_recall`` = TP / #relevant, ``micro_f1`` their harmonic mean.
- ``macro_precision`` / ``macro_recall`` / ``macro_f1``: per-label precision, recall and F1 (F1_l = 2 TP_l /
  (#predicted_l + #relevant_l)), averaged over the labels **relevant to at least one document of the evaluated
  set**, as XLGen does (scikit-learn averages over every label, napkinXC over ids 0..max id seen).
- ``F1@k``: XLGen's appendix "@k" F1: micro precision and recall of the first k predictions of each document
  (precision's denominator is the number of predictions actually made there, at most k per document), then their
  harmonic mean.
- ``macro_f1_<group>``: ``macro_f1`` restricted to the labels of a training-frequency group (needs label counts):
  ``0shot`` (never seen in training), ``1shot`` (once), ``1to3shot``, ``1to5shot``, ``1to10shot`` (1..N times).
  NaN when no label of the group is relevant to any evaluated document.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .ranking import lookup_hits

# group name -> (min, max) training count, inclusive; XLGen's tail tables
FREQUENCY_GROUPS: dict[str, tuple[int, int]] = {
    "0shot": (0, 0),
    "1shot": (1, 1),
    "1to3shot": (1, 3),
    "1to5shot": (1, 5),
    "1to10shot": (1, 10),
}


def _harmonic(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator > 0)


def set_metrics(
    indptr: np.ndarray,
    ids: np.ndarray,
    references: sp.csr_matrix,
    ks: list[int],
    label_counts: np.ndarray | None = None,
) -> dict[str, float]:
    """Micro/macro precision, recall, F1, F1@k and frequency-group macro F1.

    Args:
        indptr (`np.ndarray` of shape `(n + 1,)`), ids (`np.ndarray`): the predicted sets as CSR arrays, each row in
            ranked order, without repeats or padding; ids outside `[0, L)` allowed.
        references (`scipy.sparse.csr_matrix` of shape `(n, L)`): canonical binary relevance matrix.
        ks (`list[int]`): cut-offs for F1@k.
        label_counts (`np.ndarray` of shape `(L,)`, *optional*): training counts; enables the group metrics.
    """
    n, num_labels = references.shape
    lengths = np.diff(indptr)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    hits = lookup_hits(rows, ids, references)
    num_predicted, num_relevant, true_positives = ids.size, references.nnz, int(hits.sum())

    micro_precision = true_positives / num_predicted if num_predicted else 0.0
    micro_recall = true_positives / num_relevant if num_relevant else 0.0
    results = {
        "micro_precision": float(micro_precision),
        "micro_recall": float(micro_recall),
        "micro_f1": float(_harmonic(micro_precision, micro_recall)),
    }

    in_space = (ids >= 0) & (ids < num_labels)
    tp_per_label = np.bincount(ids[hits], minlength=num_labels).astype(np.float64)
    predicted_per_label = np.bincount(ids[in_space], minlength=num_labels).astype(np.float64)
    relevant_per_label = np.bincount(references.indices, minlength=num_labels).astype(np.float64)
    precision_per_label = _safe_divide(tp_per_label, predicted_per_label)
    recall_per_label = _safe_divide(tp_per_label, relevant_per_label)
    f1_per_label = _safe_divide(2 * tp_per_label, predicted_per_label + relevant_per_label)
    present = relevant_per_label > 0
    for name, values in (("precision", precision_per_label), ("recall", recall_per_label), ("f1", f1_per_label)):
        results[f"macro_{name}"] = float(values[present].mean()) if present.any() else 0.0

    position = np.arange(ids.size) - indptr[rows]
    for k in ks:
        first_k = position < k
        made, hit_k = int(first_k.sum()), int(hits[first_k].sum())
        precision_k = hit_k / made if made else 0.0
        recall_k = hit_k / num_relevant if num_relevant else 0.0
        results[f"F1@{k}"] = float(_harmonic(precision_k, recall_k))

    if label_counts is not None:
        for group, (low, high) in FREQUENCY_GROUPS.items():
            members = present & (label_counts >= low) & (label_counts <= high)
            results[f"macro_f1_{group}"] = float(f1_per_label[members].mean()) if members.any() else float("nan")
    return results
