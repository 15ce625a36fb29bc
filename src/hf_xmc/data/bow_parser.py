"""Vectorised parser of the Extreme Classification Repository's BoW lines: `l1,l2,... f:v f:v ...`.

The whole chunk of lines is parsed with array operations on its bytes (no per-token Python): tokens are found from
character classes with numpy, and every structural check runs on whole arrays. The numbers themselves are converted
by Arrow's C++ CSV reader (the tokens, one a line; correctly rounded like `float`). When Arrow refuses a token, a numpy
path assembles the numbers digit by digit and names the first bad token; the first offending line is always reported
with its number and problem as an `XMCInputError`.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

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


def _token_chars(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The characters of every token as a `(n, max_length)` matrix and the mask of the real (non-padding) ones."""
    lengths = ends - starts
    width = int(lengths.max())
    columns = np.arange(width)
    chars = buf[np.minimum(starts[:, None] + columns, len(buf) - 1)]
    return chars, columns < lengths[:, None]


def _first_bad_token(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.any(axis=1))[0])


def _token_text(buf, starts, ends, token) -> str:
    return bytes(buf[starts[token] : ends[token]]).decode("utf-8", errors="replace")


def _parse_ints(buf, starts, ends, path, first_line, line_of_token, what):
    """Non-negative integers of the tokens `[starts, ends)`; raises for anything else."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    chars, valid = _token_chars(buf, starts, ends)
    bad = valid & ((chars < 48) | (chars > 57))
    too_long = (ends - starts) > 18
    if bad.any() or too_long.any():
        token = _first_bad_token(bad) if bad.any() else int(np.flatnonzero(too_long)[0])
        text = _token_text(buf, starts, ends, token)
        problem = "is negative" if text.startswith("-") else "is not a non-negative integer"
        _fail(path, first_line, line_of_token[token], f"{what} {text!r} {problem}")
    exponents = np.maximum((ends - starts)[:, None] - 1 - np.arange(chars.shape[1]), 0)
    digits = np.where(valid, chars.astype(np.int64) - 48, 0)
    return (digits * np.power(10, exponents, dtype=np.int64)).sum(axis=1)


def _parse_values(buf, starts, ends, path, first_line, line_of_token):
    """Decimal values of the tokens; exact (correctly rounded) like `float()`."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.float64)
    chars, valid = _token_chars(buf, starts, ends)
    if chars.shape[1] == 1:  # one-character values (binary BoW files): digits only
        if np.any((chars < 48) | (chars > 57)):
            token = _first_bad_token((chars < 48) | (chars > 57))
            _fail(
                path,
                first_line,
                line_of_token[token],
                f"feature value {_token_text(buf, starts, ends, token)!r} is not a number",
            )
        return (chars[:, 0] - 48).astype(np.float64)
    is_digit = valid & (chars >= 48) & (chars <= 57)
    is_dot = valid & (chars == 46)
    is_sign_char = valid & ((chars == 45) | (chars == 43))
    is_sign = is_sign_char.copy()
    is_sign[:, 1:] = False
    is_exponent = valid & ((chars == 101) | (chars == 69)) | (is_sign_char & ~is_sign)
    bad = valid & ~(is_digit | is_dot | is_sign | is_exponent)
    if bad.any():
        token = _first_bad_token(bad)
        text = _token_text(buf, starts, ends, token)
        _fail(path, first_line, line_of_token[token], f"feature value {text!r} is not a number")
    digit_count = is_digit.sum(axis=1)
    dot_count = is_dot.sum(axis=1)
    slow = is_exponent.any(axis=1) | (digit_count > _MAX_EXACT_DIGITS) | (dot_count > 1) | (digit_count == 0)
    # digits before each character give the decimal weight of a digit and the scale of the dot
    digits_before = np.cumsum(is_digit, axis=1) - is_digit
    exponent = np.where(is_digit & ~slow[:, None], digit_count[:, None] - digits_before - 1, 0)
    digits = np.where(is_digit, chars.astype(np.int64) - 48, 0)
    mantissa = (digits * np.power(10, exponent, dtype=np.int64)).sum(axis=1)
    digits_before_dot = np.where(is_dot, digits_before, 0).sum(axis=1)
    scale = np.where(dot_count > 0, digit_count - digits_before_dot, 0)
    values = mantissa.astype(np.float64) / np.power(10.0, np.clip(scale, 0, 22))
    negative = (is_sign & (chars == 45)).any(axis=1)
    values[negative] = -values[negative]
    for token in np.flatnonzero(slow).tolist():
        text = _token_text(buf, starts, ends, token)
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
    separators = np.flatnonzero((buf == _COMMA) | (buf == _COLON))
    separator_line = np.searchsorted(newlines, separators)
    separator_in_field = separators < label_end[separator_line]
    is_colon = buf[separators] == _COLON
    colons_in_field = np.flatnonzero(separator_in_field & is_colon)
    if len(colons_in_field):
        line = separator_line[colons_in_field[0]]
        _fail(
            path,
            first_line,
            line,
            "the label field (before the first space) contains ':'; a line is "
            "'l1,l2,... f:v f:v ...' and starts with a space when the point has no label",
        )
    separators_per_line = np.bincount(separator_line[separator_in_field], minlength=num_lines)
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
    stray = ~separator_in_field  # separators of the feature field: one ':' a pair, no ','
    colon_count_ok = np.count_nonzero(stray) == len(feature_tokens) // 2 and np.all(is_colon[stray])
    if not kind_ok.all() or not colon_count_ok:
        candidates = [line_of_token[feature_tokens[np.flatnonzero(~kind_ok)[0]]]] if not kind_ok.all() else []
        colon_lines = np.bincount(separator_line[stray], minlength=num_lines)
        comma_lines = np.bincount(separator_line[stray & ~is_colon], minlength=num_lines)
        feature_lines = np.bincount(line_of_token[feature_tokens], minlength=num_lines)
        mismatch = np.flatnonzero((colon_lines * 2 != feature_lines) | (comma_lines > 0))
        candidates += mismatch[:1].tolist()
        _fail(
            path,
            first_line,
            min(candidates) if candidates else 0,
            "malformed feature: expected 'feature:value' pairs separated by spaces (e.g. a pair without ':')",
        )

    label_line = line_of_token[label_tokens]
    id_tokens, value_tokens = feature_tokens[0::2], feature_tokens[1::2]
    feature_line = line_of_token[id_tokens]
    numbers = _fast_numbers(body, len(token_starts))
    integer_tokens = np.concatenate([label_tokens, id_tokens])
    fast = numbers is not None and _only_digits(buf, is_token, token_starts, integer_tokens)
    if fast:
        label_ids, feature_ids = numbers[label_tokens], numbers[id_tokens]
        feature_values = numbers[value_tokens]
        fast = (
            bool(np.all(np.isfinite(feature_values)))
            and not np.any(label_ids >= 2**53)
            and not np.any(feature_ids >= 2**53)
        )
    if fast:
        label_ids, feature_ids = label_ids.astype(np.int64), feature_ids.astype(np.int64)
    else:  # the numpy path: slower, and names the first bad token
        label_ids = _parse_ints(
            buf, token_starts[label_tokens], token_ends[label_tokens], path, first_line, label_line, "label id"
        )
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


