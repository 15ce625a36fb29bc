"""The sparse label matrix of a split (documents x labels, CSR) and label frequencies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .errors import XMCInputError


def label_lists_to_arrays(label_lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Flatten label-id lists into CSR-style `(indptr, indices)` int64 arrays."""
    lengths = np.fromiter((len(labels) for labels in label_lists), dtype=np.int64, count=len(label_lists))
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    if indptr[-1] == 0:
        return indptr, np.zeros(0, dtype=np.int64)
    indices = np.fromiter((index for labels in label_lists for index in labels), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


def drop_repeated_ids(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Remove the second and later occurrences of an id within a row of CSR arrays (each row keeps its order).

    A label listed twice for one document is one label: hf-xmc counts it once everywhere (the label matrix, the
    vocabulary's training counts, the id order and the propensities). The loaders call this on every split and report
    how many repeats they removed.

    Args:
        indptr (`np.ndarray` int64, `(n + 1,)`), indices (`np.ndarray` int64): CSR arrays (ids >= 0).

    Returns:
        `(indptr, indices, num_removed)`: the arrays without repeats (the inputs themselves when there are none).
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) < 2:
        return indptr, indices, 0
    lengths = np.diff(indptr)
    row_start = np.zeros(len(indices), dtype=bool)
    row_start[indptr[:-1][lengths > 0]] = True
    if np.all((indices[1:] > indices[:-1]) | row_start[1:]):  # rows strictly increasing: no repeat (the usual case)
        return indptr, indices, 0
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    width = int(indices.max()) + 1
    keys = rows * width + indices if len(lengths) * width < 2**62 else None
    if keys is not None:
        ordered = np.sort(keys)
        if not np.any(ordered[1:] == ordered[:-1]):
            return indptr, indices, 0
        first = np.unique(keys, return_index=True)[1]
    else:  # a huge id space: sort by (row, id) pairs instead of one combined key
        order = np.lexsort((indices, rows))
        repeated = (indices[order][1:] == indices[order][:-1]) & (rows[order][1:] == rows[order][:-1])
        if not repeated.any():
            return indptr, indices, 0
        first = np.delete(order, np.flatnonzero(repeated) + 1)
    keep = np.zeros(len(indices), dtype=bool)
    keep[first] = True
    new_indptr = np.zeros_like(indptr)
    np.cumsum(np.bincount(rows[keep], minlength=len(lengths)), out=new_indptr[1:])
    return new_indptr, indices[keep], int(len(indices) - keep.sum())


def label_matrix_from_arrays(indptr: np.ndarray, indices: np.ndarray, num_labels: int) -> sp.csr_matrix:
    """A binary CSR matrix `(n, num_labels)` from CSR arrays; duplicate ids in a row count once."""
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) and (indices.min() < 0 or indices.max() >= num_labels):
        bad = indices[(indices < 0) | (indices >= num_labels)][:5].tolist()
        raise XMCInputError(f"label ids {bad} are out of range for {num_labels} labels.")
    index_dtype = np.int32 if max(num_labels, len(indices)) < 2**31 else np.int64
    matrix = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices.astype(index_dtype), np.asarray(indptr, dtype=index_dtype)),
        shape=(len(indptr) - 1, num_labels),
    )
    matrix.sum_duplicates()
    if len(matrix.data) != len(indices):
        matrix.data[:] = 1.0
    return matrix


def build_label_matrix(label_lists: Sequence[Sequence[int]], num_labels: int) -> sp.csr_matrix:
    """The binary label matrix of a split.

    Args:
        label_lists (`list[list[int]]`): the label ids of every document (a doc with no label is an empty row).
        num_labels (`int`): number of labels `L`.

    Returns:
        `scipy.sparse.csr_matrix` of shape `(len(label_lists), num_labels)`, float32 ones. Raises `XMCInputError`
        for an id outside `[0, num_labels)`.
    """
    indptr, indices = label_lists_to_arrays(label_lists)
    return label_matrix_from_arrays(indptr, indices, int(num_labels))


def label_counts(label_matrix) -> np.ndarray:
    """Number of documents of each label (non-zero entries of each column), int64 of shape `(L,)`.

    Args:
        label_matrix (`scipy.sparse` matrix or array, or a dense `np.ndarray`): shape `(n, L)`.
    """
    if not sp.issparse(label_matrix):
        return np.count_nonzero(np.asarray(label_matrix), axis=0).astype(np.int64)
    matrix = sp.csr_matrix(label_matrix)
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()
    return np.bincount(matrix.indices[matrix.data != 0], minlength=matrix.shape[1]).astype(np.int64)
