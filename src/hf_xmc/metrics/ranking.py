"""Ranking metrics at k from ranked ids and a binary reference matrix, vectorised over documents.

Every metric is averaged over **all** documents (a document without a relevant label contributes 0), as napkinXC,
pyxclib and the Extreme Classification Repository do. With ``h_ij`` = 1 when the j-th predicted id of document i is
relevant, ``w_l`` the inverse propensity of label l, ``y_i`` the relevant set, ``d_j = 1 / log2(j + 1)``:

- ``P@k = 1/n sum_i 1/k sum_{j<=k} h_ij``
- ``nDCG@k = 1/n sum_i (sum_{j<=k} d_j h_ij) / (sum_{j<=min(k,|y_i|)} d_j)``
- ``R@k = 1/n sum_i (sum_{j<=k} h_ij) / |y_i|``
- ``coverage@k`` = distinct labels hit in some top-k / distinct labels relevant to some document
- ``PSP@k``, ``PSnDCG@k``, ``PSR@k``: the same with ``h_ij`` weighted by ``w`` of the predicted label
  (unnormalised, may exceed 1; napkinXC's ``normalize=False``);
- ``PSP@k_norm``, ``PSnDCG@k_norm``, ``PSR@k_norm``: dataset-level ratio of the weighted sum to the best achievable
  weighted sum (each document's relevant labels ranked by decreasing ``w``), as pyxclib's ``psprecision``/``psndcg``/
  ``psrecall`` and napkinXC's ``normalize=True``; in [0, 1].
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .topk import sparse_row_top_values


def lookup_hits(rows: np.ndarray, ids: np.ndarray, references: sp.csr_matrix) -> np.ndarray:
    """Whether ``references[rows, ids]`` is set, for many (row, id) pairs at once; ids outside `[0, L)` are misses.

    References in canonical CSR form are sorted by (row, id), so ``row * L + id`` is a sorted key array and one
    `np.searchsorted` answers every lookup in O(m log nnz) time and O(m) memory.
    """
    num_labels = references.shape[1]
    valid = (ids >= 0) & (ids < num_labels)
    if references.nnz == 0 or num_labels == 0:
        return np.zeros(ids.shape, dtype=bool)
    ref_rows = np.repeat(np.arange(references.shape[0], dtype=np.int64), np.diff(references.indptr))
    ref_keys = ref_rows * num_labels + references.indices
    keys = rows.astype(np.int64) * num_labels + np.where(valid, ids, 0)
    position = np.minimum(np.searchsorted(ref_keys, keys), ref_keys.size - 1)
    return valid & (ref_keys[position] == keys)


def _count_distinct(ids: np.ndarray, num_labels: int) -> int:
    """Distinct values among ids in `[0, num_labels)`: a bitmap for label spaces of ordinary size, else a sort."""
    if num_labels <= 50 * ids.size + 1_000_000:
        seen = np.zeros(num_labels, dtype=bool)
        seen[ids] = True
        return int(seen.sum())
    return int(np.unique(ids).size)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else 0.0


def ranking_metrics(
    ids: np.ndarray, references: sp.csr_matrix, ks: list[int], inv_propensity: np.ndarray | None = None
) -> dict[str, float]:
    """All ranking metrics for each k in ``ks``.

    Args:
        ids (`np.ndarray` of shape `(n, K)`, `K >= max(ks)`): ranked label ids; `-1` for empty slots, ids outside
            the label space are misses.
        references (`scipy.sparse.csr_matrix` of shape `(n, L)`): canonical binary relevance matrix.
        ks (`list[int]`): cut-offs.
        inv_propensity (`np.ndarray` of shape `(L,)`, *optional*): enables the propensity-scored metrics.
    """
    n, width = ids.shape
    num_labels = references.shape[1]
    hits = lookup_hits(np.arange(n, dtype=np.int64)[:, None], ids, references)
    num_true = np.diff(references.indptr).astype(np.float64)
    has_true = num_true > 0
    safe_true = np.where(has_true, num_true, 1.0)
    discount = 1.0 / np.log2(np.arange(width) + 2.0)
    ideal = np.concatenate([[1.0], np.cumsum(discount)])  # ideal[m] = DCG of m hits at the top; [0] avoids 0/0

    hit_counts = np.cumsum(hits, axis=1, dtype=np.float64)
    dcg = np.cumsum(hits * discount, axis=1)
    results: dict[str, float] = {}
    for k in ks:
        results[f"P@{k}"] = float(hit_counts[:, k - 1].sum() / (n * k))
    for k in ks:
        idcg = ideal[np.minimum(num_true, k).astype(np.int64)]
        results[f"nDCG@{k}"] = float(np.where(has_true, dcg[:, k - 1] / idcg, 0.0).sum() / n)
    for k in ks:
        results[f"R@{k}"] = float((hit_counts[:, k - 1] / safe_true).sum() / n)
    num_relevant_labels = _count_distinct(references.indices, num_labels)
    for k in ks:
        covered = _count_distinct(ids[:, :k][hits[:, :k]], num_labels)
        results[f"coverage@{k}"] = _ratio(covered, num_relevant_labels)
    if inv_propensity is None:
        return results

    weights = np.where(hits, inv_propensity[np.where(hits, ids, 0)], 0.0)
    best = sparse_row_top_values(references.indptr, inv_propensity[references.indices], width)
    gain, best_gain = np.cumsum(weights, axis=1), np.cumsum(best, axis=1)
    psdcg, best_psdcg = np.cumsum(weights * discount, axis=1), np.cumsum(best * discount, axis=1)
    for k in ks:
        results[f"PSP@{k}"] = float(gain[:, k - 1].sum() / (n * k))
        results[f"PSP@{k}_norm"] = _ratio(gain[:, k - 1].sum(), best_gain[:, k - 1].sum())
    for k in ks:
        idcg = ideal[np.minimum(num_true, k).astype(np.int64)]
        scaled = np.where(has_true, psdcg[:, k - 1] / idcg, 0.0)
        best_scaled = np.where(has_true, best_psdcg[:, k - 1] / idcg, 0.0)
        results[f"PSnDCG@{k}"] = float(scaled.sum() / n)
        results[f"PSnDCG@{k}_norm"] = _ratio(scaled.sum(), best_scaled.sum())
    for k in ks:
        recalled = gain[:, k - 1] / safe_true
        results[f"PSR@{k}"] = float(recalled.sum() / n)
        results[f"PSR@{k}_norm"] = _ratio(recalled.sum(), (best_gain[:, k - 1] / safe_true).sum())
    return results