_TO_NEWLINES = bytes.maketrans(b" \t:,", b"\n\n\n\n")


def _fast_numbers(body: bytes, expected: int) -> np.ndarray | None:
    """Every token of `body` as float64, in order, parsed by Arrow's CSV reader (one token a line); None if Arrow
    refuses a token or the count differs (the caller then takes the validating numpy path)."""
    if expected == 0:
        return np.zeros(0, dtype=np.float64)
    lines = body.translate(_TO_NEWLINES)
    try:
        table = pa_csv.read_csv(
            io.BytesIO(lines),
            read_options=pa_csv.ReadOptions(column_names=["token"], block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(quote_char=False, double_quote=False, ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={"token": pa.float64()}, null_values=[], strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != expected:
        return None
    return table.column(0).to_numpy()


def _only_digits(buf: np.ndarray, is_token: np.ndarray, token_starts: np.ndarray, integer_tokens: np.ndarray) -> bool:
    """Whether every character of the tokens `integer_tokens` (label and feature ids) is a decimal digit."""
    odd_chars = np.flatnonzero(is_token & ((buf < 48) | (buf > 57)))  # '.', signs, exponents, letters
    if len(odd_chars) == 0:
        return True
    owner = np.searchsorted(token_starts, odd_chars, side="right") - 1
    is_integer_token = np.zeros(len(token_starts), dtype=bool)
    is_integer_token[integer_tokens] = True
    return not np.any(is_integer_token[owner])
