"""Reader of the Extreme Classification Repository's raw-text "LF-" layout (also MACLR's).

Files: `trn.json.gz` / `tst.json.gz` (JSON lines: `uid`, `title`, `content`, `target_ind`) and `lbl.json.gz`
(`uid`, `title`, `content`); plain `.json` works too. `target_ind` indexes the lines of `lbl.json.gz`. The text of a
document is `title + " " + content`, as the LF benchmarks use it, or the non-empty one of the two alone when the other
is empty or blank (no leading or trailing space); `title` and `content` are kept as columns too (MACLR pairs them).
Label texts are the label titles, label descriptions their contents. A label listed twice in one `target_ind` counts
once (see `assemble_xmc_dataset`).

Optional: `filter_labels_train.txt` / `filter_labels_test.txt`, the document-label pairs the repository leaves out at
evaluation ("reciprocal pairs": a document that is itself a label, e.g. a Wikipedia page and its "see also" target).
One pair a line, `doc_index label_index` (0-based, whitespace-separated): the line of the split's `.json` file and the
line of `lbl.json`. They are kept as `XMCDataset.filter_pairs[split]` (a CSR mask in vocabulary ids) and applied by
`compute_xmc_metrics(..., exclude=xmc.filter_pairs["test"])`; published numbers on these sets are computed that way.

JSON is parsed by `pyarrow.json` (C++). Every line must hold exactly one JSON object: a line with two objects or an
object spread over several lines is rejected, naming the line. When pyarrow refuses a file (or a line is not one
object), a line-by-line pass names the first bad line.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from .assembly import RawSplit, assemble_xmc_dataset
from .dataset import XMCDataset
from .errors import XMCInputError

LF_SPLIT_STEMS = {"train": "trn", "test": "tst"}
LF_LABEL_STEM = "lbl"
_DOC_FIELDS = {"uid": pa.string(), "title": pa.string(), "content": pa.string(), "target_ind": pa.list_(pa.int64())}
_BLOCK_BYTES = 16 << 20
_LABEL_FIELDS = {"uid": pa.string(), "title": pa.string(), "content": pa.string()}
LF_FILTER_FILES = {"train": "filter_labels_train.txt", "test": "filter_labels_test.txt"}
_UTF8_BOM = b"\xef\xbb\xbf"


def find_lf_file(directory: Path, stem: str) -> Path | None:
    """`<stem>.json.gz` or `<stem>.json` in `directory`, or None."""
    for suffix in (".json.gz", ".json"):
        path = directory / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError) as error:
        raise XMCInputError(f"cannot read the file: {error}", path=str(path)) from error


def _locate_bad_record(path: Path, raw: bytes, fields: dict[str, pa.DataType], required: tuple[str, ...]) -> None:
    """Raise `XMCInputError` for the first malformed line; return when every line is one valid record (the slow path,
    only for files pyarrow refused or whose lines are not plainly one object each)."""
    for line_number, line in enumerate(raw.decode("utf-8", errors="replace").split("\n"), start=1):
        if not line.strip():
            raise XMCInputError("empty line (one JSON object a line is expected)", str(path), line_number)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if error.msg == "Extra data":
                message = "more than one JSON value on this line (one JSON object a line is expected)"
            elif error.pos >= len(line.rstrip()):
                message = (
                    f"the JSON object does not end on this line: {error.msg} (one JSON object a line is expected; "
                    "is a record spread over several lines?)"
                )
            else:
                message = f"invalid JSON: {error.msg} (column {error.colno})"
            raise XMCInputError(message, str(path), line_number) from error
        if not isinstance(record, dict):
            raise XMCInputError(f"expected a JSON object, got {type(record).__name__}", str(path), line_number)
        for key in required:
            if key not in record or record[key] is None:
                raise XMCInputError(f"missing field {key!r}", str(path), line_number)
        for key, dtype in fields.items():
            value = record.get(key)
            if value is None:
                continue
            if pa.types.is_string(dtype) and not isinstance(value, str):
                raise XMCInputError(f"field {key!r} must be a string, got {value!r}", str(path), line_number)
            if pa.types.is_list(dtype) and (
                not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            ):
                raise XMCInputError(
                    f"field {key!r} must be a list of integer label ids, got {value!r}", str(path), line_number
                )


def _count_lines_of_one_object(body: bytes) -> tuple[int, bool]:
    """`(number of lines, whether every line plainly starts with '{' and ends with '}')` from the bytes alone (no
    parsing). With as many parsed records as lines, such lines hold one object each: none holds two, none spans two."""
    buf = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    before = buf[newlines - 1]
    crlf = before == 13
    before[crlf] = buf[newlines[crlf] - 2]
    plain = body[:1] == b"{" and body.rstrip(b"\r")[-1:] == b"}"
    plain = plain and bool(np.all(before == 125)) and bool(np.all(buf[newlines + 1] == 123))
    return len(newlines) + 1, plain


def read_json_lines(path: Path, fields: dict[str, pa.DataType], required: tuple[str, ...]) -> pa.Table:
    """Parse a JSON-lines file (gzipped or not) into a table with exactly `fields`; every record needs `required`."""
    raw = _read_bytes(path)
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    if not raw or raw.isspace():
        raise XMCInputError("the file is empty", str(path))
    body = raw.rstrip(b"\r\n")
    blank = body.find(b"\n\n")
    if body.startswith(b"\n") or blank >= 0:
        line = 1 if body.startswith(b"\n") else body.count(b"\n", 0, blank + 1) + 1
        raise XMCInputError("empty line (one JSON object a line is expected)", str(path), line)
    options = pa_json.ParseOptions(explicit_schema=pa.schema(list(fields.items())), unexpected_field_behavior="ignore")
    # a block must hold whole records: 16 MiB, or the whole file when one record is larger than that
    for block_size in (min(len(body) + 1, _BLOCK_BYTES), len(body) + 1):
        try:
            table = pa_json.read_json(
                io.BytesIO(body), read_options=pa_json.ReadOptions(block_size=block_size), parse_options=options
            )
            break
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            if "straddl" in str(error) and block_size < len(body) + 1:
                continue
            _locate_bad_record(path, body, fields, required)
            raise XMCInputError(f"the file could not be parsed as JSON lines ({error})", str(path)) from error
    num_lines, plain = _count_lines_of_one_object(body)
    if table.num_rows != num_lines or not plain:
        _locate_bad_record(path, body, fields, required)
        if table.num_rows != num_lines:
            raise XMCInputError(f"{table.num_rows} JSON records on {num_lines} lines (one a line expected)", str(path))
    for key in required:
        nulls = table.column(key).is_null()
        if pc.any(nulls).as_py():
            row = int(np.flatnonzero(nulls.to_numpy(zero_copy_only=False))[0])
            raise XMCInputError(f"missing field {key!r}", str(path), row + 1)
    return table


def _column(table: pa.Table, key: str) -> pa.Array:
    column = table.column(key).combine_chunks()
    return pc.fill_null(column, "") if pa.types.is_string(column.type) else column


def _blank(strings: pa.Array) -> pa.Array:
    """Whether each string is empty or only whitespace (RE2, anchored: it stops at the first other character)."""
    return pc.match_substring_regex(strings, r"^[\s\p{Z}]*$")


def read_lf_split(path: Path, num_labels: int, allow_empty_text: bool = False) -> RawSplit:
    """Read `trn.json.gz` / `tst.json.gz` into a `RawSplit` (label ids index `lbl.json.gz`)."""
    table = read_json_lines(path, _DOC_FIELDS, required=("uid", "title", "target_ind"))
    title, content = _column(table, "title"), _column(table, "content")
    # "title content", or the non-blank one alone (an empty title must not leave a leading space)
    title_blank, content_blank = _blank(title), _blank(content)
    joined = pc.binary_join_element_wise(title, content, " ")
    text = pc.if_else(title_blank, content, pc.if_else(content_blank, title, joined))
    if not allow_empty_text:
        empty = pc.and_(title_blank, content_blank).to_numpy(zero_copy_only=False)
        if empty.any():
            raise XMCInputError(
                "empty text (title and content are both empty)", str(path), int(np.flatnonzero(empty)[0]) + 1
            )
    targets = table.column("target_ind").combine_chunks()
    offsets = np.asarray(targets.offsets, dtype=np.int64)
    indices = np.asarray(targets.values, dtype=np.int64)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    bad = (indices < 0) | (indices >= num_labels)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(offsets, position, side="right")) - 1
        raise XMCInputError(
            f"target_ind {int(indices[position])} is out of range: {LF_LABEL_STEM} has {num_labels} labels "
            f"(valid ids 0..{num_labels - 1})",
            str(path),
            row + 1,
        )
    columns = {"uid": _column(table, "uid"), "title": title, "content": content, "text": text}
    return RawSplit(offsets, indices, columns, source=str(path))


def read_lf_labels(path: Path) -> tuple[list[str], list[str], list[str]]:
    """Read `lbl.json.gz`: `(uids, titles, contents)`; uids must be unique."""
    table = read_json_lines(path, _LABEL_FIELDS, required=("uid",))
    uids = _column(table, "uid").to_pylist()
    if len(set(uids)) != len(uids):
        seen: set[str] = set()
        for line_number, uid in enumerate(uids, start=1):
            if uid in seen:
                raise XMCInputError(f"duplicated label uid {uid!r}", str(path), line_number)
            seen.add(uid)
    return uids, _column(table, "title").to_pylist(), _column(table, "content").to_pylist()


def _bad_filter_line(path: Path, lines: list[str], num_docs: int, num_labels: int) -> None:
    """Raise `XMCInputError` for the first bad line of a filter file (the slow path)."""
    for line_number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 2:
                raise ValueError
            doc, label = int(fields[0]), int(fields[1])
        except ValueError:
            raise XMCInputError(
                f"expected two integers 'doc_index label_index', got {line.strip()!r}", str(path), line_number
            ) from None
        if not 0 <= doc < num_docs:
            raise XMCInputError(
                f"document index {doc} is out of range: the split has {num_docs} documents (0-based)",
                str(path),
                line_number,
            )
        if not 0 <= label < num_labels:
            raise XMCInputError(
                f"label index {label} is out of range: {LF_LABEL_STEM} has {num_labels} labels (0-based)",
                str(path),
                line_number,
            )


def read_filter_pairs(path: Path, num_docs: int, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Read a `filter_labels_*.txt` file (see the module docstring).

    Args:
        path: the file; one `doc_index label_index` pair a line (blank lines and an empty file are allowed).
        num_docs (`int`): documents of the split it belongs to; num_labels (`int`): labels in `lbl.json`.

    Returns:
        CSR arrays `(indptr, label_indices)` of shape `(num_docs + 1,)` / `(num_pairs,)`: the source label ids to
        leave out for each document.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise XMCInputError(f"cannot read the filter file: {error}", str(path)) from error
    pairs = np.zeros((0, 2), dtype=np.int64)
    if text.strip():
        try:
            pairs = np.loadtxt(io.StringIO(text), dtype=np.int64, ndmin=2, comments=None)
        except ValueError:
            pairs = None
        if (
            pairs is None
            or pairs.shape[1] != 2
            or np.any((pairs[:, 0] < 0) | (pairs[:, 0] >= num_docs) | (pairs[:, 1] < 0) | (pairs[:, 1] >= num_labels))
        ):
            _bad_filter_line(path, text.split("\n"), num_docs, num_labels)
            raise XMCInputError("the filter file could not be parsed as 'doc_index label_index' lines", str(path))
    order = np.argsort(pairs[:, 0], kind="stable")
    indptr = np.zeros(num_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(pairs[:, 0], minlength=num_docs), out=indptr[1:])
    return indptr, pairs[order, 1]


def load_lf_dataset(
    directory: str | Path,
    validation_size: float | int | None = None,
    seed: int = 0,
    allow_empty_text: bool = False,
    name: str | None = None,
) -> XMCDataset:
    """Load an LF-layout folder (`trn`, `tst`, `lbl` `.json[.gz]`).

    Args:
        directory (`str` or `Path`): the folder.
        validation_size (`float` or `int`, *optional*): carve a seeded validation split out of train.
        seed (`int`): seed of the validation carving.
        allow_empty_text (`bool`): keep documents whose title and content are both empty instead of raising.
        name (`str`, *optional*): display name (default: the folder name).

    `filter_labels_{train,test}.txt` next to the JSON files become `XMCDataset.filter_pairs` (module docstring).
    """
    directory = Path(directory)
    label_path = find_lf_file(directory, LF_LABEL_STEM)
    if label_path is None:
        raise XMCInputError(f"missing label file {LF_LABEL_STEM}.json.gz (LF layout)", str(directory))
    uids, titles, contents = read_lf_labels(label_path)
    raw_splits = {}
    for split, stem in LF_SPLIT_STEMS.items():
        path = find_lf_file(directory, stem)
        if path is None:
            if split == "train":
                raise XMCInputError(f"missing training file {stem}.json.gz (LF layout)", str(directory))
            continue
        raw_splits[split] = read_lf_split(path, len(uids), allow_empty_text)
        filter_path = directory / LF_FILTER_FILES[split]
        if filter_path.is_file():
            raw_splits[split].filter_pairs = read_filter_pairs(filter_path, len(raw_splits[split]), len(uids))
    return assemble_xmc_dataset(
        raw_splits, uids, titles, contents, name=name or directory.name, validation_size=validation_size, seed=seed
    )
