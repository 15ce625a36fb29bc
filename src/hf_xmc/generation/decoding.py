"""Decoding strategies (§5.2, A.6), the decoding ensemble (§4.3) and label scores for generated labels.

`generate_labels` runs one strategy over texts and returns, per text, the generated labels in generation order as
`RankedLabel`s: vocabulary labels with their id (`seen=True`), new labels apart (`seen=False`). Every label gets a
score: the sum of its tokens' log-probabilities under the model (one teacher-forced pass over the generated
sequences: the raw model distribution, not the sampling distribution nor the trie-masked one, so scores of different
strategies are comparable), which makes P@k / PSP@k /
nDCG@k ordinary ranking metrics for a generative model. `ensemble_generate` joins strategies (union or
intersection, as in Table 15); a label's ensemble score is its best score.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..hub.inference import RankedLabel
from .codec import LabelCodec
from .tokens import XLGenTokens
from .trie import LabelTrieLogitsProcessor

# name -> GenerationMixin.generate arguments; the paper's grid (Table 14) and its ensemble members (A.6)
DECODING_STRATEGIES: dict[str, dict] = {
    "greedy": {"do_sample": False, "num_beams": 1},
    "beam": {"do_sample": False, "num_beams": 5},
    "top_k": {"do_sample": True, "num_beams": 1, "top_k": 50, "top_p": 1.0},
    "top_p": {"do_sample": True, "num_beams": 1, "top_k": 0, "top_p": 0.9},
    "top_k_p": {"do_sample": True, "num_beams": 1, "top_k": 50, "top_p": 0.9},
    "temperature": {"do_sample": True, "num_beams": 1, "top_k": 0, "top_p": 1.0, "temperature": 0.8},
}
ENSEMBLE_STRATEGIES = ("beam", "top_k_p", "temperature")
ENSEMBLE_JOINS = ("union", "intersection")


def strategy_arguments(strategy: str, num_beams: int | None = None) -> dict:
    """The `generate` arguments of a named strategy; `num_beams` overrides the beam width of `"beam"`."""
    if strategy not in DECODING_STRATEGIES:
        raise ValueError(f"--decoding must be one of {sorted(DECODING_STRATEGIES)} (or 'ensemble'), got {strategy!r}")
    arguments = dict(DECODING_STRATEGIES[strategy])
    if num_beams is not None:
        if strategy != "beam" or num_beams < 1:
            raise ValueError(f"--num_beams applies to 'beam' decoding only and must be >= 1, got {num_beams}")
        arguments["num_beams"] = num_beams
    return arguments


@dataclass
class GenerationResult:
    """Generated labels of a list of texts.

    Args:
        labels (`list[list[RankedLabel]]`): per text, in generation order.
        clusters (`list[list[int]]`, *optional*): per text, the clusters appended to the input (cluster-conditioned
            models).
        seconds (`float`): wall time of the generation.
    """

    labels: list[list[RankedLabel]]
    clusters: list[list[int]] | None = None
    seconds: float = 0.0
    strategies: list[str] = field(default_factory=list)

    def ranked(self, k: int | None = None) -> list[list[RankedLabel]]:
        """Per text, the labels by decreasing score (the first `k`)."""
        return [sorted(row, key=lambda label: -label.score)[:k] for row in self.labels]


def _pad(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[index, : len(row)] = 1
    return ids, mask


def token_log_probabilities(model, input_ids, attention_mask, sequences: torch.Tensor) -> torch.Tensor:
    """Log-probability of every generated token under the model (one teacher-forced pass; the raw distribution, not
    the sampling or trie-masked one). `sequences` start with the decoder start token; returns `(batch, len - 1)`."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=sequences[:, :-1]).logits
    targets = sequences[:, 1:]
    return logits.float().log_softmax(dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def generate_labels(
    model,
    tokenizer,
    codec: LabelCodec,
    texts: Sequence[str],
    strategy: str = "beam",
    constrained: bool = False,
    num_beams: int | None = None,
    max_source_length: int = 256,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    cluster_ids: list[list[int]] | None = None,
    seed: int | None = 0,
    show_progress: bool = False,
) -> GenerationResult:
    """Generate the labels of `texts` with one decoding strategy.

    Args:
        model (`T5ForClusterGuidedLabelGeneration`): a trained XLGen model.
        tokenizer: its tokenizer (with XLGen's special tokens).
        codec (`LabelCodec`): the label vocabulary in the tokenizer's ids.
        texts (`Sequence[str]`): the documents.
        strategy (`str`): a key of `DECODING_STRATEGIES`.
        constrained (`bool`): restrict generation to vocabulary labels (the label trie).
        num_beams (`int`, *optional*): beam width for `"beam"` (default 5).
        max_source_length (`int`): input tokens per text (task token and EOS included).
        max_new_tokens (`int`): generated tokens per text at most.
        batch_size (`int`): texts per `generate` call.
        cluster_ids (`list[list[int]]`, *optional*): clusters to append instead of the predicted ones.
        seed (`int`, *optional*): seeds the sampling strategies.
        show_progress (`bool`): a progress bar over batches.
    """
    if isinstance(texts, str):
        texts = [texts]
    arguments = strategy_arguments(strategy, num_beams)
    tokens = XLGenTokens.for_model(tokenizer, model.config)
    if codec.eos_token_id != tokens.eos_token_id:
        raise ValueError("the label codec was built with another tokenizer than the model's")
    model.eval()
    device = next(model.parameters()).device
    if seed is not None:
        torch.manual_seed(seed)
    processors = []
    if constrained:
        processors.append(LabelTrieLogitsProcessor.from_codec(codec))
    encoded = tokens.encode_texts(tokenizer, list(texts), max_source_length)
    conditioned = bool(model.config.condition_on_clusters)
    labels, clusters = [], [] if conditioned else None
    start_time = time.perf_counter()
    batches = range(0, len(encoded), batch_size)
    for start in tqdm(batches, desc=f"generating ({strategy})", disable=not show_progress):
        input_ids, attention_mask = _pad(encoded[start : start + batch_size], tokens.pad_token_id)
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        batch_clusters = None
        if conditioned:
            batch_clusters = (
                cluster_ids[start : start + batch_size]
                if cluster_ids is not None
                else model.predict_clusters(input_ids, attention_mask)
            )
            clusters.extend(batch_clusters)
        sequences = model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            cluster_ids=batch_clusters,
            max_new_tokens=max_new_tokens,
            logits_processor=processors or None,
            **arguments,
        )
        if conditioned:  # the input the labels were generated from: the text with its clusters
            input_ids, attention_mask = model.append_clusters(input_ids, attention_mask, batch_clusters)
        token_scores = token_log_probabilities(model, input_ids, attention_mask, sequences)
        generated = sequences[:, 1:].cpu().tolist()  # without the decoder start token
        for row_tokens, row_scores in zip(generated, token_scores.cpu().tolist()):
            labels.append(codec.parse(row_tokens, row_scores))
    return GenerationResult(labels, clusters, time.perf_counter() - start_time, [strategy])


