"""`hf-xmc train <method> [flags]`: every method registered in `hf_xmc.methods` runs through the shared recipe.

Each method's flags are its recipe's `HfArgumentParser` dataclasses (data, model, training), so
`hf-xmc train aplc --help` lists exactly what `examples/train_aplc.py` accepts: the method's own flags and the common
training ones; `--help-all` lists all of `TrainingArguments`. The method's parser (and with it torch and
transformers) is built only when that method's flags are parsed: `hf-xmc --help` and `hf-xmc train --help` stay fast.
"""

from __future__ import annotations

import argparse
import dataclasses

from ..methods import METHODS, get_recipe


class LazyMethodParser(argparse.ArgumentParser):
    """A sub-command parser that hands its arguments to the method's recipe parser, built on first use."""

    def __init__(self, method: str = "", **kwargs):
        kwargs["add_help"] = False  # the recipe parser answers --help (short) and --help-all
        super().__init__(**kwargs)
        self.method = method
        self._recipe_parser = None

    def recipe_parser(self):
        if self._recipe_parser is None:
            self._recipe_parser = get_recipe(self.method).parser(prog=self.prog)
            self._recipe_parser.set_defaults(**self._defaults)
        return self._recipe_parser

    def parse_known_args(self, args=None, namespace=None):
        return self.recipe_parser().parse_known_args(args, namespace)

    def format_help(self) -> str:
        return self.recipe_parser().format_help()


def _run(args: argparse.Namespace) -> int:
    recipe = get_recipe(args.method)
    values = vars(args)
    instances = [
        dtype(**{f.name: values[f.name] for f in dataclasses.fields(dtype) if f.init and f.name in values})
        for dtype in recipe.argument_dataclasses()
    ]
    recipe.run(*instances)
    return 0


def register(subparsers) -> None:
    """Adds `train` (and one sub-command per registered method) to the `hf-xmc` parser."""
    train_parser = subparsers.add_parser(
        "train",
        help="Train an XMC model with a built-in recipe.",
        description="Train an XMC model. Methods: " + ", ".join(METHODS) + ". See `hf-xmc train METHOD --help`.",
    )
    methods = train_parser.add_subparsers(dest="method", metavar="METHOD", required=True)
    methods._parser_class = LazyMethodParser  # what `add_parser` instantiates
    for name, entry in METHODS.items():
        methods.add_parser(name, help=entry.help, description=entry.help, method=name).set_defaults(func=_run)
