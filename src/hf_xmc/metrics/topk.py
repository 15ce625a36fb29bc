"""Row-wise top-k of score matrices (dense numpy or scipy sparse), the one top-k of hf-xmc's numpy code.

Ties are broken deterministically: among equal scores the **lower label id ranks first**. Entries of a sparse score
matrix that are not stored are *not predictions* (they are never ranked); stored entries are, whatever their value.
When a row has fewer than ``k`` candidates the result is padded with ``-1``.

The work is vectorised over rows and done in chunks of about `_CHUNK_ELEMENTS` scores, so the extra memory is
O(chunk + n * k), never O(n * L) beyond the input itself.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

PAD_ID = -1
_CHUNK_ELEMENTS = 1 << 22


def check_k(k) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if k <= 0:
        raise ValueError(f"k must be a positive integer, got k={k}.")
    return int(k)


def _select_padded(scores: np.ndarray, k: int) -> np.ndarray:
    """Columns of the top-``k`` entries of each row, best first, ties broken by the lower column.

    Args:
        scores (`np.ndarray` of shape `(m, M)`): float scores; padding entries must be `-inf` and sit after the real
            entries of their row (so "lower column" is "lower label id" for real entries and "real before padding").

    Returns:
        `np.ndarray` of shape `(m, min(k, M))`: column positions.
    """
    m, width = scores.shape
    if k >= width:
        candidates = np.broadcast_to(np.arange(width), (m, width))
    else:
        top = np.argpartition(scores, width - k, axis=1)[:, width - k :]
        threshold = np.take_along_axis(scores, top, axis=1).min(axis=1)
        at_least = scores >= threshold[:, None]
        tied_rows = np.flatnonzero(at_least.sum(axis=1) > k)
        if tied_rows.size:
            # argpartition picked an arbitrary subset of the entries tied at the k-th score: keep every entry above
            # the threshold and fill up with the tied entries of the lowest columns.
            sub = scores[tied_rows]
            sub_threshold = threshold[tied_rows][:, None]
            above_r, above_c = np.nonzero(sub > sub_threshold)
            tied_r, tied_c = np.nonzero(sub == sub_threshold)
            need = k - np.bincount(above_r, minlength=tied_rows.size)
            first_of_row = np.searchsorted(tied_r, np.arange(tied_rows.size))
            keep = np.arange(tied_r.size) - first_of_row[tied_r] < need[tied_r]
            rows = np.concatenate([above_r, tied_r[keep]])
            cols = np.concatenate([above_c, tied_c[keep]])
            keys = np.sort(rows.astype(np.int64) * width + cols)
            top[tied_rows] = (keys % width).reshape(tied_rows.size, k)
        candidates = np.sort(top, axis=1)
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    # a stable sort of the descending scores over ascending columns = (score desc, column asc)
    order = np.argsort(-candidate_scores, axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def _check_finite_scores(values: np.ndarray, name: str) -> None:
    if values.dtype.kind == "f" and np.isnan(values).any():
        bad = np.argwhere(np.isnan(values))[0]
        raise ValueError(f"{name} contains NaN scores (first at position {tuple(int(i) for i in bad)}).")


def _dense_top_k(scores: np.ndarray, k: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    n, num_labels = scores.shape
    ids = np.full((n, k), PAD_ID, dtype=np.int64)
    values = np.full((n, k), -np.inf, dtype=np.float64)
    if num_labels == 0:
        return ids, values
    step = max(1, _CHUNK_ELEMENTS // num_labels)
    for start in range(0, n, step):
        chunk = np.asarray(scores[start : start + step])
        if chunk.dtype.kind not in "f":
            chunk = chunk.astype(np.float64)
        _check_finite_scores(chunk, name)
        cols = _select_padded(chunk, k)
        ids[start : start + step, : cols.shape[1]] = cols
        values[start : start + step, : cols.shape[1]] = np.take_along_axis(chunk, cols, axis=1)
    return ids, values


def sparse_row_top_k(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, k: int, name: str = "scores"
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of every row of a CSR matrix given by its arrays (stored entries only; indices sorted per row).

    Rows are grouped by their number of stored entries (power-of-two buckets) and each group is padded to a small
    dense block, so the work is vectorised and the padding costs at most 2x the stored entries.

    Returns:
        `(ids, values)`, both of shape `(n, k)`; padding is `-1` / `-inf`.
    """
    n = indptr.size - 1
    ids = np.full((n, k), PAD_ID, dtype=np.int64)
    values = np.full((n, k), -np.inf, dtype=np.float64)
    if np.any(np.diff(indptr)):
        _check_finite_scores(np.asarray(data), name)
    for rows, valid, positions in _csr_row_blocks(indptr):
        block = np.where(valid, data[positions], -np.inf)
        block_ids = np.where(valid, indices[positions], PAD_ID)
        cols = _select_padded(block, k)
        ids[rows, : cols.shape[1]] = np.take_along_axis(block_ids, cols, axis=1)
        values[rows, : cols.shape[1]] = np.take_along_axis(block, cols, axis=1)
    values[ids == PAD_ID] = -np.inf
    return ids, values


