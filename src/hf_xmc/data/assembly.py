"""From what a format reader parsed to an `XMCDataset`: validation carving, frequency-sorted ids, Arrow splits.

Every reader returns `RawSplit`s whose labels are ids in the *source's* label space (the order of the source's label
list, or first-seen order for formats that only have label strings). `assemble_xmc_dataset` does the rest, the same
way for every format: drop a label repeated within one document (counted, reported), carve a seeded validation split
out of train, count labels on the (final) train split only, build the frequency-sorted `LabelVocabulary`, remap the
ids (labels and evaluation filter pairs) and build `datasets.Dataset`s straight from Arrow arrays.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from .dataset import XMCDataset
from .errors import XMCInputError
from .label_matrix import drop_repeated_ids, label_matrix_from_arrays
from .vocabulary import LabelVocabulary

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)


@dataclass
class RawSplit:
    """One parsed split, labels in the source label space.

    Args:
        label_indptr (`np.ndarray` int64, `(n + 1,)`), label_indices (`np.ndarray` int64): CSR arrays of the source
            label ids of every document.
        columns (`dict[str, list | pyarrow.Array]`): other columns (`text`, `uid`, ...), each of length n.
        features (`scipy.sparse.csr_matrix`, *optional*): `(n, D)` sparse features.
        source (`str`): the file(s) it came from, for messages.
        filter_pairs (`tuple[np.ndarray, np.ndarray]`, *optional*): CSR `(indptr, source label ids)` of the
            document-label pairs to leave out at evaluation (LF `filter_labels_*.txt`).
    """

    label_indptr: np.ndarray
    label_indices: np.ndarray
    columns: dict[str, list] = field(default_factory=dict)
    features: sp.csr_matrix | None = None
    source: str = ""
    filter_pairs: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.label_indptr) - 1

    def take(self, rows: np.ndarray) -> RawSplit:
        """The rows `rows` (sorted indices) of this split."""
        indptr, indices = take_csr_rows(self.label_indptr, self.label_indices, rows)
        columns = {
            name: values.take(pa.array(rows)) if isinstance(values, pa.Array) else [values[i] for i in rows.tolist()]
            for name, values in self.columns.items()
        }
        features = None if self.features is None else self.features[rows]
        filter_pairs = None if self.filter_pairs is None else take_csr_rows(*self.filter_pairs, rows)
        return RawSplit(indptr, indices, columns, features, self.source, filter_pairs)


def take_csr_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows `rows` of CSR arrays, as new CSR arrays (no Python loop over documents)."""
    lengths = np.diff(indptr)[rows]
    new_indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    positions = np.repeat(indptr[rows] - new_indptr[:-1], lengths) + np.arange(new_indptr[-1], dtype=np.int64)
    return new_indptr, indices[positions]


def split_validation(train: RawSplit, validation_size: float | int, seed: int) -> tuple[RawSplit, RawSplit]:
    """Carve a seeded random validation split out of `train` (rows keep their order in both parts).

    Args:
        validation_size (`float` in (0, 1) or `int` >= 1): a fraction or a number of training documents.
    """
    num_docs = len(train)
    if isinstance(validation_size, float) and 0 < validation_size < 1:
        num_validation = int(round(validation_size * num_docs))
    elif float(validation_size).is_integer():
        num_validation = int(validation_size)
    else:
        raise ValueError(f"validation_size={validation_size} must be a fraction in (0, 1) or a count >= 1.")
    if not 1 <= num_validation < num_docs:
        raise ValueError(
            f"validation_size={validation_size} gives {num_validation} validation documents out of {num_docs} "
            "training documents; it must leave at least one document on each side."
        )
    permutation = np.random.default_rng(seed).permutation(num_docs)
    validation_rows = np.sort(permutation[:num_validation])
    train_rows = np.sort(permutation[num_validation:])
    return train.take(train_rows), train.take(validation_rows)


def _arrow_split(raw: RawSplit, source_to_id: np.ndarray) -> datasets.Dataset:
    import datasets  # imported on first use: `import hf_xmc.data` stays fast

    indices = source_to_id[raw.label_indices] if len(raw.label_indices) else raw.label_indices
    offsets_type = pa.int32() if raw.label_indptr[-1] < 2**31 else pa.int64()
    list_type = pa.ListArray if offsets_type == pa.int32() else pa.LargeListArray
    labels = list_type.from_arrays(pa.array(raw.label_indptr, type=offsets_type), pa.array(indices, type=pa.int64()))
    arrays = {}
    for name, values in raw.columns.items():
        if isinstance(values, pa.Array):
            arrays[name] = values
        else:
            arrays[name] = pa.array(values, type=pa.string()) if name in ("text", "uid") else pa.array(values)
    arrays["labels"] = labels
    table = pa.table(arrays)
    return datasets.Dataset(table, fingerprint=_fingerprint(raw, indices, table))


