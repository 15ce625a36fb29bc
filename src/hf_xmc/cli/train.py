"""`hf-xmc train <method> [flags]`: one training recipe per method (`aplc` for now).

Each method's flags are its recipe's `HfArgumentParser` dataclasses (data, model, `TrainingArguments`), so
`hf-xmc train aplc --help` lists exactly what `examples/train_aplc.py` accepts.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib

# method -> (recipe module, function returning the dataclasses, the recipe function, one-line help)
METHODS = {
    "aplc": (
        "hf_xmc.training.aplc_recipe",
        "aplc_argument_dataclasses",
        "run_aplc_recipe",
        "APLC (adaptive probabilistic label clusters) on an encoder; default: MiniLM on the embedded debtags set.",
    ),
}


def _recipe_parts(method: str):
    module_name, dataclasses_name, recipe_name, _ = METHODS[method]
    module = importlib.import_module(module_name)
    return getattr(module, dataclasses_name)(), getattr(module, recipe_name)


def _method_parser_class(method: str):
    from transformers import HfArgumentParser

    class MethodParser(HfArgumentParser):
        def __init__(self, **kwargs):
            kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
            super().__init__(_recipe_parts(method)[0], **kwargs)

    return MethodParser


def _run(args: argparse.Namespace) -> int:
    dataclass_types, recipe = _recipe_parts(args.method)
    values = vars(args)
    instances = [
        dtype(**{f.name: values[f.name] for f in dataclasses.fields(dtype) if f.init and f.name in values})
        for dtype in dataclass_types
    ]
    recipe(*instances)
    return 0


def register(subparsers) -> None:
    """Adds `train` (and one sub-command per method) to the `hf-xmc` parser."""
    train_parser = subparsers.add_parser(
        "train",
        help="Train an XMC model with a built-in recipe.",
        description="Train an XMC model. Methods: " + ", ".join(METHODS) + ". See `hf-xmc train METHOD --help`.",
    )
    methods = train_parser.add_subparsers(dest="method", metavar="METHOD", required=True)
    for method, (_, _, _, help_text) in METHODS.items():
        # Each method parser is an HfArgumentParser over the recipe's dataclasses: the flags are defined once.
        methods._parser_class = _method_parser_class(method)
        method_parser = methods.add_parser(method, help=help_text, description=help_text)
        method_parser.set_defaults(func=_run)
