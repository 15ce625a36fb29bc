"""The one exception type for bad user input in the data layer."""

from __future__ import annotations


class XMCInputError(ValueError):
    """Bad input data: a malformed file, an out-of-range label id, an unknown label string, ...

    The message always names where the problem is (file and 1-based line number when there is a file) and what is
    wrong, so a user can fix the file without reading a traceback.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        location = ""
        if path is not None:
            location = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(location + message)
        self.path = path
        self.line = line