def join_generations(results: Sequence[GenerationResult], join: str = "union") -> GenerationResult:
    """The decoding ensemble: per text, the union (or intersection) of the strategies' labels, each with its best
    score, in first-appearance order (strategy order, then generation order)."""
    if join not in ENSEMBLE_JOINS:
        raise ValueError(f"--ensemble_join must be one of {ENSEMBLE_JOINS}, got {join!r}")
    if not results:
        raise ValueError("the ensemble needs at least one generation")
    joined = []
    for rows in zip(*(result.labels for result in results)):
        merged: dict[object, RankedLabel] = {}
        seen_in: dict[object, int] = {}
        for row in rows:
            for label in row:
                key = label.label_id if label.label_id is not None else label.label
                if key in merged:
                    merged[key].score = max(merged[key].score, label.score)
                else:
                    merged[key] = RankedLabel(label.label, label.score, label.label_id, label.text, label.seen)
                seen_in[key] = seen_in.get(key, 0) + 1
        if join == "intersection":
            merged = {key: label for key, label in merged.items() if seen_in[key] == len(rows)}
        joined.append(list(merged.values()))
    return GenerationResult(
        joined,
        results[0].clusters,
        sum(result.seconds for result in results),
        [name for result in results for name in result.strategies],
    )


def ensemble_generate(
    model,
    tokenizer,
    codec: LabelCodec,
    texts: Sequence[str],
    strategies: Sequence[str] = ENSEMBLE_STRATEGIES,
    join: str = "union",
    **kwargs,
) -> GenerationResult:
    """The decoding ensemble of §4.3 / A.6: beam 5, top-k + top-p sampling and temperature 0.8 sampling, joined.

    Args:
        strategies (`Sequence[str]`): the members (keys of `DECODING_STRATEGIES`).
        join (`str`): `"union"` (the paper's "outer" join, more recall) or `"intersection"` ("inner").
        kwargs: passed to `generate_labels` (`constrained`, `max_new_tokens`, `batch_size`, ...).
    """
    if join not in ENSEMBLE_JOINS:
        raise ValueError(f"--ensemble_join must be one of {ENSEMBLE_JOINS}, got {join!r}")
    results = []
    cluster_ids = kwargs.pop("cluster_ids", None)
    for strategy in strategies:
        result = generate_labels(model, tokenizer, codec, texts, strategy=strategy, cluster_ids=cluster_ids, **kwargs)
        cluster_ids = result.clusters if cluster_ids is None else cluster_ids  # predict the clusters once
        results.append(result)
    return join_generations(results, join)


__all__ = [
    "DECODING_STRATEGIES",
    "ENSEMBLE_JOINS",
    "ENSEMBLE_STRATEGIES",
    "GenerationResult",
    "ensemble_generate",
    "generate_labels",
    "join_generations",
    "strategy_arguments",
    "token_log_probabilities",
]
