"""T5's span corruption objective (Raffel et al. 2020, §3.1.4): noise masks, sentinel inputs and targets.

A chunk of `tokens_length` tokens gets about `noise_density` of its tokens masked in spans of mean length
`mean_noise_span_length`; each span becomes one sentinel `<extra_id_i>` in the input, and the target lists every
sentinel followed by the tokens it hides. `input_and_target_lengths` picks the chunk length so that the corrupted
input has exactly `inputs_length` tokens (EOS included), as T5 does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def random_spans_noise_mask(
    length: int, noise_density: float, mean_noise_span_length: float, rng: np.random.Generator
) -> np.ndarray:
    """A boolean mask of `length` tokens with `round(length * noise_density)` noise tokens in alternating spans.

    The first span is never noise; span lengths are random segmentations (T5's `random_spans_noise_mask`).
    """
    num_noise_tokens = min(max(int(round(length * noise_density)), 1), length - 1)
    num_noise_spans = max(int(round(num_noise_tokens / mean_noise_span_length)), 1)
    num_nonnoise_tokens = length - num_noise_tokens

    def segment_lengths(num_items: int, num_segments: int) -> np.ndarray:
        cuts = np.sort(rng.choice(np.arange(1, num_items), size=num_segments - 1, replace=False))
        return np.diff(np.concatenate([[0], cuts, [num_items]]))

    num_noise_spans = min(num_noise_spans, num_noise_tokens, num_nonnoise_tokens)
    noise_lengths = segment_lengths(num_noise_tokens, num_noise_spans)
    nonnoise_lengths = segment_lengths(num_nonnoise_tokens, num_noise_spans)
    interleaved = np.stack([nonnoise_lengths, noise_lengths], axis=1).reshape(-1)
    mask = np.zeros(length, dtype=bool)
    position = 0
    for index, span in enumerate(interleaved):
        if index % 2 == 1:
            mask[position : position + span] = True
        position += span
    return mask


def input_and_target_lengths(
    inputs_length: int, noise_density: float = 0.15, mean_noise_span_length: float = 3.0
) -> tuple[int, int]:
    """`(tokens_length, targets_length)`: the raw chunk length whose corruption has `inputs_length` tokens."""

    def lengths(tokens_length: int) -> tuple[int, int]:
        num_noise = int(round(tokens_length * noise_density))
        num_spans = max(int(round(num_noise / mean_noise_span_length)), 1)
        return tokens_length - num_noise + num_spans + 1, num_noise + num_spans + 1

    tokens_length = inputs_length
    while lengths(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    return tokens_length, lengths(tokens_length)[1]


def corrupt(tokens: np.ndarray, mask: np.ndarray, sentinel_ids: list[int], eos_token_id: int):
    """`(input_ids, target_ids)` of one chunk: noise spans -> sentinels in the input, the reverse in the target."""
    starts = mask & ~np.concatenate([[False], mask[:-1]])
    span_index = np.cumsum(starts) - 1
    if span_index.max(initial=-1) >= len(sentinel_ids):
        raise ValueError(f"{span_index.max() + 1} noise spans but only {len(sentinel_ids)} sentinel tokens")
    inputs, targets = [], []
    for position, token in enumerate(tokens.tolist()):
        if mask[position]:
            if starts[position]:
                inputs.append(sentinel_ids[span_index[position]])
                targets.append(sentinel_ids[span_index[position]])
            targets.append(token)
        else:
            inputs.append(token)
    return inputs + [eos_token_id], targets + [eos_token_id]


@dataclass
class SpanCorruptionCollator:
    """Turns chunks of `tokens_length` token ids (`{"input_ids": [...]}`) into T5 span-corruption batches.

    Args:
        sentinel_ids (`list[int]`): ids of `<extra_id_0>`, `<extra_id_1>`, ...
        eos_token_id (`int`), pad_token_id (`int`)
        noise_density (`float`): share of tokens masked (T5: 0.15).
        mean_noise_span_length (`float`): mean span length (T5: 3).
        seed (`int`): seeds the masks.
    """

    sentinel_ids: list[int]
    eos_token_id: int
    pad_token_id: int
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.noise_density < 1:
            raise ValueError(f"--noise_density must be in (0, 1), got {self.noise_density}")
        if self.mean_noise_span_length < 1:
            raise ValueError(f"--mean_noise_span_length must be >= 1, got {self.mean_noise_span_length}")
        self._rng = np.random.default_rng(self.seed)

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        inputs, targets = [], []
        for feature in features:
            tokens = np.asarray(feature["input_ids"], dtype=np.int64)
            mask = random_spans_noise_mask(len(tokens), self.noise_density, self.mean_noise_span_length, self._rng)
            source, target = corrupt(tokens, mask, self.sentinel_ids, self.eos_token_id)
            inputs.append(source)
            targets.append(target)
        width, target_width = max(map(len, inputs)), max(map(len, targets))
        input_ids = torch.full((len(inputs), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(targets), target_width), -100, dtype=torch.long)
        for row, (source, target) in enumerate(zip(inputs, targets)):
            input_ids[row, : len(source)] = torch.tensor(source)
            labels[row, : len(target)] = torch.tensor(target)
        return {"input_ids": input_ids, "attention_mask": (input_ids != self.pad_token_id).long(), "labels": labels}


__all__ = ["SpanCorruptionCollator", "corrupt", "input_and_target_lengths", "random_spans_noise_mask"]
