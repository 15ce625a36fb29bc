"""Turn every accepted form of predictions and references into two canonical forms.

- Ranked predictions: an `(n, K)` int64 array of label ids, best first. `-1` marks an empty slot (a row with fewer
  than ``K`` predictions). Ids outside `[0, num_labels)` (e.g. generated labels never seen) stay in the array and
  count as misses. A repeated id counts once: its later occurrences are misses.
- References: a canonical binary CSR matrix `(n, num_labels)`.

Accepted predictions: a dense score matrix (float or bool, `(n, L)`), a sparse score matrix (stored entries are the
candidates), an `(n, K)` integer id array (negative values are padding), ragged lists of ids ranked best first, or
ragged lists of `(id, score)` pairs. Accepted references: a sparse matrix (stored non-zeros are relevant), a
multi-hot 2-D array (values 0/1), or ragged lists of ids.

"Lists" means any sequence of sequences: lists, tuples, a `datasets` `Column` (`dataset["labels"]`, read straight
from Arrow without building Python lists), a pyarrow list array, a pandas Series of lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain

import numpy as np
import scipy.sparse as sp

from .exclusion import max_excluded_per_row, remove_excluded_ids
from .topk import PAD_ID, _canonical_csr, sparse_row_top_k, top_k_with_scores

_CHUNK_ELEMENTS = 1 << 22
# An id beyond any label space: a repeated prediction is kept as a slot that can never be a hit.
REPEATED_ID = np.iinfo(np.int64).max


class RaggedIds:
    """Ragged integer id lists held as CSR arrays, as an Arrow list column stores them.

    Args:
        indptr (`np.ndarray` int64, `(n + 1,)`): row offsets into ``ids``.
        ids (`np.ndarray` int64): the ids of every row, concatenated.
    """

    __slots__ = ("indptr", "ids")

    def __init__(self, indptr: np.ndarray, ids: np.ndarray):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indptr) - 1


def _from_arrow(obj):
    """A pyarrow list array -> `RaggedIds` (integer lists) or Python lists (anything else)."""
    import pyarrow as pa

    if isinstance(obj, pa.ChunkedArray):
        obj = obj.combine_chunks() if obj.num_chunks != 1 else obj.chunk(0)
    if pa.types.is_list(obj.type) or pa.types.is_large_list(obj.type):
        if pa.types.is_integer(obj.type.value_type) and obj.null_count == 0:
            offsets = np.asarray(obj.offsets, dtype=np.int64)
            values = np.array(obj.values.to_numpy(zero_copy_only=False), dtype=np.int64)  # a writable copy
            return RaggedIds(offsets - offsets[0], values[offsets[0] : offsets[-1]])
    return obj.to_pylist()


def as_array_like(obj):
    """Bring any accepted input to a form the converters know: numpy, scipy, lists/tuples or `RaggedIds`.

    Array-likes (e.g. a CPU `torch.Tensor`, a pandas Series) become `np.ndarray`; a `datasets` `Column` and pyarrow
    list arrays become `RaggedIds` (integer lists) or Python lists; other sequences of sequences become lists.
    """
    if sp.issparse(obj) or isinstance(obj, (np.ndarray, list, tuple, RaggedIds)):
        return obj
    source = getattr(obj, "source", None)
    if type(obj).__name__ == "Column" and hasattr(source, "with_format") and hasattr(obj, "column_name"):
        return _from_arrow(source.with_format("arrow")[obj.column_name])  # a `datasets` Column: read its Arrow data
    if type(obj).__module__.startswith("pyarrow") and hasattr(obj, "to_pylist"):
        return _from_arrow(obj)
    if hasattr(obj, "__array__"):
        return np.asarray(obj)
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes, Mapping)):
        return list(obj)
    return obj


def _score_rows(rows, name: str) -> np.ndarray:
    try:
        return np.asarray(rows, dtype=np.float64)
    except ValueError:
        raise ValueError(
            f"{name} given as lists of float scores must be a rectangular score matrix (one score per label in every "
            "row); pass label ids (integers) for ranked lists."
        ) from None


def _is_ragged(obj) -> bool:
    return isinstance(obj, (list, tuple, RaggedIds)) or (isinstance(obj, np.ndarray) and obj.dtype == object)


def _first_element(rows):
    if isinstance(rows, RaggedIds):
        return rows.ids[0] if len(rows.ids) else None
    for row in rows:
        if len(row):
            return row[0]
    return None


def _flat_ints(values, name: str) -> np.ndarray:
    """Concatenated ids as int64, with a clear error for anything that is not an integer."""
    try:
        flat = np.fromiter(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must contain integer label ids; {err}") from None
    if flat.size and not np.all(np.isfinite(flat) & (flat == np.floor(flat))):
        bad = flat[~(np.isfinite(flat) & (flat == np.floor(flat)))][0]
        raise ValueError(f"{name} must contain integer label ids, found {bad!r}.")
    return flat.astype(np.int64)


def ragged_to_csr_arrays(rows, name: str, max_per_row: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`(indptr, ids)` of ragged id lists, keeping at most ``max_per_row`` ids of each row."""
    if isinstance(rows, RaggedIds):
        return _cut_rows(rows.indptr, rows.ids, max_per_row)
    n = len(rows)
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=n)
    if max_per_row is not None:
        lengths = np.minimum(lengths, max_per_row)
        flat = _flat_ints(chain.from_iterable(row[:max_per_row] for row in rows), name)
    else:
        flat = _flat_ints(chain.from_iterable(rows), name)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return indptr, flat


