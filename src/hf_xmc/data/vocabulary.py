"""`LabelVocabulary`: the one mapping between label ids and label strings, ids in decreasing training frequency.

APLC's cluster cut-offs, XLGen's target order and every tail-label statistic assume that label id 0 is the most
frequent training label. The vocabulary guarantees it: ids are assigned by a *stable* sort on decreasing training
count (ties keep the order of the source's label space), so labels never seen in training come last.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import XMCInputError
from .propensity import inverse_propensity

LABEL_VOCABULARY_FILE = "label_vocabulary.json"
logger = logging.getLogger(__name__)


def resolve_checkpoint_file(
    directory_or_repo_id: str | os.PathLike,
    filename: str,
    revision: str | None = None,
    token: str | bool | None = None,
    repo_type: str | None = None,
) -> Path | None:
    """The local path of `filename` in a checkpoint folder or Hub repository (downloaded), or the file itself when
    `directory_or_repo_id` is a file; `None` when the folder or repository has no such file.

    Raises `FileNotFoundError` when `directory_or_repo_id` is neither a folder, a file nor a valid Hub repo id.
    """
    path = Path(directory_or_repo_id)
    if path.is_file():
        return path
    if path.is_dir():
        path = path / filename
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(str(directory_or_repo_id))
    except HFValidationError as error:
        raise FileNotFoundError(f"{directory_or_repo_id} is neither a folder, a file nor a Hub repo id.") from error
    try:
        download = hf_hub_download(str(directory_or_repo_id), filename, revision=revision, token=token,
                                   repo_type=repo_type)  # fmt: skip
    except EntryNotFoundError:
        return None
    return Path(download)


class LabelVocabulary:
    """Label ids <-> label strings (and label texts), with the training count of every label.

    Build one with `LabelVocabulary.from_label_lists` (label strings) or `LabelVocabulary.from_counts` (a source
    label space and its training counts); both sort by decreasing training frequency. The constructor takes the
    final, already ordered arrays and does not re-sort (use it to restore a saved vocabulary).

    Args:
        labels (`list[str]`): label string of every id.
        counts (`array-like` of int, shape `(num_labels,)`): training-split count of every id.
        num_train_docs (`int`): number of training documents the counts come from.
        texts (`list[str]`, *optional*): a short text of every label (LF `title`), or `None` when the format has none.
        descriptions (`list[str]`, *optional*): a long text of every label (LF `content`), or `None`.
    """

    def __init__(
        self,
        labels: Sequence[str],
        counts,
        num_train_docs: int,
        texts: Sequence[str] | None = None,
        descriptions: Sequence[str] | None = None,
    ):
        self.labels = [str(label) for label in labels]
        self.counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        self.num_train_docs = int(num_train_docs)
        self.texts = None if texts is None else [str(text) for text in texts]
        self.descriptions = None if descriptions is None else [str(text) for text in descriptions]
        if len(self.counts) != len(self.labels):
            raise ValueError(f"got {len(self.labels)} labels but {len(self.counts)} counts.")
        for name, values in (("texts", self.texts), ("descriptions", self.descriptions)):
            if values is not None and len(values) != len(self.labels):
                raise ValueError(f"got {len(self.labels)} labels but {len(values)} {name}.")
        if np.any(self.counts < 0):
            raise ValueError("label counts must be non-negative.")
        if self.num_train_docs < 0:
            raise ValueError(f"num_train_docs must be >= 0, got {self.num_train_docs}.")
        self.label_to_id = {label: index for index, label in enumerate(self.labels)}
        if len(self.label_to_id) != len(self.labels):
            duplicates = [label for label, count in Counter(self.labels).items() if count > 1][:5]
            raise ValueError(f"label strings must be unique; duplicated: {duplicates}.")

    # ----------------------------------------------------------------------------------------------- construction
    @classmethod
    def from_counts(
        cls,
        labels: Sequence[str],
        counts,
        num_train_docs: int,
        texts: Sequence[str] | None = None,
        descriptions: Sequence[str] | None = None,
    ) -> tuple[LabelVocabulary, np.ndarray]:
        """Frequency-sort a source label space.

        Args:
            labels (`list[str]`): the source's label strings, in the source's order (its label ids).
            counts (`array-like` of shape `(num_labels,)`): training count of each source label.
            num_train_docs (`int`): number of training documents.
            texts, descriptions (`list[str]`, *optional*): per source label.

        Returns:
            `(vocabulary, source_to_id)`: the vocabulary and an int64 array mapping each source label id to its new
            (frequency-sorted) id.
        """
        counts = np.asarray(counts, dtype=np.int64).reshape(-1)
        if len(counts) != len(labels):
            raise ValueError(f"got {len(labels)} labels but {len(counts)} counts.")
        order = np.argsort(-counts, kind="stable")
        source_to_id = np.empty_like(order)
        source_to_id[order] = np.arange(len(order), dtype=order.dtype)

        def reorder(values):
            if values is None:
                return None
            array = np.empty(len(values), dtype=object)
            array[:] = list(values)
            return array[order].tolist()

        vocabulary = cls(reorder(list(labels)), counts[order], num_train_docs, reorder(texts), reorder(descriptions))
        return vocabulary, source_to_id.astype(np.int64)

    @classmethod
    def from_label_lists(
        cls,
        train_label_lists: Iterable[Sequence[str]],
        all_labels: Sequence[str] | None = None,
        texts: dict[str, str] | Sequence[str] | None = None,
    ) -> LabelVocabulary:
        """Build a frequency-sorted vocabulary from the training documents' label strings.

        A label listed more than once for one document counts once (as in the loaders and the label matrix); the
        number of such repeats is logged as a warning.

        Args:
            train_label_lists (`list[list[str]]`): the labels of every training document.
            all_labels (`list[str]`, *optional*): the full label space in source order (e.g. with labels that occur
                only in test). Defaults to the training labels in first-seen order. Training labels missing from it
                raise `XMCInputError`.
            texts (`dict[str, str]` or `list[str]`, *optional*): label texts, by label string or aligned with
                `all_labels`.
        """
        first_seen: dict[str, int] = (
            {} if all_labels is None else {str(label): i for i, label in enumerate(all_labels)}
        )
        if all_labels is not None and len(first_seen) != len(all_labels):
            raise XMCInputError("all_labels contains duplicated label strings.")
        flat_ids: list[int] = []
        num_docs = num_repeats = 0
        for doc_index, label_list in enumerate(train_label_lists):
            num_docs += 1
            label_strings = [str(label) for label in label_list]
            unique_labels = dict.fromkeys(label_strings)
            num_repeats += len(label_strings) - len(unique_labels)
            for label in unique_labels:
                index = first_seen.get(label)
                if index is None:
                    if all_labels is not None:
                        raise XMCInputError(
                            f"training document {doc_index} has label {label!r}, which is not in all_labels."
                        )
                    index = first_seen[label] = len(first_seen)
                flat_ids.append(index)
        if num_repeats:
            logger.warning("%d label(s) repeated within a training document were counted once.", num_repeats)
        labels = list(first_seen)
        counts = np.bincount(np.asarray(flat_ids, dtype=np.int64), minlength=len(labels))
        label_texts = None
        if isinstance(texts, dict):
            missing = [label for label in labels if label not in texts]
            if missing:
                raise XMCInputError(f"no text for {len(missing)} labels, e.g. {missing[:5]}.")
            label_texts = [texts[label] for label in labels]
        elif texts is not None:
            label_texts = list(texts)
            if len(label_texts) != len(labels):
                raise XMCInputError(f"got {len(label_texts)} label texts for {len(labels)} labels.")
        vocabulary, _ = cls.from_counts(labels, counts, num_docs, label_texts)
        return vocabulary

    # ---------------------------------------------------------------------------------------------------- mapping
    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (
            f"LabelVocabulary(num_labels={len(self)}, num_train_docs={self.num_train_docs}, "
            f"has_texts={self.texts is not None}, head={self.labels[:3]})"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, LabelVocabulary):
            return NotImplemented
        return (
            self.labels == other.labels
            and self.texts == other.texts
            and self.descriptions == other.descriptions
            and self.num_train_docs == other.num_train_docs
            and np.array_equal(self.counts, other.counts)
        )

    def encode(self, label_strings: Iterable[str]) -> list[int]:
        """Label strings -> ids. Raises `XMCInputError` naming every unknown label (up to 10)."""
        label_strings = [str(label) for label in label_strings]
        ids = [self.label_to_id.get(label, -1) for label in label_strings]
        if -1 in ids:
            unknown = [label for label, index in zip(label_strings, ids) if index < 0]
            raise XMCInputError(
                f"{len(unknown)} unknown label(s), not in the label vocabulary of {len(self)} labels: {unknown[:10]}"
            )
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> label strings. Raises `XMCInputError` for ids outside `[0, len(self))`."""
        ids = [int(index) for index in np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).ravel()]
        bad = [index for index in ids if index < 0 or index >= len(self)]
        if bad:
            raise XMCInputError(f"label id(s) {bad[:10]} out of range for a vocabulary of {len(self)} labels.")
        return [self.labels[index] for index in ids]

    def label_texts(self, ids: Iterable[int] | None = None) -> list[str]:
        """The text of each label (`texts`, or the label string itself when the format has no label text)."""
        source = self.texts if self.texts is not None else self.labels
        if ids is None:
            return list(source)
        return [source[self.label_to_id[label]] for label in self.decode(ids)]

    # ------------------------------------------------------------------------------------------------- statistics
    def propensities(self, a: float | None = None, b: float | None = None, propensity: str | None = None):
        """Inverse propensities `1 / p_l` of every id (see `hf_xmc.data.propensity.inverse_propensity`)."""
        return inverse_propensity(self.counts, self.num_train_docs, a=a, b=b, propensity=propensity)

    def is_frequency_sorted(self) -> bool:
        """Whether counts are non-increasing with the id (the invariant every model relies on)."""
        return bool(np.all(self.counts[:-1] >= self.counts[1:])) if len(self.counts) > 1 else True

    @property
    def num_unseen_labels(self) -> int:
        """Labels with no training document (they hold the last ids)."""
        return int(np.count_nonzero(self.counts == 0))

    # ------------------------------------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        return {
            "labels": self.labels,
            "texts": self.texts,
            "descriptions": self.descriptions,
            "counts": self.counts.tolist(),
            "num_train_docs": self.num_train_docs,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> LabelVocabulary:
        missing = [key for key in ("labels", "counts", "num_train_docs") if key not in data]
        if missing:
            raise XMCInputError(f"label vocabulary is missing the key(s) {missing}.", path=source)
        try:
            return cls(
                data["labels"], data["counts"], data["num_train_docs"], data.get("texts"), data.get("descriptions")
            )
        except ValueError as error:
            raise XMCInputError(f"invalid label vocabulary: {error}", path=source) from error

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Write `label_vocabulary.json` into `save_directory` (created if needed); returns the file path."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / LABEL_VOCABULARY_FILE
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, ensure_ascii=False)
        return str(path)

    @classmethod
    def from_pretrained(
        cls,
        directory_or_repo_id: str | os.PathLike,
        revision: str | None = None,
        token: str | bool | None = None,
        repo_type: str | None = None,
    ) -> LabelVocabulary:
        """Read `label_vocabulary.json` from a local directory (or the file itself), or from a Hub repository.

        Args:
            directory_or_repo_id (`str`): a directory, a path to the JSON file, or a Hub repo id.
            revision, token, repo_type: passed to `huggingface_hub.hf_hub_download` for a Hub repo id.
        """
        path = resolve_checkpoint_file(directory_or_repo_id, LABEL_VOCABULARY_FILE, revision, token, repo_type)
        if path is None:
            raise FileNotFoundError(f"no {LABEL_VOCABULARY_FILE} in {directory_or_repo_id}: no label vocabulary.")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except json.JSONDecodeError as error:
            raise XMCInputError(f"not valid JSON: {error.msg}", path=str(path), line=error.lineno) from error
        return cls.from_dict(data, source=str(path))
