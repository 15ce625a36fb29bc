"""Reader of the Extreme Classification Repository's sparse BoW text format.

A file is a header `N D L` (points, features, labels) followed by N lines `l1,l2,... f:v f:v ...` (0-based ids; a
point with no label starts with a space). Layouts:
- one data file with split files (`*_trSplit.txt` / `*_tstSplit.txt`: 1-based row ids, one column per random split,
  the column chosen with `split_column`), e.g. `Bibtex_data.txt`;
- two files, `*train*.txt` + `*test*.txt`, each with its header;
- a single file (one `train` split), or a headerless file (AttentionXML's `train_v1.txt`) given `num_features` /
  `num_labels` (inferred as max id + 1 when not given).
Features come back as `scipy.sparse.csr_matrix` (float32), never dense. Label strings are the ids (`"0"`, `"1"`, ...).

Checks beyond the syntax: a feature id repeated within one line is rejected (`XMCInputError` naming the line and the
id; its two values would otherwise become a duplicate CSR entry that scikit-learn refuses, and summing them would
silently change the document), while a label repeated within one line counts once (reported, see
`assemble_xmc_dataset`). A row listed twice in the split files, in one file or in both the train and test files, is
train/test leakage and raises, naming the row and the file(s).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .assembly import RawSplit, assemble_xmc_dataset
from .bow_parser import parse_bow_lines
from .dataset import XMCDataset
from .errors import XMCInputError
from .label_matrix import drop_repeated_ids

_HEADER = re.compile(rb"^\s*(\S+)\s+(\S+)\s+(\S+)\s*$")
_CHUNK_BYTES = 64 << 20


class BoWFile:
    """A parsed BoW file: label CSR arrays, feature matrix and the header's dimensions."""

    def __init__(self, path, label_indptr, label_ids, features, num_labels, has_header):
        self.path = str(path)
        self.label_indptr = label_indptr
        self.label_ids = label_ids
        self.features = features
        self.num_labels = num_labels
        self.has_header = has_header

    @property
    def num_rows(self) -> int:
        return len(self.label_indptr) - 1

    def raw_split(self, rows: np.ndarray | None = None) -> RawSplit:
        raw = RawSplit(self.label_indptr, self.label_ids, {}, self.features, self.path)
        return raw if rows is None else raw.take(rows)


def _parse_header(first_line: bytes, path) -> tuple[int, int, int] | None:
    """`(N, D, L)` from a header line, None when the first line is a data line (no header)."""
    if b":" in first_line or b"," in first_line:
        return None
    match = _HEADER.match(first_line)
    if match is None:
        raise XMCInputError(
            f"bad header {first_line.decode(errors='replace').strip()!r}: expected 'num_points num_features "
            "num_labels' (three integers)",
            str(path),
            1,
        )
    try:
        values = tuple(int(value) for value in match.groups())
    except ValueError:
        raise XMCInputError(
            f"bad header {first_line.decode(errors='replace').strip()!r}: the three values must be integers",
            str(path),
            1,
        ) from None
    if min(values) < 0:
        raise XMCInputError(f"bad header {values}: negative dimension", str(path), 1)
    return values


def _chunks(body: bytes):
    """Split `body` at line ends into pieces of about `_CHUNK_BYTES` (bounded memory for the vectorised parser)."""
    start, lines_before = 0, 0
    while start < len(body):
        end = body.find(b"\n", min(start + _CHUNK_BYTES, len(body)) - 1)
        end = len(body) if end < 0 else end + 1
        yield body[start:end], lines_before
        lines_before += body.count(b"\n", start, end)
        start = end