def _fingerprint(raw: RawSplit, indices: np.ndarray, table: pa.Table) -> str:
    """A cheap deterministic fingerprint (`datasets` would otherwise pickle the whole table to hash it)."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{raw.source}|{table.num_rows}|{table.nbytes}|{table.schema}".encode())
    digest.update(np.ascontiguousarray(raw.label_indptr).tobytes())
    digest.update(np.ascontiguousarray(indices).tobytes())
    return digest.hexdigest()


def _filter_ids(raw: RawSplit) -> np.ndarray:
    return np.zeros(0, dtype=np.int64) if raw.filter_pairs is None else raw.filter_pairs[1]


def assemble_xmc_dataset(
    raw_splits: dict[str, RawSplit],
    label_names: list[str],
    label_texts: list[str] | None = None,
    label_descriptions: list[str] | None = None,
    name: str = "",
    validation_size: float | int | None = None,
    seed: int = 0,
) -> XMCDataset:
    """Build an `XMCDataset` from parsed splits (see the module docstring).

    Args:
        raw_splits (`dict[str, RawSplit]`): at least `train`; ids index `label_names`.
        label_names (`list[str]`): the source label space.
        label_texts, label_descriptions (`list[str]`, *optional*): per source label.
        validation_size (`float` or `int`, *optional*): carve a `validation` split out of train (seeded by `seed`).
    """
    if "train" not in raw_splits:
        raise XMCInputError(f"no training split was found (got splits {sorted(raw_splits)}).")
    num_source_labels = len(label_names)
    for raw in raw_splits.values():
        for what, ids in (("label id", raw.label_indices), ("filter pair label id", _filter_ids(raw))):
            if len(ids) and (ids.min() < 0 or ids.max() >= num_source_labels):
                bad = ids[(ids < 0) | (ids >= num_source_labels)][0]
                raise XMCInputError(f"{what} {int(bad)} is out of range for {num_source_labels} labels.", raw.source)
    raw_splits = dict(raw_splits)
    duplicates = {}
    for split, raw in raw_splits.items():
        indptr, indices, removed = drop_repeated_ids(raw.label_indptr, raw.label_indices)
        if removed:
            duplicates[split] = removed
            raw_splits[split] = replace(raw, label_indptr=indptr, label_indices=indices)
            logger.warning(
                "%s: %d label(s) repeated within a %s document were removed: a label counts once per document "
                "(label matrix, training counts, id order and propensities all use the de-duplicated labels; "
                "XMCDataset.duplicate_labels_removed holds the counts).",
                raw.source or name,
                removed,
                split,
            )
    if validation_size is not None:
        if "validation" in raw_splits:
            raise ValueError("the data set already has a validation split; do not pass validation_size.")
        raw_splits["train"], raw_splits["validation"] = split_validation(raw_splits["train"], validation_size, seed)
    train = raw_splits["train"]
    counts = np.bincount(train.label_indices, minlength=num_source_labels)
    vocabulary, source_to_id = LabelVocabulary.from_counts(
        label_names, counts, len(train), label_texts, label_descriptions
    )
    order = [split for split in ("train", "validation", "test") if split in raw_splits]
    order += sorted(set(raw_splits) - set(order))
    import datasets

    splits = datasets.DatasetDict({split: _arrow_split(raw_splits[split], source_to_id) for split in order})
    features = None
    if any(raw_splits[split].features is not None for split in order):
        features = {split: raw_splits[split].features for split in order if raw_splits[split].features is not None}
    filter_pairs = {}
    for split in order:
        pairs = raw_splits[split].filter_pairs
        if pairs is not None:
            filter_pairs[split] = label_matrix_from_arrays(pairs[0], source_to_id[pairs[1]], len(vocabulary))
    xmc = XMCDataset(
        splits=splits,
        vocabulary=vocabulary,
        features=features,
        name=name,
        filter_pairs=filter_pairs,
        duplicate_labels_removed=duplicates,
    )
    for split in order:
        empty = int(np.count_nonzero(np.diff(raw_splits[split].label_indptr) == 0))
        if empty:
            logger.info(
                "%s: %d %s documents have no label; they are kept (counted in describe()).", name, empty, split
            )
    return xmc
