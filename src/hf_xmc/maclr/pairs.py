"""Inverse-cloze-task (ICT) pairs from raw documents: MACLR's stage-I pseudo (instance, label) pairs (§4.2).

A document with a title gives the pair `(context, title)`: the context is its content with every occurrence of the
title removed from each sentence with probability `remove_title_probability` (0.9 in the reference code, decided
independently per sentence, so the task is not always trivially solvable by string matching). A document without a
title uses its first sentence as the title and the remaining sentences as the context (the paper's general ICT form).

Documented behaviour for awkward input:
- a document whose context would be empty (no content and a title only, or a single sentence and no title) gives no
  pair; `ict_pairs` counts them in `stats["skipped_no_context"]` and raises `XMCInputError` when no pair is left;
- duplicated titles make false in-batch negatives for the contrastive loss: `duplicate_titles="drop"` (default) keeps
  the first document of each title, `"keep"` keeps them all.

The returned `datasets.Dataset` has the columns `context`, `title` (the loss inputs, in that order) and `label`, the
row's own index: the loss maps it to the pair's current cluster (set by `AdaptiveClusteringCallback`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..data.errors import XMCInputError

# A sentence ends at ., ! or ? followed by white space (or at a line break); good enough for descriptions, and it
# needs no NLTK model download.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """The non-empty sentences of `text`."""
    return [sentence.strip() for sentence in _SENTENCE_END.split(text or "") if sentence.strip()]


def ict_pair(
    title: str | None, content: str, rng: np.random.Generator, remove_title_probability: float = 0.9
) -> tuple[str, str] | None:
    """One `(context, title)` pair, or `None` when the document has no context left.

    Args:
        title (`str`, *optional*): the document's title; empty or `None`: the first sentence serves as title.
        content (`str`): the document's body.
        rng (`np.random.Generator`): decides, per sentence, whether the title is removed.
        remove_title_probability (`float`): the chance that a sentence loses the title's occurrences.
    """
    sentences = split_sentences(content)
    title = (title or "").strip()
    if not title:
        if len(sentences) < 2:
            return None
        title, sentences = sentences[0], sentences[1:]
    context = []
    for sentence in sentences:
        if title in sentence and rng.random() < remove_title_probability:
            sentence = " ".join(sentence.replace(title, " ").split())
        if sentence:
            context.append(sentence)
    if not context:
        return None
    return " ".join(context), title


def ict_pairs(
    titles: Sequence[str | None] | None,
    contents: Sequence[str],
    remove_title_probability: float = 0.9,
    seed: int = 0,
    duplicate_titles: str = "drop",
):
    """ICT pairs of a corpus.

    Args:
        titles (`list[str]`, *optional*): one title per document (`None`/`""` where a document has none; `None` for
            the whole argument: every document's first sentence is its title).
        contents (`list[str]`): the documents' bodies.
        remove_title_probability (`float` in [0, 1]): see the module docstring.
        seed (`int`): seeds the title removal.
        duplicate_titles (`str`): `"drop"` (keep each title's first document) or `"keep"`.

    Returns:
        `(dataset, stats)`: a `datasets.Dataset` with `context`, `title` and `label` (the row index), ready for
        `SentenceTransformerTrainer`; `stats` counts `documents`, `pairs`, `skipped_no_context`,
        `dropped_duplicate_titles`, and `document_positions` lists each pair's source document.

    Raises:
        `XMCInputError`: no document yields a pair. `ValueError`: a bad option.
    """
    from datasets import Dataset

    if not 0.0 <= remove_title_probability <= 1.0:
        raise ValueError(f"remove_title_probability={remove_title_probability} must be in [0, 1].")
    if duplicate_titles not in ("drop", "keep"):
        raise ValueError(f"duplicate_titles={duplicate_titles!r} must be 'drop' or 'keep'.")
    if titles is not None and len(titles) != len(contents):
        raise ValueError(f"{len(titles)} titles for {len(contents)} documents.")
    rng = np.random.default_rng(seed)
    contexts, pair_titles, documents = [], [], []
    seen_titles: set[str] = set()
    skipped = duplicates = 0
    for position, content in enumerate(contents):
        pair = ict_pair(None if titles is None else titles[position], content, rng, remove_title_probability)
        if pair is None:
            skipped += 1
            continue
        if duplicate_titles == "drop":
            if pair[1] in seen_titles:
                duplicates += 1
                continue
            seen_titles.add(pair[1])
        contexts.append(pair[0])
        pair_titles.append(pair[1])
        documents.append(position)
    if not contexts:
        raise XMCInputError(
            f"no ICT pair could be built from {len(contents)} documents: each needs a title and some content, or "
            "at least two sentences (the first becomes the title)."
        )
    dataset = Dataset.from_dict({"context": contexts, "title": pair_titles, "label": list(range(len(contexts)))})
    stats = {
        "documents": len(contents),
        "pairs": len(contexts),
        "skipped_no_context": skipped,
        "dropped_duplicate_titles": duplicates,
        "document_positions": documents,
    }
    return dataset, stats


def ict_pairs_from_split(split, **kwargs):
    """`ict_pairs` of a data-layer split (`XMCDataset.splits[name]`): LF `title`/`content` columns when present,
    otherwise the `text` column with its first sentence as title."""
    columns = set(split.column_names)
    if {"title", "content"} <= columns:
        return ict_pairs(split["title"], split["content"], **kwargs)
    if "text" not in columns:
        raise XMCInputError(f"the split has neither title/content nor a text column (columns: {sorted(columns)}).")
    return ict_pairs(None, split["text"], **kwargs)