def read_bow_file(path, num_features: int | None = None, num_labels: int | None = None) -> BoWFile:
    """Parse one BoW file (with or without its `N D L` header).

    Args:
        path: the file.
        num_features, num_labels (`int`, *optional*): dimensions of a headerless file (default: max id + 1); with a
            header they must agree with it.

    Raises `XMCInputError` naming the file and line for a malformed line, an id out of range, or a feature id
    repeated within one line (rejected rather than summed: it means a broken file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    data = path.read_bytes()
    if not data.strip():
        raise XMCInputError("the file is empty", str(path))
    first_end = data.find(b"\n")
    first_line = data if first_end < 0 else data[:first_end]
    header = _parse_header(first_line, path)
    body, first_line_number = (data[first_end + 1 :] if first_end >= 0 else b"", 2) if header else (data, 1)
    body = body.rstrip(b"\r\n")
    if header is not None:
        for given, from_header, what in (
            (num_features, header[1], "num_features"),
            (num_labels, header[2], "num_labels"),
        ):
            if given is not None and given != from_header:
                raise XMCInputError(f"{what}={given} disagrees with the header's {from_header}", str(path), 1)
        num_features, num_labels = header[1], header[2]
    parts = (
        [parse_bow_lines(chunk, path, first_line_number + offset) for chunk, offset in _chunks(body)] if body else []
    )
    label_indptr = _concat_indptr([part.label_indptr for part in parts])
    feature_indptr = _concat_indptr([part.feature_indptr for part in parts])
    label_ids = np.concatenate([part.label_ids for part in parts]) if parts else np.zeros(0, np.int64)
    feature_ids = np.concatenate([part.feature_ids for part in parts]) if parts else np.zeros(0, np.int64)
    values = np.concatenate([part.feature_values for part in parts]) if parts else np.zeros(0)
    num_rows = len(label_indptr) - 1
    if header is not None and num_rows != header[0]:
        raise XMCInputError(f"the header says {header[0]} points but the file has {num_rows} data lines", str(path), 1)
    if num_features is None:
        num_features = int(feature_ids.max()) + 1 if len(feature_ids) else 0
    if num_labels is None:
        num_labels = int(label_ids.max()) + 1 if len(label_ids) else 0
    _check_range(feature_ids, feature_indptr, num_features, "feature id", "num_features", path, first_line_number)
    _check_range(label_ids, label_indptr, num_labels, "label id", "num_labels", path, first_line_number)
    _check_repeated_features(feature_indptr, feature_ids, path, first_line_number)
    index_dtype = np.int32 if max(num_features, len(feature_ids)) < 2**31 else np.int64
    features = sp.csr_matrix(
        (values.astype(np.float32), feature_ids.astype(index_dtype), feature_indptr.astype(index_dtype)),
        shape=(num_rows, num_features),
    )
    return BoWFile(path, label_indptr, label_ids, features, num_labels, header is not None)


def _concat_indptr(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(1, dtype=np.int64)
    offsets = np.cumsum([0] + [part[-1] for part in parts[:-1]])
    return np.concatenate([parts[0][:1]] + [part[1:] + offset for part, offset in zip(parts, offsets)])


def _check_range(ids, indptr, limit, what, dimension, path, first_line_number):
    bad = np.flatnonzero(ids >= limit)
    if len(bad):
        row = int(np.searchsorted(indptr, bad[0], side="right")) - 1
        raise XMCInputError(
            f"{what} {int(ids[bad[0]])} is out of range: {dimension} is {limit} (valid ids 0..{limit - 1})",
            str(path),
            first_line_number + row,
        )


def _check_repeated_features(indptr: np.ndarray, ids: np.ndarray, path, first_line_number: int) -> None:
    """Raise `XMCInputError` for the first line that lists a feature id twice (linear time when ids are sorted)."""
    if drop_repeated_ids(indptr, ids)[2] == 0:
        return
    lengths = np.diff(indptr)
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    order = np.lexsort((ids, rows))
    repeated = np.flatnonzero((ids[order][1:] == ids[order][:-1]) & (rows[order][1:] == rows[order][:-1]))
    row, feature = int(rows[order][repeated[0]]), int(ids[order][repeated[0]])
    raise XMCInputError(
        f"feature id {feature} appears more than once on this line (each feature at most once a point)",
        str(path),
        first_line_number + row,
    )


def read_split_file(path, num_rows: int, column: int = 0) -> np.ndarray:
    """0-based row ids from a split file (1-based ids, whitespace-separated columns, one split a column)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist.")
    lines = path.read_text().splitlines()
    if not any(line.strip() for line in lines):
        raise XMCInputError("the split file is empty", str(path))
    rows = []
    for line_number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if column >= len(fields) or column < 0:
            raise XMCInputError(
                f"split_column={column} does not exist: the line has {len(fields)} column(s)", str(path), line_number
            )
        try:
            row = int(fields[column])
        except ValueError:
            raise XMCInputError(f"row id {fields[column]!r} is not an integer", str(path), line_number) from None
        if not 1 <= row <= num_rows:
            raise XMCInputError(
                f"row id {row} is out of range: split files are 1-based and the data file has {num_rows} points",
                str(path),
                line_number,
            )
        rows.append(row - 1)
    rows = np.asarray(rows, dtype=np.int64)
    unique, first = np.unique(rows, return_index=True)
    if len(unique) != len(rows):
        repeat = int(np.setdiff1d(np.arange(len(rows)), first)[0])
        first_index = int(np.flatnonzero(rows == rows[repeat])[0])
        raise XMCInputError(
            f"row {rows[repeat] + 1} is listed twice in this split file (lines {_line_of(lines, first_index)} and "
            f"{_line_of(lines, repeat)}): a document must be in one split once",
            str(path),
            _line_of(lines, repeat),
        )
    return rows