def sparse_row_top_values(indptr: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest stored values of every CSR row, descending, padded with 0 (no ids, so no tie rule needed).

    Returns:
        `np.ndarray` of shape `(n, k)`, float64.
    """
    out = np.zeros((indptr.size - 1, k), dtype=np.float64)
    for rows, valid, positions in _csr_row_blocks(indptr):
        block = np.where(valid, -data[positions], np.inf)
        top = -np.sort(block, axis=1)[:, :k]
        out[rows, : top.shape[1]] = np.where(np.isfinite(top), top, 0.0)
    return out


def _csr_row_blocks(indptr: np.ndarray):
    """Yields `(rows, valid, positions)` blocks covering every non-empty CSR row once.

    Rows are grouped by their number of stored entries (power-of-two buckets) and chunked to about `_CHUNK_ELEMENTS`
    cells, so each block is a small dense `(len(rows), width)` grid: `positions` indexes the CSR data arrays (0 where
    padded) and `valid` marks the real entries.
    """
    lengths = np.diff(indptr)
    nonempty = np.flatnonzero(lengths)
    if nonempty.size == 0:
        return
    buckets = np.ceil(np.log2(lengths[nonempty])).astype(np.int64)
    for bucket in np.unique(buckets):
        width = 1 << int(bucket)
        bucket_rows = nonempty[buckets == bucket]
        step = max(1, _CHUNK_ELEMENTS // width)
        offsets = np.arange(width)
        for start in range(0, bucket_rows.size, step):
            rows = bucket_rows[start : start + step]
            valid = offsets < lengths[rows][:, None]
            yield rows, valid, np.where(valid, indptr[rows][:, None] + offsets, 0)


def _canonical_csr(matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix)
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()
    return matrix


def top_k_with_scores(scores, k: int, name: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Like `top_k_ids`, and also return the scores of the selected entries (`-inf` where padded)."""
    k = check_k(k)
    if sp.issparse(scores):
        matrix = _canonical_csr(scores)
        return sparse_row_top_k(matrix.indptr, matrix.indices, matrix.data.astype(np.float64, copy=False), k, name)
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"{name} must be a 2-D score matrix (n x num_labels), got shape {scores.shape}.")
    if scores.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold numbers, got dtype {scores.dtype}.")
    return _dense_top_k(scores, k, name)


def top_k_ids(scores, k: int) -> np.ndarray:
    """Ids of the ``k`` best-scored labels of every row, best first.

    Args:
        scores (`np.ndarray` of shape `(n, num_labels)` or a `scipy.sparse` matrix): label scores. For a sparse
            matrix only the stored entries are candidates.
        k (`int`): how many ids to keep per row (> 0).

    Returns:
        `np.ndarray` of shape `(n, k)`, int64: label ids ranked by decreasing score; among equal scores the lower id
        comes first; `-1` fills rows with fewer than ``k`` candidates.

    Raises:
        ValueError: ``k`` is not a positive integer, ``scores`` is not 2-D, or it contains NaN.
    """
    return top_k_with_scores(scores, k)[0]
