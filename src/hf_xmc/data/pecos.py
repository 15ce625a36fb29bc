"""Reader of the PECOS layout (XR-Transformer / MACLR examples).

Files: `X.trn.txt` / `X.tst.txt` (one document a line) with either `Y.trn.npz` / `Y.tst.npz` (scipy sparse label
matrices, `n x L`) or `Y.trn.txt` / `Y.tst.txt` (one line a document: comma- or space-separated 0-based label ids).
Optional: the label names, one a line, in `output-items.txt` or `label_map.txt` (default: the ids as strings), and
TF-IDF features `X.trn.npz` / `X.tst.npz` (or under `tfidf-attnxml/`), kept as the split's sparse features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .assembly import RawSplit, assemble_xmc_dataset
from .dataset import XMCDataset
from .errors import XMCInputError
from .text_lines import check_aligned, read_label_lines, read_lines, read_texts

PECOS_SPLITS = {"train": "trn", "test": "tst"}
LABEL_NAME_FILES = ("output-items.txt", "label_map.txt")


def _load_npz(path: Path, what: str) -> sp.csr_matrix:
    try:
        return sp.csr_matrix(sp.load_npz(path))
    except (OSError, ValueError, KeyError) as error:
        raise XMCInputError(f"cannot read the {what} as a scipy sparse .npz: {error}", str(path)) from error


def _label_ids_from_text(path: Path, num_labels: int | None) -> tuple[np.ndarray, np.ndarray]:
    label_lists = read_label_lines(path)
    indptr = np.zeros(len(label_lists) + 1, dtype=np.int64)
    flat: list[int] = []
    for line_number, labels in enumerate(label_lists, start=1):
        for label in labels:
            try:
                index = int(label)
            except ValueError:
                raise XMCInputError(f"label id {label!r} is not an integer", str(path), line_number) from None
            if index < 0 or (num_labels is not None and index >= num_labels):
                raise XMCInputError(
                    f"label id {index} is out of range (the label list has {num_labels} labels)"
                    if index >= 0
                    else f"label id {index} is negative",
                    str(path),
                    line_number,
                )
            flat.append(index)
        indptr[line_number] = len(flat)
    return indptr, np.asarray(flat, dtype=np.int64)


def load_pecos_dataset(
    directory,
    validation_size: float | int | None = None,
    seed: int = 0,
    allow_empty_text: bool = False,
    name: str | None = None,
) -> XMCDataset:
    """Load a PECOS-layout folder.

    Args:
        directory: the folder.
        validation_size (`float` or `int`, *optional*): carve a seeded validation split out of train.
        seed (`int`): seed of the validation carving.
        allow_empty_text (`bool`): keep documents with an empty text line instead of raising.
        name (`str`, *optional*): display name.
    """
    directory = Path(directory)
    label_names = None
    for file_name in LABEL_NAME_FILES:
        if (directory / file_name).is_file():
            label_names = read_lines(directory / file_name, "label name file")
            break
    num_labels = None if label_names is None else len(label_names)
    raw_splits = {}
    for split, stem in PECOS_SPLITS.items():
        text_path = directory / f"X.{stem}.txt"
        if not text_path.is_file():
            if split == "train":
                raise XMCInputError("missing X.trn.txt (PECOS layout)", str(directory))
            continue
        texts = read_texts(text_path, allow_empty_text)
        npz_path, txt_path = directory / f"Y.{stem}.npz", directory / f"Y.{stem}.txt"
        if npz_path.is_file():
            matrix = _load_npz(npz_path, "label matrix")
            if num_labels is not None and matrix.shape[1] != num_labels:
                raise XMCInputError(
                    f"the label matrix has {matrix.shape[1]} columns but the label list has {num_labels} labels",
                    str(npz_path),
                )
            num_labels = matrix.shape[1] if num_labels is None else num_labels
            matrix.eliminate_zeros()  # a repeated entry stays: the assembly counts it once and reports it
            indptr, indices, label_path = matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), npz_path
            rows = matrix.shape[0]
        elif txt_path.is_file():
            indptr, indices = _label_ids_from_text(txt_path, num_labels)
            label_path, rows = txt_path, len(indptr) - 1
        else:
            raise XMCInputError(
                f"missing Y.{stem}.npz or Y.{stem}.txt next to X.{stem}.txt (PECOS layout)", str(directory)
            )
        check_aligned(texts, range(rows), text_path, label_path)
        features = None
        for feature_path in (directory / f"X.{stem}.npz", directory / "tfidf-attnxml" / f"X.{stem}.npz"):
            if feature_path.is_file():
                features = _load_npz(feature_path, "feature matrix")
                if features.shape[0] != len(texts):
                    raise XMCInputError(
                        f"{features.shape[0]} feature rows but {len(texts)} documents", str(feature_path)
                    )
                break
        raw_splits[split] = RawSplit(indptr, indices, {"text": texts}, features, str(label_path))
    if num_labels is None:
        num_labels = max(
            (int(raw.label_indices.max()) + 1 for raw in raw_splits.values() if len(raw.label_indices)), default=0
        )
    if label_names is None:
        label_names = [str(index) for index in range(num_labels)]
    return assemble_xmc_dataset(
        raw_splits, label_names, name=name or directory.name, validation_size=validation_size, seed=seed
    )