def _cut_rows(indptr: np.ndarray, ids: np.ndarray, max_per_row: int | None) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.diff(indptr)
    if max_per_row is None or not np.any(lengths > max_per_row):
        return indptr, ids
    kept = np.minimum(lengths, max_per_row)
    new_indptr = np.zeros_like(indptr)
    np.cumsum(kept, out=new_indptr[1:])
    positions = np.repeat(indptr[:-1] - new_indptr[:-1], kept) + np.arange(new_indptr[-1], dtype=np.int64)
    return new_indptr, ids[positions]


def padded_ids_from_csr_arrays(indptr: np.ndarray, flat: np.ndarray, width: int) -> np.ndarray:
    """Ragged ids given as `(indptr, flat)` -> an `(n, width)` int64 array, rows cut at ``width``, padded with -1."""
    n = indptr.size - 1
    lengths = np.minimum(np.diff(indptr), width)
    out = np.full((n, width), PAD_ID, dtype=np.int64)
    offsets = np.arange(width)
    valid = offsets < lengths[:, None]
    out[valid] = flat[(indptr[:-1, None] + offsets)[valid]]
    return out


def _ranked_pairs(rows, k: int, name: str) -> np.ndarray:
    """Ragged `(id, score)` pairs -> `(n, k)` ids sorted by score (ties: lower id first)."""
    n = len(rows)
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=n)
    pairs = list(chain.from_iterable(rows))
    if any(not isinstance(pair, (tuple, list)) or len(pair) != 2 for pair in pairs):
        raise ValueError(f"{name}: when one prediction is an (id, score) pair, every prediction must be one.")
    ids = _flat_ints((pair[0] for pair in pairs), name)
    scores = np.fromiter((pair[1] for pair in pairs), dtype=np.float64, count=len(pairs))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    # rows sorted by id first so that the top-k's "lower column first" tie rule is "lower id first"
    row_of = np.repeat(np.arange(n), lengths)
    order = np.lexsort((ids, row_of))
    return sparse_row_top_k(indptr, ids[order], scores[order], k, name)[0]


