"""Shortlist and rank: an encoder, a label-text-initialised classifier and a fusion over shortlisted labels only."""

from __future__ import annotations

from .configuration_shortlist_ranker import FUSION_FEATURES, ShortlistRankerConfig
from .modeling_shortlist_ranker import ShortlistRanker, ShortlistRankerOutput, chunked_top_k, merge_shortlists

__all__ = [
    "FUSION_FEATURES",
    "ShortlistRanker",
    "ShortlistRankerConfig",
    "ShortlistRankerOutput",
    "chunked_top_k",
    "merge_shortlists",
]
