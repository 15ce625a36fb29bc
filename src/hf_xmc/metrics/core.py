"""`compute_xmc_metrics`: the one entry point of hf-xmc's evaluation (numpy/scipy only)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..data.propensity import inverse_propensity
from .exclusion import remove_excluded_pairs, remove_excluded_references
from .inputs import as_array_like, matrix_width, num_rows, prediction_sets, ranked_prediction_ids, reference_matrix
from .ranking import ranking_metrics
from .set_metrics import set_metrics
from .topk import check_k

AVERAGES = ("rank", "set")


def normalise_ks(k) -> list[int]:
    if isinstance(k, Iterable) and not isinstance(k, (str, bytes)):
        ks = list(k)
        if not ks:
            raise ValueError("k must be a positive integer or a non-empty list of them, got an empty list.")
    else:
        ks = [k]
    return sorted({check_k(value) for value in ks})


def _resolve_num_labels(num_labels, predictions, references, label_counts, exclude=None) -> int | None:
    """The label space size, from every source that states one; they must agree."""
    sources = {}
    if num_labels is not None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}.")
        sources["num_labels"] = int(num_labels)
    for name, value in (("predictions", predictions), ("references", references), ("exclude", exclude)):
        width = matrix_width(value)
        if width is not None:
            sources[f"{name} (number of columns)"] = width
    if label_counts is not None:
        sources["label_counts (length)"] = len(label_counts)
    if len(set(sources.values())) > 1:
        stated = ", ".join(f"{name}={size}" for name, size in sources.items())
        raise ValueError(f"the label space size is inconsistent: {stated}.")
    return next(iter(sources.values()), None)


def compute_xmc_metrics(
    predictions,
    references,
    k=(1, 3, 5),
    label_counts=None,
    num_train_docs: int | None = None,
    propensity_a: float | None = None,
    propensity_b: float | None = None,
    propensity: str | None = None,
    num_labels: int | None = None,
    average: str = "rank",
    exclude=None,
) -> dict[str, float]:
    """Extreme multi-label classification metrics, as plain floats.

    Args:
        predictions: per document, the predicted labels. One of: a dense score matrix `(n, L)` (float or bool); a
            `scipy.sparse` score matrix `(n, L)` whose stored entries are the candidates; an integer id array
            `(n, K)`, best first, negative values = padding; lists of ids, best first; lists of `(id, score)` pairs.
            Ids outside `[0, L)` count as misses (false positives). A repeated id counts once.
        references: per document, the relevant labels: a `scipy.sparse` matrix `(n, L)` (stored non-zeros), a
            multi-hot 2-D array (0/1), or lists of ids in `[0, L)`.
        k (`int` or `list[int]`, defaults to `(1, 3, 5)`): the cut-offs.
        label_counts (`array-like` of shape `(L,)`, *optional*): training-split count of each label; enables the
            propensity-scored metrics (and the frequency-group metrics with ``average="set"``).
        num_train_docs (`int`, *optional*): number of training documents, required with ``label_counts``.
        propensity_a, propensity_b (`float`, *optional*): Jain et al.'s A and B (override the preset).
        propensity (`str`, *optional*): preset "default" (0.55, 1.5), "wiki" (0.5, 0.4) or "amazon" (0.6, 2.6).
        num_labels (`int`, *optional*): the label space size L, when neither input is a matrix nor
            ``label_counts`` is given (otherwise inferred as the largest reference id + 1).
        average (`str`, defaults to `"rank"`): "rank" for ranking metrics at k (`P@k`, `nDCG@k`, `R@k`,
            `coverage@k`, and with propensities `PSP@k`, `PSP@k_norm`, `PSnDCG@k`, `PSnDCG@k_norm`, `PSR@k`,
            `PSR@k_norm`); "set" for set metrics of predicted label sets (`micro_precision`, `micro_recall`,
            `micro_f1`, `macro_precision`, `macro_recall`, `macro_f1`, `F1@k`, and with label counts
            `macro_f1_0shot`, `macro_f1_1shot`, `macro_f1_1to3shot`, `macro_f1_1to5shot`, `macro_f1_1to10shot`).
        exclude (*optional*): per document, labels to leave out of the evaluation, removed from both the predictions
            and the references before scoring, as the Extreme Classification Repository's scripts do with an LF set's
            `filter_labels_test.txt` (pass `xmc.filter_pairs["test"]`). A `scipy.sparse` matrix `(n, L)` (stored
            non-zeros are the pairs) or lists of ids per document. A removed label leaves its place in a ranking to
            the labels after it, so give rankings at least `max(k)` + that document's number of excluded labels
            candidates (a score matrix always has them; `hf_xmc.metrics.exclusion.max_excluded_per_row` tells how
            many extra a top-k needs).

    Returns:
        `dict[str, float]`. `PSP@k`, `PSnDCG@k` and `PSR@k` are unnormalised (can exceed 1); the `_norm` variants
        divide by the best achievable value over the data set (pyxclib's convention) and lie in [0, 1].

    Raises:
        ValueError: inputs of different lengths, a bad ``k``, NaN scores, reference or ``exclude`` ids outside the
            label space, ``label_counts`` of the wrong length, or propensity settings without ``label_counts``.
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}.")
    ks = normalise_ks(k)
    if label_counts is None:
        given = {"num_train_docs": num_train_docs, "propensity_a": propensity_a, "propensity_b": propensity_b}
        given["propensity"] = propensity
        stray = [name for name, value in given.items() if value is not None]
        if stray:
            raise ValueError(f"{', '.join(stray)} given without label_counts: propensities need training counts.")
    else:
        label_counts = np.asarray(label_counts, dtype=np.float64)
        if label_counts.ndim != 1:
            raise ValueError(f"label_counts must be one-dimensional (one count per label), got {label_counts.shape}.")
        if num_train_docs is None:
            raise ValueError("label_counts needs num_train_docs (the number of training documents).")

    predictions, references = as_array_like(predictions), as_array_like(references)
    n_predictions, n_references = num_rows(predictions), num_rows(references)
    if n_predictions != n_references:
        raise ValueError(
            f"predictions has {n_predictions} documents but references has {n_references}; they must match."
        )
    if n_predictions == 0:
        raise ValueError("predictions and references are empty: there is nothing to evaluate.")
    exclude_csr = None
    if exclude is not None:
        exclude = as_array_like(exclude)
        if num_rows(exclude) != n_references:
            raise ValueError(f"exclude has {num_rows(exclude)} documents but references has {n_references}.")
    num_labels = _resolve_num_labels(num_labels, predictions, references, label_counts, exclude)
    if exclude is not None and num_labels is None:  # id lists on both sides: the larger id space
        exclude_csr = reference_matrix(exclude, None, name="exclude")
        num_labels = max(exclude_csr.shape[1], reference_matrix(references, None).shape[1])
    reference_csr = reference_matrix(references, num_labels)
    num_labels = reference_csr.shape[1]
    if exclude is not None:
        exclude_csr = reference_matrix(exclude, num_labels, name="exclude")
        reference_csr = remove_excluded_references(reference_csr, exclude_csr)

    inv_propensity = None
    if label_counts is not None:  # also validates the counts and the propensity settings in "set" mode
        inv_propensity = inverse_propensity(label_counts, num_train_docs, propensity_a, propensity_b, propensity)
    if average == "set":
        indptr, ids = prediction_sets(predictions, num_labels)
        if exclude_csr is not None:
            indptr, ids = remove_excluded_pairs(indptr, ids, exclude_csr)
        return set_metrics(indptr, ids, reference_csr, ks, label_counts)

    ids = ranked_prediction_ids(predictions, max(ks), num_labels, exclude=exclude_csr)
    return ranking_metrics(ids, reference_csr, ks, inv_propensity)
