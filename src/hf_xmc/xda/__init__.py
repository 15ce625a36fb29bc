"""XDA (Xu et al. 2024): prompt-based, label-conditional data augmentation for long-tailed XMC.

Four stages (`hf_xmc.xda.pipeline`, `hf-xmc augment ...`): a PEFT prefix on a frozen T5 learns to fill masked spans
of label-conditioned documents (`prompt_tuning`, `masking`); N_a augmented documents per source (`augment`); the
diversity + consistency filter scored by any hf-xmc classifier (`filtering`); the classifier's head trained on the
original data plus the masked augmentation loss of eq. 4 (`masked_loss`).

Only the argument dataclasses load eagerly (no torch); everything else loads on first use.
"""

from __future__ import annotations

import importlib

from .arguments import (
    FilterArguments,
    GenerateArguments,
    MDATrainArguments,
    PromptTuneArguments,
    XDACommonArguments,
)

_LAZY = {
    "MaskedDocument": "masking",
    "mask_document": "masking",
    "DocumentTooShortError": "masking",
    "add_prefix_adapter": "prompt_tuning",
    "load_prefix_model": "prompt_tuning",
    "train_prefix": "prompt_tuning",
    "decode": "prompt_tuning",
    "augment_documents": "augment",
    "LabelScorer": "filtering",
    "score_augmented": "filtering",
    "diversity_scores": "filtering",
    "consistency_scores": "filtering",
    "head_tail_split": "masked_loss",
    "MaskedAugmentationLoss": "masked_loss",
    "ReweightedAugmentationLoss": "masked_loss",
    "train_classifier": "masked_loss",
    "run_pipeline": "pipeline",
    "run_prompt_tuning": "pipeline",
    "run_generation": "pipeline",
    "run_filter": "pipeline",
    "run_training": "pipeline",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FilterArguments",
    "GenerateArguments",
    "MDATrainArguments",
    "PromptTuneArguments",
    "XDACommonArguments",
    *sorted(_LAZY),
]