def mark_repeats(ids: np.ndarray) -> np.ndarray:
    """Replace the second and later occurrences of an id within a row by an id no label has (a miss)."""
    if ids.shape[1] < 2:
        return ids
    order = np.argsort(ids, axis=1, kind="stable")
    ordered = np.take_along_axis(ids, order, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if not repeated.any():
        return ids
    ids = ids.copy()
    rows = np.nonzero(repeated)[0]
    ids[rows, order[:, 1:][repeated]] = REPEATED_ID
    return ids


def ranked_prediction_ids(
    predictions, k: int, num_labels: int | None, exclude: sp.csr_matrix | None = None
) -> np.ndarray:
    """Any accepted prediction form -> `(n, k)` ranked ids (see the module docstring).

    Args:
        exclude (`scipy.sparse.csr_matrix` `(n, L)`, *optional*): binary; pairs removed from each ranking before it is
            cut at ``k`` (the ids after a removed one move up), see `hf_xmc.metrics.exclusion`.
    """
    extra = max_excluded_per_row(exclude)
    ids = _ranked_ids(predictions, k + extra, num_labels)
    if extra:
        ids = remove_excluded_ids(ids, exclude)[:, :k]
    return mark_repeats(ids)


def _ranked_ids(predictions, k: int, num_labels: int | None) -> np.ndarray:
    """`(n, k)` ranked ids, repeats not yet marked."""
    name = "predictions"
    if sp.issparse(predictions):
        _check_width(predictions.shape[1], num_labels, name)
        ids = top_k_with_scores(predictions, k, name)[0]
    elif isinstance(predictions, np.ndarray) and predictions.dtype != object:
        if predictions.ndim != 2:
            raise ValueError(
                f"{name} as an array must be 2-D: (n, num_labels) scores or (n, k) ids; got shape {predictions.shape}."
            )
        if predictions.dtype.kind in "iu":
            ids = predictions[:, :k].astype(np.int64, copy=False)
            if ids.shape[1] < k:
                ids = np.concatenate([ids, np.full((ids.shape[0], k - ids.shape[1]), PAD_ID, np.int64)], axis=1)
            ids = np.where(ids < 0, PAD_ID, ids)
        else:
            _check_width(predictions.shape[1], num_labels, name)
            ids = top_k_with_scores(predictions, k, name)[0]
    elif _is_ragged(predictions):
        first = _first_element(predictions)
        if isinstance(first, (tuple, list)):
            ids = _ranked_pairs(predictions, k, name)
        elif isinstance(first, (float, np.floating)):
            return _ranked_ids(_score_rows(predictions, name), k, num_labels)
        else:
            indptr, flat = ragged_to_csr_arrays(predictions, name, max_per_row=k)
            ids = padded_ids_from_csr_arrays(indptr, np.where(flat < 0, PAD_ID, flat), k)
    else:
        raise ValueError(
            f"{name} must be a score matrix (numpy or scipy.sparse), an (n, k) id array or lists of ids; "
            f"got {type(predictions).__name__}."
        )
    return ids


def prediction_sets(predictions, num_labels: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted label sets as `(indptr, ids)`, each row in ranked order, repeats and padding removed.

    Lists give their ids in the given order; a matrix gives its non-zero entries ranked by score.
    """
    name = "predictions"
    if _is_ragged(predictions) and not isinstance(_first_element(predictions), (float, np.floating)):
        if isinstance(_first_element(predictions), (tuple, list)):
            width = max((len(row) for row in predictions), default=0)
            ids = _ranked_pairs(predictions, max(width, 1), name)
        else:
            indptr, flat = ragged_to_csr_arrays(predictions, name)
            width = int(np.diff(indptr).max(initial=0))
            ids = padded_ids_from_csr_arrays(indptr, np.where(flat < 0, PAD_ID, flat), max(width, 1))
    elif isinstance(predictions, np.ndarray) and predictions.dtype.kind in "iu":
        if predictions.ndim != 2:
            raise ValueError(f"{name} as an id array must be 2-D (n, k), got shape {predictions.shape}.")
        ids = np.where(predictions < 0, PAD_ID, predictions.astype(np.int64, copy=False))
    else:
        if not sp.issparse(predictions):
            predictions = _score_rows(predictions, name) if _is_ragged(predictions) else np.asarray(predictions)
            if predictions.ndim != 2:
                raise ValueError(f"{name} must be a 2-D matrix or lists of ids, got shape {predictions.shape}.")
            _check_width(predictions.shape[1], num_labels, name)
            if predictions.dtype.kind == "f" and np.isnan(predictions).any():
                raise ValueError(f"{name} contains NaN scores.")
            predictions = sp.csr_matrix(predictions)
        else:
            _check_width(predictions.shape[1], num_labels, name)
        matrix = _canonical_csr(predictions)
        matrix.eliminate_zeros()
        width = int(np.diff(matrix.indptr).max(initial=0))
        ids = top_k_with_scores(matrix, max(width, 1), name)[0]
    ids = mark_repeats(ids)
    keep = (ids != PAD_ID) & (ids != REPEATED_ID)
    indptr = np.zeros(ids.shape[0] + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    return indptr, ids[keep]


def _check_width(width: int, num_labels: int | None, name: str) -> None:
    if num_labels is not None and width != num_labels:
        raise ValueError(f"{name} has {width} columns but the label space has {num_labels} labels.")


def num_rows(obj) -> int:
    return obj.shape[0] if (sp.issparse(obj) or (isinstance(obj, np.ndarray) and obj.ndim >= 1)) else len(obj)


def matrix_width(obj) -> int | None:
    """Columns of a score or multi-hot matrix (the label space), `None` for id lists / id arrays."""
    if sp.issparse(obj):
        return obj.shape[1]
    if isinstance(obj, np.ndarray) and obj.ndim == 2 and obj.dtype.kind in "fb":
        return obj.shape[1]
    return None


def reference_matrix(references, num_labels: int | None, name: str = "references") -> sp.csr_matrix:
    """Any accepted reference form -> canonical binary CSR `(n, num_labels)`; ids are validated (``name`` is the
    argument named in errors)."""
    if sp.issparse(references) or (isinstance(references, np.ndarray) and references.dtype != object):
        if sp.issparse(references):
            matrix = _canonical_csr(references).copy()
        else:
            if references.ndim != 2:
                raise ValueError(
                    f"{name} as an array must be a 2-D multi-hot matrix (n, num_labels); got shape "
                    f"{references.shape}. Pass lists of ids for id lists."
                )
            matrix = _multi_hot_to_csr(references, name)
        _check_width(matrix.shape[1], num_labels, name)
        matrix.eliminate_zeros()
        matrix.data = np.ones_like(matrix.data, dtype=np.float64)
        return sp.csr_matrix(matrix, dtype=np.float64)
    if not _is_ragged(references):
        raise ValueError(
            f"{name} must be a CSR matrix, a multi-hot array or lists of ids; got {type(references).__name__}."
        )
    indptr, flat = ragged_to_csr_arrays(references, name)
    if flat.size and flat.min() < 0:
        row = int(np.searchsorted(indptr, np.flatnonzero(flat < 0)[0], side="right") - 1)
        raise ValueError(f"{name} contains a negative label id ({flat.min()}) in row {row}.")
    if num_labels is None:
        num_labels = int(flat.max()) + 1 if flat.size else 0
    if flat.size and flat.max() >= num_labels:
        row = int(np.searchsorted(indptr, np.flatnonzero(flat >= num_labels)[0], side="right") - 1)
        raise ValueError(
            f"{name} contains label id {int(flat.max())} (row {row}) but the label space has {num_labels} labels "
            "(ids 0..num_labels-1)."
        )
    matrix = sp.csr_matrix((np.ones(flat.size), flat, indptr), shape=(len(references), num_labels), copy=True)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def _multi_hot_to_csr(array: np.ndarray, name: str) -> sp.csr_matrix:
    n, width = array.shape
    step = max(1, _CHUNK_ELEMENTS // max(width, 1))
    blocks = []
    for start in range(0, n, step):
        chunk = array[start : start + step]
        if chunk.dtype != bool and not np.isin(chunk, (0, 1)).all():
            raise ValueError(
                f"{name} as a 2-D array must be multi-hot (only 0 and 1); found other values. Pass lists of label "
                "ids for id lists (padded id arrays are not accepted: -1/-100 padding would be ambiguous)."
            )
        blocks.append(sp.csr_matrix(chunk != 0))
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, width))
