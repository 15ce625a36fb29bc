"""Training pieces: the shared recipe (`recipe.MethodRecipe`), the discriminative optimizer and slanted triangular
schedule, the XMC collator, the wall-clock budget.

Names load on first access, so `import hf_xmc.training.recipe_steps` (numpy only) does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "XMCDataCollator": ".collators",
    "XMCTrainer": ".optimization",
    "XMCTrainingArguments": ".optimization",
    "create_discriminative_optimizer": ".optimization",
    "discriminative_parameter_groups": ".optimization",
    "get_slanted_triangular_schedule": ".optimization",
    "MethodRecipe": ".recipe",
    "run_recipe": ".recipe",
    "RecipeTrainingArguments": ".arguments",
    "XMCDataArguments": ".arguments",
    "XMCModelArguments": ".arguments",
    "TimeBudgetCallback": ".budget",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
