"""Training pieces: the discriminative optimizer and slanted triangular schedule, the XMC collator, the recipes."""

from __future__ import annotations

from .collators import XMCDataCollator
from .optimization import (
    XMCTrainer,
    XMCTrainingArguments,
    create_discriminative_optimizer,
    discriminative_parameter_groups,
    get_slanted_triangular_schedule,
)

__all__ = [
    "XMCDataCollator",
    "XMCTrainer",
    "XMCTrainingArguments",
    "create_discriminative_optimizer",
    "discriminative_parameter_groups",
    "get_slanted_triangular_schedule",
]
