"""Leave document-label pairs out of an evaluation (the Extreme Classification Repository's "filter" files).

LF data sets ship `filter_labels_test.txt`: pairs (document, label) where the label is the document itself or its
mirror ("reciprocal pairs"). The repository's evaluation scripts remove those pairs from the score matrix *and* from
the ground truth before computing P@k, nDCG@k and PSP@k; `compute_xmc_metrics(..., exclude=...)` does the same with
these helpers. Removing a label from a ranking moves the labels after it up by one place, exactly as zeroing its score
and re-ranking does.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .ranking import lookup_hits
from .topk import PAD_ID


def max_excluded_per_row(exclude: sp.csr_matrix | None) -> int:
    """The most pairs any one document has in ``exclude`` (how many extra candidates a ranking needs)."""
    return 0 if exclude is None else int(np.diff(exclude.indptr).max(initial=0))


def remove_excluded_references(references: sp.csr_matrix, exclude: sp.csr_matrix) -> sp.csr_matrix:
    """``references`` without the pairs of ``exclude`` (both binary CSR `(n, L)`)."""
    kept = sp.csr_matrix(references - references.multiply(exclude))
    kept.eliminate_zeros()
    return kept


def remove_excluded_ids(ids: np.ndarray, exclude: sp.csr_matrix) -> np.ndarray:
    """Ranked ids `(n, K)` with the excluded ids of each row removed, the rest moved up, `-1` padding at the end."""
    return remove_excluded_candidates(ids, None, exclude)[0]


def remove_excluded_candidates(
    ids: np.ndarray, scores: np.ndarray | None, exclude: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray | None]:
    """Ranked candidates `(n, K)` and their scores without the pairs of ``exclude`` (binary CSR `(n, L)`): the kept
    candidates move up in their order, the freed places at the end are padding (id `-1`, score `-inf`)."""
    rows = np.broadcast_to(np.arange(ids.shape[0], dtype=np.int64)[:, None], ids.shape)
    excluded = lookup_hits(rows.ravel(), ids.ravel(), exclude).reshape(ids.shape)
    if not excluded.any():
        return ids, scores
    order = np.argsort(excluded, axis=1, kind="stable")  # kept ids first, in their order
    moved_out = np.take_along_axis(excluded, order, axis=1)
    moved = np.take_along_axis(ids, order, axis=1)
    moved[moved_out] = PAD_ID
    if scores is not None:
        scores = np.take_along_axis(np.asarray(scores, dtype=np.float64), order, axis=1)
        scores[moved_out] = -np.inf
    return moved, scores


def remove_excluded_pairs(
    indptr: np.ndarray, ids: np.ndarray, exclude: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted sets as CSR arrays `(indptr, ids)` without the pairs of ``exclude``."""
    rows = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    kept = ~lookup_hits(rows, ids, exclude)
    new_indptr = np.zeros_like(indptr)
    np.cumsum(np.bincount(rows[kept], minlength=len(indptr) - 1), out=new_indptr[1:])
    return new_indptr, ids[kept]
