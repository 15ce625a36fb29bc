"""Ranked labels from a generative checkpoint: what `load_xmc_model(...).predict`, the Space and the recipe use.

The generated labels of each text are ranked by their score, reported as a probability: `exp` of the summed token
log-probabilities, i.e. the model's probability of spelling the label at that point of the sequence. Vocabulary
labels carry their id (`seen=True`); new labels have `label_id=None`, `seen=False`. A text may get fewer than `k`
labels (the model stops when it has nothing more to say).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..hub.inference import RankedLabel
from .codec import LabelCodec
from .decoding import ensemble_generate, generate_labels

DEFAULT_MAX_SOURCE_LENGTH = 512
_CODECS: dict[tuple[int, int, str], LabelCodec] = {}


def codec_for(tokenizer, vocabulary, separator: str) -> LabelCodec:
    """The label codec of a (tokenizer, vocabulary, separator), built once per process."""
    key = (id(tokenizer), id(vocabulary), separator)
    codec = _CODECS.get(key)
    if codec is None or codec.tokenizer is not tokenizer:
        codec = _CODECS[key] = LabelCodec(tokenizer, vocabulary.labels, separator)
    return codec


def rank_generated_labels(
    model,
    tokenizer,
    vocabulary,
    texts: Sequence[str] | str,
    k: int = 5,
    strategy: str = "beam",
    constrained: bool = False,
    max_source_length: int | None = None,
    max_new_tokens: int | None = None,
    batch_size: int = 16,
) -> list[list[RankedLabel]]:
    """The (at most) `k` best generated labels of each text, best first.

    Args:
        model (`T5ForClusterGuidedLabelGeneration`), tokenizer, vocabulary (`LabelVocabulary`): a checkpoint.
        texts (`Sequence[str]` or `str`): the documents.
        k (`int`): labels per text at most.
        strategy (`str`): a key of `DECODING_STRATEGIES`, or `"ensemble"` (union of beam, top-k+p and temperature).
        constrained (`bool`): only vocabulary labels (the label trie).
        max_source_length (`int`, *optional*): input tokens per text (default 512; T5 reads any length).
        max_new_tokens (`int`, *optional*): default `model.generation_config.max_new_tokens`, else 64.
        batch_size (`int`): texts per `generate` call.
    """
    if isinstance(texts, str):
        texts = [texts]
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    codec = codec_for(tokenizer, vocabulary, model.config.label_separator)
    max_new_tokens = max_new_tokens or getattr(model.generation_config, "max_new_tokens", None) or 64
    options = {
        "constrained": constrained,
        "max_source_length": max_source_length or DEFAULT_MAX_SOURCE_LENGTH,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
    }
    if strategy == "ensemble":
        result = ensemble_generate(model, tokenizer, codec, list(texts), **options)
    else:
        num_beams = getattr(model.generation_config, "num_beams", None) if strategy == "beam" else None
        result = generate_labels(
            model, tokenizer, codec, list(texts), strategy=strategy, num_beams=num_beams, **options
        )
    label_texts = vocabulary.texts
    ranked = []
    for row in result.ranked(k):
        ranked.append(
            [
                RankedLabel(
                    label=label.label,
                    score=math.exp(label.score),
                    label_id=label.label_id,
                    text=label_texts[label.label_id]
                    if label_texts is not None and label.label_id is not None
                    else None,
                    seen=label.seen,
                )
                for label in row
            ]
        )
    return ranked


__all__ = ["codec_for", "rank_generated_labels"]
