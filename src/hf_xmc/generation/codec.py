"""Label sequences <-> token ids: the target of every document, and the parse of a generation back to label ids.

Targets are built from token ids, not strings: each label is tokenised on its own, labels are joined by the
separator's tokens and one EOS ends the sequence. So the token path of a label is the same in every target, which is
what the constrained-decoding trie (`trie.py`) walks, and a generated label maps back to its id by its token ids
(with the decoded string as a fallback for other tokenisations). A generated label that is no vocabulary label is
kept apart (`seen=False`), never silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..data.errors import XMCInputError
from ..hub.inference import RankedLabel

logger = logging.getLogger(__name__)


class LabelCodec:
    """The label vocabulary in token ids.

    Args:
        tokenizer: the model's tokenizer (with EOS and pad tokens).
        labels (`list[str]`): label strings in vocabulary id order (`LabelVocabulary.labels`).
        separator (`str`, defaults to `";"`): what joins two labels; no label may contain it.
    """

    def __init__(self, tokenizer, labels: Sequence[str], separator: str = ";"):
        if not separator or not separator.strip():
            raise ValueError("--label_separator must be a non-blank string")
        bad = [label for label in labels if separator.strip() in label]
        if bad:
            shown = ", ".join(repr(label) for label in bad[:5])
            raise XMCInputError(
                f"{len(bad)} labels contain the separator {separator.strip()!r} (e.g. {shown}); choose another "
                "--label_separator"
            )
        empty = [index for index, label in enumerate(labels) if not label.strip()]
        if empty:
            raise XMCInputError(f"labels {empty[:5]} are empty strings: a generated label could never name them")
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.separator = separator.strip()
        self.eos_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id
        self.separator_ids = tuple(tokenizer(self.separator, add_special_tokens=False)["input_ids"])
        if not self.separator_ids:
            raise XMCInputError(f"the separator {self.separator!r} tokenises to nothing")
        encoded = tokenizer(self.labels, add_special_tokens=False)["input_ids"]
        self.label_token_ids: list[tuple[int, ...]] = [tuple(ids) for ids in encoded]
        self.id_of_tokens: dict[tuple[int, ...], int] = {}
        collisions = 0
        for label_id, tokens in enumerate(self.label_token_ids):
            if tokens in self.id_of_tokens:
                collisions += 1
            else:
                self.id_of_tokens[tokens] = label_id
        if collisions:
            logger.warning(
                "%d labels tokenise exactly like an earlier label (unknown characters?); generation cannot tell them "
                "apart and returns the first",
                collisions,
            )
        self.id_of_string = {label.strip(): label_id for label_id, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def tokens_per_label(self) -> float:
        """Mean number of tokens per label (1.0 when every label is one token)."""
        return sum(map(len, self.label_token_ids)) / max(len(self.label_token_ids), 1)

    def target_ids(self, label_ids: Sequence[int], max_length: int | None = None) -> list[int]:
        """`label_1 SEP label_2 SEP ... label_n </s>` in token ids, in the given label order.

        Args:
            label_ids (`Sequence[int]`): the labels, already in the target order.
            max_length (`int`, *optional*): at most this many tokens; labels that do not fit whole are left out
                (the sequence still ends with its one EOS).
        """
        ids: list[int] = []
        budget = None if max_length is None else max_length - 1
        for label_id in label_ids:
            piece = (list(self.separator_ids) if ids else []) + list(self.label_token_ids[label_id])
            if budget is not None and len(ids) + len(piece) > budget:
                break
            ids.extend(piece)
        ids.append(self.eos_token_id)
        return ids

    def split(self, token_ids: Sequence[int]) -> list[tuple[int, int]]:
        """`(start, end)` spans of the labels in a generated sequence (no decoder start token), up to its EOS."""
        token_ids = list(token_ids)
        end = len(token_ids)
        if self.eos_token_id in token_ids:
            end = token_ids.index(self.eos_token_id)
        spans, start, position, width = [], 0, 0, len(self.separator_ids)
        while position < end:
            if tuple(token_ids[position : position + width]) == self.separator_ids and position + width <= end:
                spans.append((start, position))
                position += width
                start = position
            else:
                position += 1
        spans.append((start, end))
        return [(a, b) for a, b in spans if b > a]

    def parse(self, token_ids: Sequence[int], token_scores: Sequence[float] | None = None) -> list[RankedLabel]:
        """The labels of one generated sequence, in generation order, repeats removed (the best score kept).

        Args:
            token_ids (`Sequence[int]`): the generated tokens, without the decoder start token.
            token_scores (`Sequence[float]`, *optional*): each token's log-probability; a label's score is the sum
                over its tokens (0.0 without scores).

        Returns:
            `list[RankedLabel]`: `label_id` and `seen=True` for vocabulary labels; `label_id=None`, `seen=False` for
            new ones. Empty when the generation holds no label (e.g. EOS at once).
        """
        token_ids = [int(t) for t in token_ids]
        parsed: dict[object, RankedLabel] = {}
        for start, end in self.split(token_ids):
            chunk = tuple(t for t in token_ids[start:end] if t != self.pad_token_id)
            if not chunk:
                continue
            score = float(sum(token_scores[start:end])) if token_scores is not None else 0.0
            label_id = self.id_of_tokens.get(chunk)
            if label_id is None:
                text = self.tokenizer.decode(list(chunk), skip_special_tokens=True).strip()
                if not text:
                    continue
                label_id = self.id_of_string.get(text)
                label = text if label_id is None else self.labels[label_id]
            else:
                label = self.labels[label_id]
            key = label_id if label_id is not None else label
            if key in parsed:
                parsed[key].score = max(parsed[key].score, score)
                continue
            parsed[key] = RankedLabel(label=label, score=score, label_id=label_id, seen=label_id is not None)
        return list(parsed.values())


__all__ = ["LabelCodec"]
