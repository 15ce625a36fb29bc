"""When and how a benchmark's result was measured: the two provenance fields every result JSON carries."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path


def run_provenance(script: str, argv: list[str] | None = None) -> dict:
    """`measured_at` (UTC, minutes) and the `command` that reproduces the run (`argv`: the script's arguments, by
    default the command line's)."""
    arguments = sys.argv[1:] if argv is None else argv
    return {
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python benchmarks/{Path(script).name} " + " ".join(shlex.quote(arg) for arg in arguments),
    }
