"""Vectorised parser of the Extreme Classification Repository's BoW lines: `l1,l2,... f:v f:v ...`.

The whole chunk of lines is parsed with numpy operations on its bytes (no per-token Python): tokens are found from
character classes, integers (label and feature ids) and decimals (values) are assembled digit by digit with
`np.add.reduceat`, and the few values numpy cannot assemble exactly (exponents, more than 15 significant digits) go
through `float`. Every structural check runs on whole arrays too; the first offending line is reported with its
number and problem as an `XMCInputError`.
"""

from __future__ import annotations

import numpy as np

from .errors import XMCInputError

_SPACE, _TAB, _NEWLINE, _COLON, _COMMA = 32, 9, 10, 58, 44
_MAX_EXACT_DIGITS = 15


class ParsedBoW:
    """CSR arrays of one parsed chunk: labels `(label_indptr, label_ids)`, features `(indptr, ids, values)`."""

    def __init__(self, label_indptr, label_ids, feature_indptr, feature_ids, feature_values):
        self.label_indptr = label_indptr
        self.label_ids = label_ids
        self.feature_indptr = feature_indptr
        self.feature_ids = feature_ids
        self.feature_values = feature_values

    @property
    def num_rows(self) -> int:
        return len(self.label_indptr) - 1


def _fail(path, first_line, line_index, message):
    raise XMCInputError(message, path=str(path), line=int(first_line + line_index))


def _counts_to_indptr(line_of_token: np.ndarray, num_lines: int) -> np.ndarray:
    indptr = np.zeros(num_lines + 1, dtype=np.int64)
    np.cumsum(np.bincount(line_of_token, minlength=num_lines), out=indptr[1:])
    return indptr


def _char_positions(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of every character of the tokens `[starts, ends)` and the token each one belongs to."""
    lengths = ends - starts
    owner = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    positions = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1] - starts, lengths)
    return positions, owner


def _parse_ints(buf, starts, ends, path, first_line, line_of_token, what):
    """Non-negative integers of the tokens `[starts, ends)`; raises for anything else."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    positions, owner = _char_positions(starts, ends)
    chars = buf[positions]
    bad_char = (chars < 48) | (chars > 57)
    too_long = (ends - starts) > 18
    if bad_char.any() or too_long.any():
        token = owner[np.flatnonzero(bad_char)[0]] if bad_char.any() else np.flatnonzero(too_long)[0]
        text = bytes(buf[starts[token] : ends[token]]).decode("utf-8", errors="replace")
        problem = "is negative" if text.startswith("-") else "is not a non-negative integer"
        _fail(path, first_line, line_of_token[token], f"{what} {text!r} {problem}")
    exponents = (ends[owner] - 1 - positions).astype(np.int64)
    digits = (chars - 48).astype(np.int64) * np.power(10, exponents, dtype=np.int64)
    return np.add.reduceat(digits, np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]))


