"""Zero-shot evaluation of a label retriever: XMC metrics of its top-k, overall and on label subsets (seen / unseen).

The generalized zero-shot setting (labels held out of training, still retrievable from their text) is reported
apart: on a label subset the ranking is restricted to that subset's labels and every document is judged on its labels
inside the subset (documents with none are left out), the ZestXML-style protocol for few-shot and unseen labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..metrics import compute_xmc_metrics

RETRIEVAL_K = (1, 3, 5, 10, 100)


def retrieval_metrics(
    ids: np.ndarray,
    references: Sequence[Sequence[int]],
    num_labels: int,
    label_counts=None,
    num_train_docs: int | None = None,
    k: Sequence[int] = RETRIEVAL_K,
) -> dict[str, float]:
    """`compute_xmc_metrics` of top-k ids (`k` clipped to the ids' width); PSP needs `label_counts`."""
    ks = sorted({min(int(value), ids.shape[1]) for value in k})
    propensity = {}
    if label_counts is not None:
        propensity = {"label_counts": np.asarray(label_counts)[:num_labels], "num_train_docs": num_train_docs}
    return compute_xmc_metrics(ids, [list(row) for row in references], k=ks, num_labels=num_labels, **propensity)


def subset_metrics(
    query_embeddings: np.ndarray,
    index,
    references: Sequence[Sequence[int]],
    label_ids: Sequence[int],
    label_counts=None,
    num_train_docs: int | None = None,
    k: Sequence[int] = RETRIEVAL_K,
    exclude: Sequence[Sequence[int]] | None = None,
) -> dict[str, float]:
    """Metrics of the ranking restricted to `label_ids`, on the documents with at least one label among them.

    Returns:
        The metrics, plus `num_documents` and `num_labels` of the subset.
    """
    label_ids = np.asarray(sorted(set(int(i) for i in label_ids)), dtype=np.int64)
    position = {int(label): p for p, label in enumerate(label_ids)}
    kept_rows, kept_references = [], []
    for row, labels in enumerate(references):
        inside = [position[int(label)] for label in labels if int(label) in position]
        if inside:
            kept_rows.append(row)
            kept_references.append(inside)
    result = {"num_documents": float(len(kept_rows)), "num_labels": float(len(label_ids))}
    if not kept_rows or len(label_ids) == 0:
        return result
    sub_index = index.subset(label_ids)
    sub_exclude = None
    if exclude is not None:
        sub_exclude = [[position[i] for i in exclude[row] if i in position] for row in kept_rows]
    depth = min(max(k), len(label_ids))
    ids, _ = sub_index.search(np.asarray(query_embeddings)[kept_rows], depth, exclude=sub_exclude)
    counts = None if label_counts is None else np.asarray(label_counts)[label_ids]
    result.update(retrieval_metrics(ids, kept_references, len(label_ids), counts, num_train_docs, k))
    return result


def evaluate_label_retrieval(
    query_embeddings: np.ndarray,
    index,
    references: Sequence[Sequence[int]],
    label_counts=None,
    num_train_docs: int | None = None,
    k: Sequence[int] = RETRIEVAL_K,
    exclude: Sequence[Sequence[int]] | None = None,
    label_subsets: dict[str, Sequence[int]] | None = None,
) -> dict[str, float]:
    """All metrics of a label index on documents: overall (every label ranked), and per named label subset with
    keys prefixed `"<name>/"` (e.g. `label_subsets={"seen": seen_ids, "unseen": unseen_ids}`).

    Args:
        query_embeddings (`np.ndarray` of shape `(n, d)`): the documents' embeddings.
        index (`LabelIndex`): the labels (ids = vocabulary ids).
        references (`list[list[int]]`): each document's relevant label ids.
        label_counts, num_train_docs: training counts, for the propensity-scored metrics.
        k: cut-offs (P@k, R@k, nDCG@k, PSP@k).
        exclude (`list[list[int]]`, *optional*): per document, label ids left out of its ranking (its own id).
        label_subsets (`dict[str, list[int]]`, *optional*): label subsets reported apart.
    """
    depth = min(max(k), len(index))
    ids, _ = index.search(query_embeddings, depth, exclude=exclude)
    metrics = retrieval_metrics(ids, references, len(index), label_counts, num_train_docs, k)
    for name, label_ids in (label_subsets or {}).items():
        for key, value in subset_metrics(
            query_embeddings, index, references, label_ids, label_counts, num_train_docs, k, exclude
        ).items():
            metrics[f"{name}/{key}"] = value
    return metrics


def popularity_ranking(label_counts, num_documents: int, k: int, exclude=None) -> np.ndarray:
    """The no-text baseline: every document gets the `k` most frequent training labels (ids `(n, k)`)."""
    order = np.argsort(-np.asarray(label_counts), kind="stable")
    if exclude is None:
        return np.tile(order[:k], (num_documents, 1))
    rows = []
    for excluded in exclude:
        skip = set(excluded)
        rows.append([label for label in order[: k + len(skip)] if label not in skip][:k])
    return np.asarray(rows, dtype=np.int64)
