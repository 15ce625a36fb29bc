"""The registry of hf-xmc methods: one entry per method, read by everything that serves "any method".

The CLI's `hf-xmc train <method>`, `examples/train_<method>.py`, `load_xmc_model(method=...)`, the Space, the model
card callback and `benchmarks/bench_quality.py` all find a method here. The module imports neither torch nor
transformers: an entry names its recipe as `"module:attribute"` and `get_recipe` imports it only when asked, so
`hf-xmc --help` stays instant.

A new method adds one line to `METHODS` (or calls `register_method` from its own package) and implements a
`hf_xmc.training.recipe.MethodRecipe`; see `docs/architecture.md`, "The shared recipe".
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodEntry:
    """One registered method.

    Args:
        name (`str`): the short name (`"aplc"`): the CLI sub-command, the model card template, `load_xmc_model`'s
            `method=`.
        recipe (`str`): where its `MethodRecipe` instance lives, as `"package.module:ATTRIBUTE"`.
        help (`str`): one line for `hf-xmc train --help`.
        model_types (`tuple[str, ...]`): the `config.model_type`s of its checkpoints.
    """

    name: str
    recipe: str
    help: str
    model_types: tuple[str, ...] = ()


METHODS: dict[str, MethodEntry] = {
    "aplc": MethodEntry(
        "aplc",
        "hf_xmc.training.aplc_recipe:APLC_RECIPE",
        "APLC (adaptive probabilistic label clusters) on an encoder; default: MiniLM on the embedded debtags set.",
        ("xlnet_aplc", "encoder_aplc"),
    ),
    "gudn": MethodEntry(
        "gudn",
        "hf_xmc.training.gudn_recipe:GUDN_RECIPE",
        "GUDN (guide network over label texts) on a BERT-family encoder; default: MiniLM on debtags.",
        ("bert_guide",),
    ),
    "xlgen": MethodEntry(
        "xlgen",
        "hf_xmc.training.xlgen_recipe:XLGEN_RECIPE",
        "XLGen: a T5 generates the labels (--variant base, bcl or mcg); start from `hf-xmc pretrain-t5`.",
        ("cg_t5",),
    ),
    "maclr": MethodEntry(
        "maclr",
        "hf_xmc.maclr.recipe:MACLR_RECIPE",
        "MACLR: zero-/few-shot XMC, a sentence encoder pre-trained on raw texts (--stage pretrain|self-train|few-shot).",
    ),
    "ranker": MethodEntry(
        "ranker",
        "hf_xmc.training.ranker_recipe:RANKER_RECIPE",
        "Shortlist + rank: TF-IDF tree shortlist, label-text-initialised classifier, fusion fitted on held-out docs.",
        ("shortlist_ranker",),
    ),
}


def register_method(entry: MethodEntry, exist_ok: bool = False) -> None:
    """Add a method to the registry (for methods that live outside this package)."""
    if entry.name in METHODS and not exist_ok and METHODS[entry.name] != entry:
        raise ValueError(f"method {entry.name!r} is already registered (as {METHODS[entry.name].recipe})")
    if ":" not in entry.recipe:
        raise ValueError(f"recipe must be 'module:attribute', got {entry.recipe!r}")
    METHODS[entry.name] = entry


def method_names() -> list[str]:
    """The registered method names, in registration order."""
    return list(METHODS)


def get_method(name: str) -> MethodEntry:
    """The registry entry of `name`; a `ValueError` listing the known methods otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}")
    return METHODS[name]


def get_recipe(name: str):
    """The `MethodRecipe` of method `name` (imports its module, hence torch/transformers, on first use)."""
    entry = get_method(name)
    module_name, attribute = entry.recipe.split(":", 1)
    recipe = getattr(importlib.import_module(module_name), attribute)
    if getattr(recipe, "name", None) != name:
        raise ValueError(f"{entry.recipe} is the recipe of {getattr(recipe, 'name', None)!r}, not of {name!r}")
    return recipe


def method_of_model_type(model_type: str | None) -> str | None:
    """The method whose checkpoints have this `config.model_type`, or `None`."""
    for entry in METHODS.values():
        if model_type in entry.model_types:
            return entry.name
    return None
