"""Constrained decoding: a prefix trie over the tokenised label vocabulary, applied as a `LogitsProcessor`.

At every step a sequence may only continue the label it is spelling (a trie edge), or, where that label is complete,
start the separator or end with EOS; after the separator it starts a new label at the root. So every generated label
is a real label (the paper's open setting leaves this off and may produce new labels). A label already generated in
the sequence may not be completed again (unless nothing else is possible there). The state of every prefix is cached,
so a step costs one trie move per sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

from .codec import LabelCodec


class LabelTrie:
    """A token trie of label sequences.

    Args:
        label_token_ids (`Sequence[tuple[int, ...]]`): the tokens of each label (`LabelCodec.label_token_ids`).
        allowed_labels (`Sequence[int]`, *optional*): only these label ids (e.g. labels seen in training).
    """

    def __init__(self, label_token_ids: Sequence[tuple[int, ...]], allowed_labels: Sequence[int] | None = None):
        self.children: list[dict[int, int]] = [{}]
        self.label_at: list[int | None] = [None]
        labels = range(len(label_token_ids)) if allowed_labels is None else allowed_labels
        for label_id in labels:
            node = 0
            for token in label_token_ids[label_id]:
                nxt = self.children[node].get(token)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][token] = nxt
                    self.children.append({})
                    self.label_at.append(None)
                node = nxt
            if node != 0 and self.label_at[node] is None:
                self.label_at[node] = label_id
        if not self.children[0]:
            raise ValueError("the label trie is empty: no label has any token")

    @classmethod
    def from_codec(cls, codec: LabelCodec, allowed_labels: Sequence[int] | None = None) -> LabelTrie:
        return cls(codec.label_token_ids, allowed_labels)

    def __len__(self) -> int:
        return len(self.children)


class LabelTrieLogitsProcessor(LogitsProcessor):
    """Masks every token that would not continue a valid label sequence (`-inf`), for greedy, beam and sampling.

    Args:
        trie (`LabelTrie`): the labels.
        separator_ids (`Sequence[int]`): the separator's tokens.
        eos_token_id (`int`), pad_token_id (`int`): ends a sequence / fills finished ones.
        forbid_repeats (`bool`, defaults to `True`): a label may be completed once per sequence.
    """

    # state: (node, separator position, labels done, finished); node -1 while inside the separator
    def __init__(
        self,
        trie: LabelTrie,
        separator_ids: Sequence[int],
        eos_token_id: int,
        pad_token_id: int,
        forbid_repeats: bool = True,
    ):
        self.trie = trie
        self.separator_ids = tuple(separator_ids)
        self.eos_token_id = eos_token_id
        self.pad_token_id = pad_token_id
        self.forbid_repeats = forbid_repeats
        self._cache: dict[tuple[int, ...], tuple] = {}

    @classmethod
    def from_codec(cls, codec: LabelCodec, allowed_labels: Sequence[int] | None = None, **kwargs):
        return cls(
            LabelTrie.from_codec(codec, allowed_labels),
            codec.separator_ids,
            codec.eos_token_id,
            codec.pad_token_id,
            **kwargs,
        )

    def _step(self, state: tuple, token: int) -> tuple:
        node, sep_position, done, finished = state
        if finished or token == self.eos_token_id:
            return (0, 0, done, True)
        if node == -1:  # inside the separator
            sep_position += 1
            return (0, 0, done, False) if sep_position == len(self.separator_ids) else (-1, sep_position, done, False)
        if token in self.trie.children[node]:
            return (self.trie.children[node][token], 0, done, False)
        if token == self.separator_ids[0] and self.trie.label_at[node] is not None:
            done = done | {self.trie.label_at[node]}
            return (0, 0, done, False) if len(self.separator_ids) == 1 else (-1, 1, done, False)
        return (0, 0, done, True)  # off the trie (cannot happen under the mask): treat as finished

    def _state(self, prefix: tuple[int, ...]) -> tuple:
        state = self._cache.get(prefix)
        if state is None:
            state = (0, 0, frozenset(), False) if not prefix else self._step(self._state(prefix[:-1]), prefix[-1])
            self._cache[prefix] = state
        return state

    def allowed_tokens(self, prefix: tuple[int, ...]) -> list[int]:
        """The tokens that may follow `prefix` (the generated tokens after the decoder start token)."""
        node, sep_position, done, finished = self._state(prefix)
        if finished:
            return [self.pad_token_id, self.eos_token_id]
        if node == -1:
            return [self.separator_ids[sep_position]]
        allowed = list(self.trie.children[node])
        label = self.trie.label_at[node]
        if label is not None and (not self.forbid_repeats or label not in done or not allowed):
            allowed.append(self.separator_ids[0])
            allowed.append(self.eos_token_id)
        if not allowed:
            allowed.append(self.eos_token_id)
        return allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] <= 1:
            self._cache.clear()  # a new generate call
        rows, columns = [], []
        for row, sequence in enumerate(input_ids[:, 1:].tolist()):
            allowed = self.allowed_tokens(tuple(sequence))
            rows.extend([row] * len(allowed))
            columns.extend(allowed)
        mask = torch.full_like(scores, float("-inf"))
        mask[torch.tensor(rows, device=scores.device), torch.tensor(columns, device=scores.device)] = 0
        return scores + mask


__all__ = ["LabelTrie", "LabelTrieLogitsProcessor"]
