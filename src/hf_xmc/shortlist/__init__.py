"""Shortlist and rank at XMC scale: label-text initialisation, the sparse shortlist, the fusion, the collator.

The model itself is `hf_xmc.models.shortlist_ranker.ShortlistRanker`; its recipe is `hf_xmc.training.ranker_recipe`.
"""

from __future__ import annotations

from .label_text import (
    embed_texts,
    init_gudn_from_label_text,
    init_label_weights_from_text,
    init_linear_from_label_embeddings,
    init_ranker_from_label_text,
    label_texts_with_fallback,
)

__all__ = [
    "embed_texts",
    "init_gudn_from_label_text",
    "init_label_weights_from_text",
    "init_linear_from_label_embeddings",
    "init_ranker_from_label_text",
    "label_texts_with_fallback",
]
