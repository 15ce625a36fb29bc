"""`transformers.Trainer` hooks: keep only top-k ids during evaluation, then compute the XMC metrics.

``preprocess_logits_for_metrics`` runs on every evaluation batch, so the host never holds the `(n, L)` logits: with
500K labels and 100K documents that would be 200 GB of float32; top-5 ids are 4 MB.

    trainer = Trainer(
        ...,
        compute_metrics=make_compute_metrics(k=[1, 3, 5], label_counts=vocab.counts, num_train_docs=vocab.num_train_docs),
        preprocess_logits_for_metrics=make_preprocess_logits_for_metrics(k=5),
    )
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .core import compute_xmc_metrics, normalise_ks
from .inputs import as_array_like, ragged_to_csr_arrays

LABEL_FORMATS = ("auto", "multi_hot", "ids")


def num_extra_candidates(exclude) -> int:
    """How many candidates beyond ``max(k)`` a top-k needs so that removing ``exclude``'s labels leaves ``max(k)``:
    the most excluded labels of any one document (0 for `None`).

    Args:
        exclude: as in `compute_xmc_metrics` (a sparse matrix `(n, L)` or lists of ids per document).
    """
    if exclude is None:
        return 0
    exclude = as_array_like(exclude)
    if sp.issparse(exclude):
        matrix = sp.csr_matrix(exclude, copy=True)
        matrix.eliminate_zeros()
        return int(np.diff(matrix.indptr).max(initial=0))
    indptr, _ = ragged_to_csr_arrays(exclude, "exclude")
    return int(np.diff(indptr).max(initial=0))


def make_preprocess_logits_for_metrics(k=5, exclude=None):
    """A ``preprocess_logits_for_metrics`` that keeps the ``max(k)`` best label ids of each document.

    Args:
        k (`int` or `list[int]`): the cut-off(s) that will be evaluated; only the largest matters.
        exclude (*optional*): the evaluation filter pairs given to `make_compute_metrics`; the top-k then keeps
            `num_extra_candidates(exclude)` more ids, so that ``max(k)`` remain once they are removed.

    Returns:
        `Callable[[torch.Tensor, torch.Tensor], torch.Tensor]`: `(logits, labels) -> ids` of shape `(batch, max(k))`
        (fewer columns when the model has fewer labels). Ties follow `torch.topk`'s order.
    """
    top = max(normalise_ks(k)) + num_extra_candidates(exclude)

    def preprocess_logits_for_metrics(logits, labels):
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        return logits.topk(min(top, logits.shape[-1]), dim=-1).indices

    return preprocess_logits_for_metrics


def label_ids_to_references(label_ids, label_format: str = "auto", num_labels: int | None = None):
    """Trainer ``label_ids`` -> references for `compute_xmc_metrics`.

    Args:
        label_ids (`np.ndarray` of shape `(n, L)` or `(n, m)`): multi-hot labels, or label ids padded with negative
            values (the collator's `-1`/`-100`, and Trainer's `-100` between batches of different widths).
        label_format (`str`): "multi_hot", "ids", or "auto": ids when any value is negative or not 0/1, or when the
            width differs from ``num_labels``; multi-hot otherwise.
        num_labels (`int`, *optional*): the label space size.

    Returns:
        a multi-hot array, or a CSR matrix built from the ids.
    """
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}.")
    if isinstance(label_ids, (tuple, list)):
        label_ids = label_ids[0]
    label_ids = np.asarray(label_ids)
    if label_ids.ndim != 2:
        raise ValueError(f"label_ids must be 2-D (multi-hot or padded id lists), got shape {label_ids.shape}.")
    if label_format == "auto":
        binary = label_ids.dtype == bool or bool(np.isin(label_ids, (0, 1)).all())
        width_matches = num_labels is None or label_ids.shape[1] == num_labels
        label_format = "multi_hot" if binary and width_matches else "ids"
    if label_format == "multi_hot":
        return label_ids
    if label_ids.dtype.kind == "f" and not np.array_equal(label_ids, np.round(label_ids)):
        raise ValueError(
            "label_ids are neither multi-hot (0/1) nor integer label ids (found fractional values, e.g. smoothed "
            "labels); pass label_format='multi_hot' with hard 0/1 labels."
        )
    ids = label_ids.astype(np.int64)
    kept = ids >= 0
    flat = ids[kept]
    indptr = np.concatenate([[0], np.cumsum(kept.sum(axis=1))])
    width = num_labels if num_labels is not None else int(flat.max(initial=-1)) + 1
    if flat.size and flat.max() >= width:
        raise ValueError(f"label_ids contains label id {int(flat.max())} but the label space has {width} labels.")
    matrix = sp.csr_matrix((np.ones(flat.size), flat, indptr), shape=(ids.shape[0], width))
    matrix.sum_duplicates()
    return matrix


def make_compute_metrics(
    k=(1, 3, 5),
    label_counts=None,
    num_train_docs: int | None = None,
    propensity_a: float | None = None,
    propensity_b: float | None = None,
    propensity: str | None = None,
    num_labels: int | None = None,
    label_format: str = "auto",
    exclude=None,
):
    """A Trainer ``compute_metrics`` returning `compute_xmc_metrics`'s dict (Trainer prefixes keys with `eval_`).

    Args:
        k, label_counts, num_train_docs, propensity_a, propensity_b, propensity, num_labels: as in
            `compute_xmc_metrics`.
        label_format (`str`, defaults to "auto"): how to read ``label_ids``, see `label_ids_to_references`.
        exclude (*optional*): document-label pairs left out of the evaluation, rows aligned with the evaluation
            dataset's rows (e.g. `xmc.filter_pairs["test"][rows]` for the rows that were selected); see
            `compute_xmc_metrics`. Pass the same value to `make_preprocess_logits_for_metrics`.

    Returns:
        `Callable[[EvalPrediction], dict[str, float]]`. Predictions may be top-k ids (from
        `make_preprocess_logits_for_metrics`) or full logits.
    """
    ks = normalise_ks(k)
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"label_format must be one of {LABEL_FORMATS}, got {label_format!r}.")
    if label_counts is not None:
        label_counts = np.asarray(label_counts)
        if num_train_docs is None:
            raise ValueError("label_counts needs num_train_docs (the number of training documents).")
    space = num_labels if num_labels is not None else (len(label_counts) if label_counts is not None else None)

    def compute_metrics(eval_pred) -> dict[str, float]:
        predictions = eval_pred.predictions
        if isinstance(predictions, (tuple, list)):
            predictions = predictions[0]
        references = label_ids_to_references(eval_pred.label_ids, label_format, space)
        return compute_xmc_metrics(
            np.asarray(predictions),
            references,
            k=ks,
            label_counts=label_counts,
            num_train_docs=num_train_docs,
            propensity_a=propensity_a,
            propensity_b=propensity_b,
            propensity=propensity,
            num_labels=space,
            exclude=exclude,
        )

    return compute_metrics
