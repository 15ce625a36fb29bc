"""`XMCDataset`: the splits of an XMC data set, its label vocabulary and optional sparse features, kept together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .label_matrix import label_counts, label_matrix_from_arrays
from .vocabulary import LabelVocabulary

if TYPE_CHECKING:  # `datasets` costs ~1 s to import: loaders import it when they build splits
    import datasets

TAIL_MAX_TRAIN_DOCS = 5
HEAD_LABEL_FRACTION = 0.2


def labels_column_arrays(split: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The `labels` column of a split as CSR `(indptr, indices)` arrays, read from Arrow without Python lists."""
    table = split.data.table
    if split._indices is not None:  # a select()/shuffle()/train_test_split() view: follow its row mapping
        table = table.select(["labels"]).take(split._indices.column(0))
    column = table.column("labels").combine_chunks()
    indptr = np.asarray(column.offsets, dtype=np.int64)
    indices = np.asarray(column.values, dtype=np.int64)
    return indptr - indptr[0], indices[indptr[0] : indptr[-1]]


@dataclass
class XMCDataset:
    """An XMC data set: splits with a `labels` column of vocabulary ids, the vocabulary, optional BoW features.

    Args:
        splits (`datasets.DatasetDict`): `train`/`test` (and `validation` when carved out); every split has `labels`
            (`List(int64)`, vocabulary ids) and, for text formats, `text` (plus `uid` where the format has one).
        vocabulary (`LabelVocabulary`): ids in decreasing training frequency, counts from the `train` split.
        features (`dict[str, scipy.sparse.csr_matrix]`, *optional*): per-split sparse features (BoW formats), rows
            aligned with the split's rows.
        name (`str`): a display name.
        metadata (`dict`): free-form information about the data set.
        filter_pairs (`dict[str, scipy.sparse.csr_matrix]`): per split, the document-label pairs to leave out at
            evaluation, as a binary CSR mask `(num_docs, num_labels)` in vocabulary ids, rows aligned with the split's
            rows (LF sets of the Extreme Classification Repository ship them as `filter_labels_{train,test}.txt`:
            "reciprocal pairs", a document that is itself a label). Empty when the source has none. Pass
            `exclude=xmc.filter_pairs["test"]` to `hf_xmc.metrics.compute_xmc_metrics`; for a subset of rows, slice
            it with the same rows (`xmc.filter_pairs["test"][rows]`).
        duplicate_labels_removed (`dict[str, int]`): per source split, how many labels repeated within one document
            were dropped at load time (a label counts once per document); empty when there were none.
    """

    splits: datasets.DatasetDict
    vocabulary: LabelVocabulary
    features: dict[str, sp.csr_matrix] | None = None
    name: str = ""
    metadata: dict = field(default_factory=dict)
    filter_pairs: dict[str, sp.csr_matrix] = field(default_factory=dict)
    duplicate_labels_removed: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, split: str) -> datasets.Dataset:
        return self.splits[split]

    def __repr__(self) -> str:
        rows = {split: len(dataset) for split, dataset in self.splits.items()}
        features = None if not self.features else {split: matrix.shape for split, matrix in self.features.items()}
        return f"XMCDataset(name={self.name!r}, splits={rows}, num_labels={self.num_labels}, features={features})"

    @property
    def num_labels(self) -> int:
        return len(self.vocabulary)

    @property
    def label_texts(self) -> list[str] | None:
        return self.vocabulary.texts

    def label_matrix(self, split: str = "train") -> sp.csr_matrix:
        """The binary label matrix `(num_docs, num_labels)` of `split` (CSR, float32)."""
        indptr, indices = labels_column_arrays(self.splits[split])
        return label_matrix_from_arrays(indptr, indices, self.num_labels)

    def describe(self, tail_max_train_docs: int = TAIL_MAX_TRAIN_DOCS) -> dict:
        """Statistics of the data set, as a flat, ordered dict (the table `hf-xmc data describe` prints).

        Per split: documents, label assignments per document, documents with no label, distinct labels. For the label
        space: training documents per label, the share of training assignments held by the 20% most frequent labels
        (head), labels with at most `tail_max_train_docs` training documents (tail, unseen labels included), labels
        with no training document and those of them that occur in the test split. When present: the evaluation filter
        pairs of each split and the repeated labels dropped at load time.
        """
        stats: dict = {
            "name": self.name,
            "num_labels": self.num_labels,
            "label_texts": self.vocabulary.texts is not None,
        }
        if self.features:
            stats["num_features"] = int(next(iter(self.features.values())).shape[1])
        split_counts = {}
        for split_name, split in self.splits.items():
            indptr, indices = labels_column_arrays(split)
            lengths = np.diff(indptr)
            counts = np.bincount(indices, minlength=self.num_labels)
            split_counts[split_name] = counts
            stats[f"{split_name}_docs"] = len(split)
            stats[f"{split_name}_labels_per_doc"] = float(lengths.mean()) if len(lengths) else 0.0
            stats[f"{split_name}_docs_with_no_label"] = int(np.count_nonzero(lengths == 0))
            stats[f"{split_name}_distinct_labels"] = int(np.count_nonzero(counts))
            if split_name in self.filter_pairs:
                stats[f"{split_name}_filter_pairs"] = int(self.filter_pairs[split_name].nnz)
            if self.duplicate_labels_removed.get(split_name):
                stats[f"{split_name}_duplicate_labels_removed"] = int(self.duplicate_labels_removed[split_name])
        train_counts = self.vocabulary.counts
        seen = train_counts > 0
        stats["docs_per_label"] = float(train_counts[seen].mean()) if seen.any() else 0.0
        stats["max_docs_per_label"] = int(train_counts.max()) if len(train_counts) else 0
        num_head = max(1, int(round(HEAD_LABEL_FRACTION * self.num_labels)))
        total = train_counts.sum()
        stats["head_20pct_labels_share"] = (
            float(np.sort(train_counts)[::-1][:num_head].sum() / total) if total else 0.0
        )
        tail = train_counts <= tail_max_train_docs
        stats[f"tail_labels_le{tail_max_train_docs}_docs"] = int(np.count_nonzero(tail))
        stats[f"tail_labels_le{tail_max_train_docs}_share_of_labels"] = float(tail.mean()) if len(tail) else 0.0
        stats["labels_without_train_docs"] = int(np.count_nonzero(~seen))
        if "test" in split_counts:
            stats["unseen_test_labels"] = int(np.count_nonzero((split_counts["test"] > 0) & ~seen))
        return stats

    def label_frequencies(self) -> np.ndarray:
        """Training count of every label id (the vocabulary's counts, recomputed from the `train` split)."""
        return label_counts(self.label_matrix("train"))
