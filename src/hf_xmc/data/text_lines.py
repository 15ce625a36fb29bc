"""Line-aligned text and label files, shared by the AttentionXML and PECOS readers.

A text file holds one document a line; a label file one document's labels a line (whitespace- or comma-separated
label strings; an empty line is a document with no label, kept and counted). Lines are split on `\\n` only, so the
Unicode line separators that occur inside raw product descriptions do not shift the alignment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import XMCInputError


def read_lines(path, what: str = "file") -> list[str]:
    """The lines of a UTF-8 file (final newline and `\\r` endings removed); raises for a missing or empty file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise XMCInputError(f"not valid UTF-8 ({error.reason})", str(path), line) from error
    if not text.strip():
        raise XMCInputError(f"the {what} is empty", str(path))
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if any(line.endswith("\r") for line in lines):
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    return lines


def read_texts(path, allow_empty_text: bool = False) -> list[str]:
    """One document a line; an empty (or blank) line raises unless `allow_empty_text`."""
    texts = read_lines(path, "text file")
    if not allow_empty_text:
        for line_number, text in enumerate(texts, start=1):
            if not text.strip():
                raise XMCInputError(
                    "empty text (pass allow_empty_text=True to keep such documents)", str(path), line_number
                )
    return texts


def read_label_lines(path) -> list[list[str]]:
    """One document's label strings a line, separated by whitespace or commas."""
    return [line.replace(",", " ").split() for line in read_lines(path, "label file")]


def check_aligned(texts: list, labels: list, text_path, label_path) -> None:
    if len(texts) != len(labels):
        raise XMCInputError(
            f"{len(texts)} documents but {len(labels)} label lines in {label_path}; line i of both files must be "
            "the same document",
            str(text_path),
        )


def encode_label_lists(
    label_lists: list[list[str]], label_to_source: dict[str, int], path, grow: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Label strings -> CSR arrays of source ids; unknown strings extend the space (`grow`) or raise."""
    indptr = np.zeros(len(label_lists) + 1, dtype=np.int64)
    flat: list[int] = []
    for line_number, labels in enumerate(label_lists, start=1):
        for label in labels:
            index = label_to_source.get(label)
            if index is None:
                if not grow:
                    raise XMCInputError(f"unknown label {label!r}: not in the label list", str(path), line_number)
                index = label_to_source[label] = len(label_to_source)
            flat.append(index)
        indptr[line_number] = len(flat)
    return indptr, np.asarray(flat, dtype=np.int64)