def _parse_values(buf, starts, ends, path, first_line, line_of_token):
    """Decimal values of the tokens; exact (correctly rounded) like `float()`."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.float64)
    positions, owner = _char_positions(starts, ends)
    chars = buf[positions]
    is_digit = (chars >= 48) & (chars <= 57)
    is_dot = chars == 46
    is_sign = ((chars == 45) | (chars == 43)) & (positions == starts[owner])
    is_exponent = (chars == 101) | (chars == 69) | ((chars == 45) | (chars == 43)) & ~is_sign
    bad = ~(is_digit | is_dot | is_sign | is_exponent)
    if bad.any():
        token = owner[np.flatnonzero(bad)[0]]
        text = bytes(buf[starts[token] : ends[token]]).decode("utf-8", errors="replace")
        _fail(path, first_line, line_of_token[token], f"feature value {text!r} is not a number")
    token_starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    digit_count = np.add.reduceat(is_digit.astype(np.int64), token_starts)
    dot_count = np.add.reduceat(is_dot.astype(np.int64), token_starts)
    slow = (np.add.reduceat(is_exponent.astype(np.int64), token_starts) > 0) | (digit_count > _MAX_EXACT_DIGITS)
    slow |= (dot_count > 1) | (digit_count == 0)
    # digits before each character inside its token give the decimal weight of a digit and the scale of the dot
    digits_before = np.cumsum(is_digit) - is_digit
    digits_before = digits_before - digits_before[token_starts][owner]
    exponent = np.where(is_digit & ~slow[owner], digit_count[owner] - digits_before - 1, 0)
    weight = np.power(10, exponent, dtype=np.int64)
    mantissa = np.add.reduceat(np.where(is_digit, (chars - 48).astype(np.int64) * weight, 0), token_starts)
    digits_before_dot = np.add.reduceat(np.where(is_dot, digits_before, 0), token_starts)
    scale = np.where(dot_count > 0, digit_count - digits_before_dot, 0)
    values = mantissa.astype(np.float64) / np.power(10.0, np.clip(scale, 0, 22))
    negative = np.zeros(len(starts), dtype=bool)
    negative[owner[is_sign & (chars == 45)]] = True
    values[negative] = -values[negative]
    for token in np.flatnonzero(slow).tolist():
        text = bytes(buf[starts[token] : ends[token]]).decode("ascii", errors="replace")
        try:
            values[token] = float(text)
        except ValueError:
            _fail(path, first_line, line_of_token[token], f"feature value {text!r} is not a number")
    return values


def parse_bow_lines(body: bytes, path, first_line: int = 1) -> ParsedBoW:
    """Parse BoW lines (no header) into CSR arrays.

    Args:
        body (`bytes`): the lines, `\\n`-terminated (a missing final newline and CRLF endings are accepted).
        path: the file name, for error messages.
        first_line (`int`): the 1-based line number of the first line of `body` in its file.
    """
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
    if not body.endswith(b"\n"):
        body += b"\n"
    buf = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    num_lines = len(newlines)
    line_starts = np.r_[0, newlines[:-1] + 1]
    empty_lines = np.flatnonzero(line_starts == newlines)
    if len(empty_lines):
        _fail(path, first_line, empty_lines[0], "empty line (a point with no label and no feature is ' ')")
    is_space = (buf == _SPACE) | (buf == _TAB)
    spaces = np.flatnonzero(is_space)
    # the label field runs from the line start to the first space (or the end of the line)
    first_space = np.searchsorted(spaces, line_starts)
    label_end = np.minimum(np.r_[spaces, len(buf)][first_space], newlines)
    is_token = ~(is_space | (buf == _NEWLINE) | (buf == _COLON) | (buf == _COMMA))
    edges = np.diff(np.r_[False, is_token, False].astype(np.int8))
    token_starts = np.flatnonzero(edges == 1)
    token_ends = np.flatnonzero(edges == -1)
    line_of_token = np.searchsorted(newlines, token_starts)
    in_label_field = token_starts < label_end[line_of_token]
    before = buf[np.maximum(token_starts - 1, 0)]
    before[token_starts == 0] = _NEWLINE
    after = buf[token_ends]

    # label field: integers separated by single commas
    label_tokens = np.flatnonzero(in_label_field)
    is_separator = (buf == _COMMA) | (buf == _COLON)
    field_mask = np.zeros(len(buf) + 1, dtype=np.int64)
    np.add.at(field_mask, line_starts, 1)
    np.add.at(field_mask, label_end, -1)
    in_field = np.cumsum(field_mask)[:-1].astype(bool)
    colons_in_field = np.flatnonzero(in_field & (buf == _COLON))
    if len(colons_in_field):
        line = np.searchsorted(newlines, colons_in_field[0])
        _fail(
            path,
            first_line,
            line,
            "the label field (before the first space) contains ':'; a line is "
            "'l1,l2,... f:v f:v ...' and starts with a space when the point has no label",
        )
    separators_per_line = np.bincount(
        np.searchsorted(newlines, np.flatnonzero(in_field & is_separator)), minlength=num_lines
    )
    labels_per_line = np.bincount(line_of_token[label_tokens], minlength=num_lines)
    bad_field = (labels_per_line > 0) & (separators_per_line != labels_per_line - 1)
    bad_field |= (labels_per_line == 0) & (separators_per_line > 0)
    if bad_field.any():
        _fail(path, first_line, np.flatnonzero(bad_field)[0], "empty label id in the comma-separated label list")

    # feature field: id ':' value pairs, separated by spaces
    feature_tokens = np.flatnonzero(~in_label_field)
    is_id = (after[feature_tokens] == _COLON) & ((before[feature_tokens] == _SPACE) | (before[feature_tokens] == _TAB))
    is_value = (before[feature_tokens] == _COLON) & (
        (after[feature_tokens] == _SPACE) | (after[feature_tokens] == _TAB) | (after[feature_tokens] == _NEWLINE)
    )
    kind_ok = np.where(np.arange(len(feature_tokens)) % 2 == 0, is_id, is_value)
    if len(feature_tokens) % 2 == 0 and len(feature_tokens):
        ids, values = feature_tokens[0::2], feature_tokens[1::2]
        pair_ok = (token_ends[ids] + 1 == token_starts[values]) & (line_of_token[ids] == line_of_token[values])
        kind_ok[0::2] &= pair_ok
        kind_ok[1::2] &= pair_ok
    elif len(feature_tokens):
        kind_ok[-1] = False
    stray = np.flatnonzero(~in_field & is_separator)
    colon_count_ok = len(stray) == len(feature_tokens) // 2 and not np.any(buf[stray] == _COMMA)
    if not kind_ok.all() or not colon_count_ok:
        candidates = [line_of_token[feature_tokens[np.flatnonzero(~kind_ok)[0]]]] if not kind_ok.all() else []
        colon_lines = np.bincount(np.searchsorted(newlines, stray), minlength=num_lines)
        feature_lines = np.bincount(line_of_token[feature_tokens], minlength=num_lines)
        mismatch = np.flatnonzero(
            (colon_lines * 2 != feature_lines)
            | np.bincount(np.searchsorted(newlines, stray[buf[stray] == _COMMA]), minlength=num_lines).astype(bool)
        )
        candidates += mismatch[:1].tolist()
        _fail(
            path,
            first_line,
            min(candidates) if candidates else 0,
            "malformed feature: expected 'feature:value' pairs separated by spaces (e.g. a pair without ':')",
        )

    label_line = line_of_token[label_tokens]
    label_ids = _parse_ints(
        buf, token_starts[label_tokens], token_ends[label_tokens], path, first_line, label_line, "label id"
    )
    id_tokens, value_tokens = feature_tokens[0::2], feature_tokens[1::2]
    feature_line = line_of_token[id_tokens]
    feature_ids = _parse_ints(
        buf, token_starts[id_tokens], token_ends[id_tokens], path, first_line, feature_line, "feature id"
    )
    feature_values = _parse_values(
        buf, token_starts[value_tokens], token_ends[value_tokens], path, first_line, feature_line
    )
    return ParsedBoW(
        _counts_to_indptr(label_line, num_lines),
        label_ids,
        _counts_to_indptr(feature_line, num_lines),
        feature_ids,
        feature_values,
    )
