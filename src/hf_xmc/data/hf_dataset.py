"""`XMCDataset` from any `datasets.Dataset` / `DatasetDict` with a text column and a label-list column.

Labels may be strings (the label space is then `label_names`, or the training labels in first-seen order followed by
those only in other splits), integer ids (into `label_names`, or `0..max`), or a `List(ClassLabel)` feature (its
names are the label space). The text column becomes `text`, the label column `labels` (vocabulary ids); other
columns are kept as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .assembly import RawSplit, assemble_xmc_dataset
from .dataset import XMCDataset
from .errors import XMCInputError
from .text_lines import encode_label_lists

if TYPE_CHECKING:
    import datasets


def _label_feature(dataset: datasets.Dataset, label_column: str):
    feature = dataset.features[label_column]
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, (list, tuple)) and feature:
        inner = feature[0]
    if inner is None:
        raise XMCInputError(f"column {label_column!r} must be a list of labels per document, got feature {feature}")
    return inner


def _id_arrays(dataset: datasets.Dataset, label_column: str, split: str):
    column = dataset.data.column(label_column).combine_chunks()
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise XMCInputError(
            f"split {split!r}, row {row}: the label list is null (use [] for a document with no label)"
        )
    offsets = np.asarray(column.offsets, dtype=np.int64)
    values = np.asarray(column.values, dtype=np.int64)[offsets[0] : offsets[-1]]
    return offsets - offsets[0], values


def xmc_dataset_from_hf(
    dataset: datasets.Dataset | datasets.DatasetDict,
    text_column: str = "text",
    label_column: str = "labels",
    label_names: list[str] | None = None,
    validation_size: float | int | None = None,
    seed: int = 0,
    allow_empty_text: bool = False,
    name: str = "",
) -> XMCDataset:
    """Wrap a `datasets` object as an `XMCDataset`.

    Args:
        dataset (`datasets.Dataset` or `datasets.DatasetDict`): a single `Dataset` becomes the `train` split.
        text_column (`str`): the text column.
        label_column (`str`): the column of label lists (strings, ids or `ClassLabel`).
        label_names (`list[str]`, *optional*): the label space; unknown label strings and ids outside it raise.
        validation_size (`float` or `int`, *optional*): carve a seeded validation split out of train.
        seed (`int`): seed of the validation carving.
        allow_empty_text (`bool`): keep empty texts instead of raising.
        name (`str`): display name.
    """
    import datasets  # imported on first use: `import hf_xmc.data` stays fast

    splits = datasets.DatasetDict({"train": dataset}) if isinstance(dataset, datasets.Dataset) else dataset
    if "train" not in splits:
        raise XMCInputError(f"the DatasetDict needs a 'train' split, got {sorted(splits)}")
    first = splits["train"]
    for column in (text_column, label_column):
        if column not in first.column_names:
            raise XMCInputError(f"no column {column!r} in the data set (columns: {first.column_names})")
    inner = _label_feature(first, label_column)
    if isinstance(inner, datasets.ClassLabel):
        label_names = list(inner.names) if label_names is None else label_names
        kind = "ids"
    elif isinstance(inner, datasets.Value) and inner.dtype in ("string", "large_string"):
        kind = "strings"
    elif isinstance(inner, datasets.Value) and "int" in inner.dtype:
        kind = "ids"
    else:
        raise XMCInputError(f"column {label_column!r} must hold label strings or integer ids, got {inner}")
    label_to_source = {} if label_names is None else {str(label): i for i, label in enumerate(label_names)}
    raw_splits = {}
    order = ["train"] + [split for split in splits if split != "train"]
    for split in order:
        data = splits[split]
        if data._indices is not None:  # a select()/shuffle() view: materialise it so Arrow rows match
            data = data.flatten_indices()
        for column in (text_column, label_column):
            if column not in data.column_names:
                raise XMCInputError(f"split {split!r} has no column {column!r} (columns: {data.column_names})")
        if kind == "strings":
            label_lists = data[label_column]
            if any(labels is None for labels in label_lists):
                raise XMCInputError(f"split {split!r}: a label list is null (use [] for a document with no label)")
            indptr, indices = encode_label_lists(
                label_lists, label_to_source, f"split {split!r}", grow=label_names is None
            )
        else:
            indptr, indices = _id_arrays(data, label_column, split)
            if len(indices) and indices.min() < 0:
                row = int(np.searchsorted(indptr, np.flatnonzero(indices < 0)[0], side="right")) - 1
                raise XMCInputError(f"split {split!r}, row {row}: negative label id")
        table = data.data.table
        text = pc.fill_null(table.column(text_column).combine_chunks(), "")
        if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
            raise XMCInputError(f"column {text_column!r} must hold strings, got {text.type}")
        if not allow_empty_text:
            empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(zero_copy_only=False)
            if empty.any():
                raise XMCInputError(f"split {split!r}, row {int(np.flatnonzero(empty)[0])}: empty text")
        columns = {"text": text}
        for column in table.column_names:
            if column not in (text_column, label_column, "text", "labels"):
                columns[column] = table.column(column).combine_chunks()
        raw_splits[split] = RawSplit(indptr, indices, columns, source=f"split {split!r}")
    if label_names is None:
        if kind == "strings":
            label_names = list(label_to_source)
        else:
            top = max(
                (int(raw.label_indices.max()) + 1 for raw in raw_splits.values() if len(raw.label_indices)), default=0
            )
            label_names = [str(index) for index in range(top)]
    return assemble_xmc_dataset(
        raw_splits, [str(label) for label in label_names], name=name, validation_size=validation_size, seed=seed
    )
