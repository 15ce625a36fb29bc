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
