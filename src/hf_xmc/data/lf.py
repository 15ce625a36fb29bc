"""Reader of the Extreme Classification Repository's raw-text "LF-" layout (also MACLR's).

Files: `trn.json.gz` / `tst.json.gz` (JSON lines: `uid`, `title`, `content`, `target_ind`) and `lbl.json.gz`
(`uid`, `title`, `content`); plain `.json` works too. `target_ind` indexes the lines of `lbl.json.gz`. The text of a
document is `title + " " + content`, as the LF benchmarks use it; `title` and `content` are kept as columns too
(MACLR pairs them). Label texts are the label titles, label descriptions their contents.

JSON is parsed by `pyarrow.json` (C++); when it refuses a file, a line-by-line pass names the first bad line.
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


def _locate_bad_record(path: Path, raw: bytes, fields: dict[str, pa.DataType], required: tuple[str, ...]):
    """Raise `XMCInputError` for the first malformed line (the slow path, only for files pyarrow refused)."""
    for line_number, line in enumerate(raw.decode("utf-8", errors="replace").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise XMCInputError(f"invalid JSON: {error.msg} (column {error.colno})", str(path), line_number) from error
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
    raise XMCInputError("the file could not be parsed as JSON lines", str(path))


def read_json_lines(path: Path, fields: dict[str, pa.DataType], required: tuple[str, ...]) -> pa.Table:
    """Parse a JSON-lines file (gzipped or not) into a table with exactly `fields`; every record needs `required`."""
    raw = _read_bytes(path)
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
    for key in required:
        nulls = table.column(key).is_null()
        if pc.any(nulls).as_py():
            row = int(np.flatnonzero(nulls.to_numpy(zero_copy_only=False))[0])
            raise XMCInputError(f"missing field {key!r}", str(path), row + 1)
    return table


def _column(table: pa.Table, key: str) -> pa.Array:
    column = table.column(key).combine_chunks()
    return pc.fill_null(column, "") if pa.types.is_string(column.type) else column


def read_lf_split(path: Path, num_labels: int, allow_empty_text: bool = False) -> RawSplit:
    """Read `trn.json.gz` / `tst.json.gz` into a `RawSplit` (label ids index `lbl.json.gz`)."""
    table = read_json_lines(path, _DOC_FIELDS, required=("uid", "title", "target_ind"))
    title, content = _column(table, "title"), _column(table, "content")
    text = pc.binary_join_element_wise(title, content, " ")
    if not allow_empty_text:
        empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(zero_copy_only=False)
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
    return assemble_xmc_dataset(
        raw_splits, uids, titles, contents, name=name or directory.name, validation_size=validation_size, seed=seed
    )
