"""The ``hf-xmc`` command line: one sub-command per module of `hf_xmc.cli`.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets ``func`` (called with the
parsed namespace, returning an exit code). Errors a user can fix (`XMCInputError`, `FileNotFoundError`,
`ValueError`) print one line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = (
    "hf_xmc.cli.data",
    "hf_xmc.cli.train",
    "hf_xmc.cli.hub",
    "hf_xmc.cli.pretrain",
    "hf_xmc.cli.augment",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-xmc", description="Extreme multi-label text classification on the Hugging Face stack."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as error:  # XMCInputError is a ValueError
        print(f"hf-xmc: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
