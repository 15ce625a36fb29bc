"""Experimental set-ups of the papers, applied to an `XMCDataset`, seeded.

- `drop_positives`: the positive-unlabeled (missing labels) simulation: remove a fraction of every training
  document's positive labels.
- `few_shot_label_subset`: MACLR's "finetune-label" few-shot mode: sample a ratio of the labels and keep all of their
  positive (document, label) pairs in training; the other labels get no training document.

Both return a new `XMCDataset` whose vocabulary is rebuilt from the new training split (so ids stay in decreasing
training frequency); the other splits keep all their labels, re-expressed in the new ids.
"""

from __future__ import annotations

import numpy as np

from .assembly import RawSplit, assemble_xmc_dataset
from .dataset import XMCDataset, labels_column_arrays


def _raw_splits(xmc: XMCDataset) -> dict[str, RawSplit]:
    raw = {}
    for name, split in xmc.splits.items():
        indptr, indices = labels_column_arrays(split)
        table = split.flatten_indices().data.table if split._indices is not None else split.data.table
        columns = {
            column: table.column(column).combine_chunks() for column in table.column_names if column != "labels"
        }
        features = None if not xmc.features else xmc.features.get(name)
        raw[name] = RawSplit(indptr, indices, columns, features, f"{xmc.name}:{name}")
    return raw


def _rebuild(xmc: XMCDataset, raw: dict[str, RawSplit], metadata: dict) -> XMCDataset:
    vocabulary = xmc.vocabulary
    rebuilt = assemble_xmc_dataset(raw, vocabulary.labels, vocabulary.texts, vocabulary.descriptions, name=xmc.name)
    rebuilt.metadata = {**xmc.metadata, **metadata}
    return rebuilt


def _keep_entries(raw: RawSplit, keep: np.ndarray, rows: np.ndarray | None = None) -> RawSplit:
    """`raw` with only the label entries where `keep` (and only `rows`, if given)."""
    row_of_entry = np.repeat(np.arange(len(raw)), np.diff(raw.label_indptr))
    counts = np.bincount(row_of_entry[keep], minlength=len(raw))
    indptr = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    kept = RawSplit(indptr, raw.label_indices[keep], raw.columns, raw.features, raw.source)
    return kept if rows is None else kept.take(rows)


def drop_positives(
    xmc: XMCDataset, fraction: float, seed: int = 0, split: str = "train", keep_at_least_one: bool = False
) -> XMCDataset:
    """Drop `floor(fraction * n_i)` of the `n_i` positives of every document of `split`, chosen uniformly.

    Args:
        xmc (`XMCDataset`): the data set.
        fraction (`float` in [0, 1]): share of every document's positives to remove.
        seed (`int`): the random seed.
        split (`str`): the split to corrupt (training by default; evaluation splits stay complete).
        keep_at_least_one (`bool`): never remove a document's last positive.

    Returns:
        A new `XMCDataset`; `metadata["dropped_positives"]` counts the removed pairs.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction={fraction} must be in [0, 1].")
    raw = _raw_splits(xmc)
    target = raw[split]
    lengths = np.diff(target.label_indptr)
    num_drop = np.floor(fraction * lengths + 1e-9).astype(np.int64)
    if keep_at_least_one:
        num_drop = np.minimum(num_drop, np.maximum(lengths - 1, 0))
    row_of_entry = np.repeat(np.arange(len(target)), lengths)
    keys = np.random.default_rng(seed).random(len(row_of_entry))
    order = np.lexsort((keys, row_of_entry))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - target.label_indptr[row_of_entry[order]]
    keep = rank >= num_drop[row_of_entry]
    raw[split] = _keep_entries(target, keep)
    return _rebuild(xmc, raw, {"dropped_positives": int((~keep).sum()), "drop_fraction": fraction, "seed": seed})


def few_shot_label_subset(
    xmc: XMCDataset, ratio: float, seed: int = 0, split: str = "train", keep_documents_without_labels: bool = False
) -> XMCDataset:
    """Keep, in `split`, only the positive pairs of a seeded random `ratio` of the labels.

    Args:
        xmc (`XMCDataset`): the data set.
        ratio (`float` in (0, 1]): share of labels to sample (at least one label).
        seed (`int`): the random seed.
        split (`str`): the split to restrict (training by default).
        keep_documents_without_labels (`bool`): keep the documents left with no sampled label (default: drop them,
            as MACLR's label-level few-shot set holds the sampled labels' instances only).

    Returns:
        A new `XMCDataset`; `metadata["few_shot_labels"]` lists the sampled label strings.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio={ratio} must be in (0, 1].")
    raw = _raw_splits(xmc)
    target = raw[split]
    num_sampled = max(1, int(round(ratio * xmc.num_labels)))
    sampled = np.random.default_rng(seed).choice(xmc.num_labels, size=num_sampled, replace=False)
    is_sampled = np.zeros(xmc.num_labels, dtype=bool)
    is_sampled[sampled] = True
    keep = is_sampled[target.label_indices]
    rows = None
    if not keep_documents_without_labels:
        row_of_entry = np.repeat(np.arange(len(target)), np.diff(target.label_indptr))
        rows = np.unique(row_of_entry[keep])
    raw[split] = _keep_entries(target, keep, rows)
    labels = [xmc.vocabulary.labels[index] for index in np.sort(sampled).tolist()]
    return _rebuild(xmc, raw, {"few_shot_labels": labels, "few_shot_ratio": ratio, "seed": seed})