def _line_of(lines: list[str], entry: int) -> int:
    """1-based line number of the `entry`-th non-blank line."""
    return int(np.flatnonzero([bool(line.split()) for line in lines])[entry]) + 1


def read_split_rows(train_path, test_path, num_rows: int, column: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The train and test rows of a data file; a row in both files (train/test leakage) raises, naming both files."""
    train_rows = read_split_file(train_path, num_rows, column)
    test_rows = read_split_file(test_path, num_rows, column)
    shared = np.intersect1d(train_rows, test_rows)
    if len(shared):
        row = int(shared[0])
        raise XMCInputError(
            f"row {row + 1} is in both split files, {train_path} (line {_split_line(train_path, train_rows, row)}) "
            f"and {test_path} (line {_split_line(test_path, test_rows, row)}): train/test leakage "
            f"({len(shared)} shared row(s) in column {column})",
            str(test_path),
            _split_line(test_path, test_rows, row),
        )
    return train_rows, test_rows


def _split_line(path, rows: np.ndarray, row: int) -> int:
    return _line_of(Path(path).read_text().splitlines(), int(np.flatnonzero(rows == row)[0]))


def _find(directory: Path, predicate) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.is_file() and predicate(path.name.lower()))


def load_bow_dataset(
    path,
    validation_size: float | int | None = None,
    seed: int = 0,
    split_column: int = 0,
    split_files: tuple[str, str] | None = None,
    num_features: int | None = None,
    num_labels: int | None = None,
    name: str | None = None,
) -> XMCDataset:
    """Load a BoW data set: a folder (data file + split files, or train + test files) or a single file.

    Args:
        path: a folder or one BoW file.
        validation_size (`float` or `int`, *optional*): carve a seeded validation split out of train.
        seed (`int`): seed of the validation carving.
        split_column (`int`): 0-based column of the split files to use (the repository ships several random splits).
        split_files (`tuple[str, str]`, *optional*): explicit (train, test) split files for a single data file.
        num_features, num_labels (`int`, *optional*): dimensions of headerless files.
        name (`str`, *optional*): display name.
    """
    path = Path(path)
    raw_splits: dict[str, RawSplit] = {}
    if path.is_file():
        bow = read_bow_file(path, num_features, num_labels)
        if split_files is not None:
            rows = read_split_rows(split_files[0], split_files[1], bow.num_rows, split_column)
            for split, split_rows in zip(("train", "test"), rows):
                raw_splits[split] = bow.raw_split(split_rows)
        else:
            raw_splits["train"] = bow.raw_split()
        total_labels = bow.num_labels
    else:
        data_files = _find(path, lambda name: name.endswith("_data.txt"))
        if len(data_files) == 1:
            bow = read_bow_file(data_files[0], num_features, num_labels)
            split_paths = []
            for marker in ("trsplit", "tstsplit"):
                found = _find(path, lambda name, marker=marker: marker in name and name.endswith(".txt"))
                if len(found) != 1:
                    raise XMCInputError(
                        f"expected one *{marker}*.txt split file next to {data_files[0].name}, found "
                        f"{[f.name for f in found]}",
                        str(path),
                    )
                split_paths.append(found[0])
            rows = read_split_rows(split_paths[0], split_paths[1], bow.num_rows, split_column)
            for split, split_rows in zip(("train", "test"), rows):
                raw_splits[split] = bow.raw_split(split_rows)
            total_labels = bow.num_labels
        else:
            files = {}
            for split in ("train", "test"):
                found = _find(path, lambda name, split=split: split in name and name.endswith(".txt"))
                if len(found) != 1:
                    raise XMCInputError(
                        f"expected one *{split}*.txt BoW file, found {[f.name for f in found]}", str(path)
                    )
                files[split] = read_bow_file(found[0], num_features, num_labels)
            train, test = files["train"], files["test"]
            if not train.has_header and not test.has_header:
                # headerless files without given dimensions: both take the larger inferred space
                shape = max(train.features.shape[1], test.features.shape[1])
                for bow in (train, test):
                    bow.features.resize((bow.num_rows, shape))
                    bow.num_labels = max(train.num_labels, test.num_labels)
            if train.features.shape[1] != test.features.shape[1] or train.num_labels != test.num_labels:
                raise XMCInputError(
                    f"train and test dimensions differ: {train.features.shape[1]} x {train.num_labels} features x "
                    f"labels vs {test.features.shape[1]} x {test.num_labels} ({test.path})",
                    train.path,
                    1,
                )
            raw_splits = {split: bow.raw_split() for split, bow in files.items()}
            total_labels = train.num_labels
    return assemble_xmc_dataset(
        raw_splits,
        [str(index) for index in range(total_labels)],
        name=name or path.stem,
        validation_size=validation_size,
        seed=seed,
    )
