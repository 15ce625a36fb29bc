"""Label generation for generative XMC models (XLGen): targets and label order, special tokens, the label codec
(targets <-> token ids, parsing back to label ids with new labels kept apart), the label trie for constrained
decoding, decoding strategies and the decoding ensemble, label scores and the metrics of generated labels."""

from __future__ import annotations

from .codec import LabelCodec
from .collator import IGNORE_INDEX, XLGenDataCollator
from .decoding import (
    DECODING_STRATEGIES,
    ENSEMBLE_JOINS,
    ENSEMBLE_STRATEGIES,
    GenerationResult,
    ensemble_generate,
    generate_labels,
    join_generations,
    strategy_arguments,
)
from .evaluation import TAIL_GROUPS, evaluate_generated_labels, generation_statistics
from .targets import (
    LABEL_ORDERS,
    check_label_clusters,
    check_num_clusters,
    document_clusters,
    multi_hot_clusters,
    order_labels,
)
from .tokens import CLUSTER_TASK_TOKEN, LABEL_TASK_TOKEN, XLGenTokens, cluster_token
from .trie import LabelTrie, LabelTrieLogitsProcessor

__all__ = [
    "CLUSTER_TASK_TOKEN",
    "DECODING_STRATEGIES",
    "ENSEMBLE_JOINS",
    "ENSEMBLE_STRATEGIES",
    "IGNORE_INDEX",
    "LABEL_ORDERS",
    "LABEL_TASK_TOKEN",
    "TAIL_GROUPS",
    "GenerationResult",
    "LabelCodec",
    "LabelTrie",
    "LabelTrieLogitsProcessor",
    "XLGenDataCollator",
    "XLGenTokens",
    "check_label_clusters",
    "check_num_clusters",
    "cluster_token",
    "document_clusters",
    "ensemble_generate",
    "evaluate_generated_labels",
    "generate_labels",
    "generation_statistics",
    "join_generations",
    "multi_hot_clusters",
    "order_labels",
    "strategy_arguments",
]
