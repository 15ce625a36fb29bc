"""Ranked predictions from an hf-xmc checkpoint: the one interface the Space and `XMCCheckpoint.predict` share.

A predictor returns, per text, a list of `RankedLabel` (best first). A classifier fills `label_id` and leaves
`seen=None`; a generative model (XLGen) fills `seen` (whether the generated label is in the vocabulary) and may return
labels without an id.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

# Tokenizers of models without a position limit (XLNet) report a huge sentinel as their maximum.
_UNBOUNDED_LENGTH = 1_000_000


class TextTooLongError(ValueError):
    """A text has more tokens than the model reads."""


@dataclass
class RankedLabel:
    """One predicted label.

    Args:
        label (`str`): the label string.
        score (`float`): the model's score, higher is better (a probability for sigmoid classifiers).
        label_id (`int`, *optional*): its vocabulary id; `None` for a generated label outside the vocabulary.
        text (`str`, *optional*): the label's text (title/description) when the vocabulary has one.
        seen (`bool`, *optional*): for generative models, whether the label is in the training vocabulary;
            `None` for classifiers (every label is).
    """

    label: str
    score: float
    label_id: int | None = None
    text: str | None = None
    seen: bool | None = None


def model_max_length(model, tokenizer) -> int | None:
    """The most tokens the model reads: the tokenizer's `model_max_length` and the model's position limit."""
    limits = []
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < _UNBOUNDED_LENGTH:
        limits.append(tokenizer_limit)
    config = getattr(model, "config", None)
    for owner in (config, getattr(config, "encoder", None)):  # wrapper configs hold the encoder's as a sub-config
        for name in ("max_position_embeddings", "n_positions"):
            value = getattr(owner, name, None)
            if isinstance(value, int) and value > 0:
                limits.append(value)
    return min(limits) if limits else None


def check_text_lengths(texts: list[str], tokenizer, max_length: int | None) -> None:
    """Raise `TextTooLongError` naming the first text longer than `max_length` tokens (special tokens included)."""
    if max_length is None:
        return
    for index, ids in enumerate(tokenizer(texts, add_special_tokens=True)["input_ids"]):
        if len(ids) > max_length:
            which = "The text" if len(texts) == 1 else f"Text {index}"
            raise TextTooLongError(
                f"{which} has {len(ids)} tokens, but this model reads at most {max_length}. "
                f"Shorten it (or pass truncation=True to keep only the first {max_length} tokens)."
            )


def _forward_accepts(model, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


@torch.no_grad()
def rank_labels(
    model,
    tokenizer,
    vocabulary,
    texts: list[str],
    k: int = 5,
    truncation: bool = False,
    batch_size: int = 16,
    max_length: int | None = None,
) -> list[list[RankedLabel]]:
    """The `k` best labels of each text from a classifier that returns `top_k_ids`/`top_k_scores` or `logits`.

    Args:
        model: an hf-xmc classifier (`forward(input_ids, attention_mask, top_k=...)`), or any model whose output has
            `logits` of shape `(batch, num_labels)`.
        tokenizer: its tokenizer.
        vocabulary (`LabelVocabulary`): maps ids to label strings and texts.
        texts (`list[str]`): the documents.
        k (`int`): labels per text.
        truncation (`bool`): cut texts at the model's maximum length; when `False` a longer text raises
            `TextTooLongError`.
        batch_size (`int`): texts per forward pass.
        max_length (`int`, *optional*): read at most this many tokens (e.g. the length the model was trained with);
            defaults to the model's limit.
    """
    if isinstance(texts, str):
        texts = [texts]
    if not 1 <= k <= len(vocabulary):
        raise ValueError(f"k must be between 1 and the number of labels ({len(vocabulary)}), got {k}")
    limit = model_max_length(model, tokenizer)
    max_length = min(max_length, limit) if max_length is not None and limit is not None else max_length or limit
    if not truncation:
        check_text_lengths(texts, tokenizer, max_length)
    model.eval()
    device = next(model.parameters()).device
    has_top_k = _forward_accepts(model, "top_k")
    label_texts = vocabulary.texts
    results: list[list[RankedLabel]] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=max_length is not None,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        if has_top_k:
            extra = {"return_logits": False} if _forward_accepts(model, "return_logits") else {}
            shortlister = getattr(model, "sparse_shortlister", None)  # shortlist-and-rank models: sparse candidates
            if shortlister is not None:
                extra.update(shortlister.candidate_inputs(texts[start : start + batch_size], device))
            output = model(**batch, top_k=k, **extra)
            scores, ids = output.top_k_scores, output.top_k_ids
        else:
            scores, ids = model(**batch).logits.topk(k, dim=-1)
        probabilities = torch.sigmoid(scores.float()).cpu().tolist()
        for row_ids, row_scores in zip(ids.cpu().tolist(), probabilities):
            results.append(
                [
                    RankedLabel(
                        label=vocabulary.labels[label_id],
                        score=float(score),
                        label_id=int(label_id),
                        text=label_texts[label_id] if label_texts is not None else None,
                    )
                    for label_id, score in zip(row_ids, row_scores)
                    if label_id >= 0  # fewer than k labels were shortlisted
                ]
            )
    return results
