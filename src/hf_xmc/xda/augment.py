"""Label-conditional augmentation (XDA §2.1): N_a new documents per source, each with its own mask, filled by the
prefix-tuned T5 with the reference code's iterative re-masking.

Each augmented copy masks about `noise_density` of its words; its spans are filled in a random order, at most
`spans_per_round` at a time (numbered `<extra_id_0..>` in text order), while the other spans show their original or
already generated words, so every round sees the context the earlier rounds produced. Greedy decoding by default (the
reference), nucleus sampling as an option.

What is not augmented is counted, never dropped silently: sources with fewer than two words (`too_short`), sources
without labels (`no_labels`: nothing to condition on, and nothing for the classifier to learn), and sources left when
`minutes` ran out (`unfinished`). A span the model fills with nothing keeps its original words (`empty_fills` per
document); a copy whose every fill equals the original is kept, with `changed=False`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .masking import DocumentTooShortError, MaskedDocument, mask_document, sentinel_ids, split_fills
from .prompt_tuning import SpanFormat, decode, encode_pairs, to_device


def _fill_batch(model, tokenizer, documents: list[MaskedDocument], orders: list[list[int]], *, spans_per_round: int,
                max_source_length: int, max_new_tokens: int, sampling: bool, temperature: float, top_p: float,
                generator: torch.Generator | None, sentinels: list[int], max_span_tokens: int,
                repetition_penalty: float) -> int:  # fmt: skip
    """Fill every span of `documents` round by round; returns the rounds run."""
    rounds = 0
    while True:
        work = []
        for document, order in zip(documents, orders):
            pending = set(document.pending())
            chosen = [span for span in order if span in pending][:spans_per_round]
            if chosen:
                work.append((document, chosen))
        if not work:
            return rounds
        batch = encode_pairs(tokenizer, [document.source(chosen) for document, chosen in work], None,
                             max_source_length, 1)  # fmt: skip
        batch = to_device(batch, model)
        span_format = None
        if max_span_tokens:
            span_format = SpanFormat(torch.tensor([len(chosen) for _, chosen in work]), sentinels,
                                     tokenizer.eos_token_id, tokenizer.pad_token_id, max_span_tokens)  # fmt: skip
        sequences = decode(model, batch["input_ids"], batch["attention_mask"], max_new_tokens, sampling, temperature,
                           top_p, generator, span_format, repetition_penalty)  # fmt: skip
        for (document, chosen), generated in zip(work, sequences.tolist()):
            document.apply(chosen, split_fills(generated, len(chosen), sentinels, tokenizer))
        rounds += 1


def augment_documents(
    model,
    tokenizer,
    source_ids: Sequence[int],
    texts: Sequence[str],
    label_ids: Sequence[Sequence[int]],
    label_strings: Sequence[str],
    *,
    num_augmentations: int,
    max_words: int,
    noise_density: float,
    mean_span_length: float,
    spans_per_round: int = 10,
    sampling: bool = False,
    temperature: float = 1.0,
    top_p: float = 0.9,
    max_new_tokens: int = 96,
    max_span_tokens: int = 8,
    repetition_penalty: float = 2.5,
    max_source_length: int = 256,
    batch_size: int = 32,
    minutes: float | None = None,
    seed: int = 0,
    progress: bool = True,
) -> tuple[dict[str, list], dict]:
    """`num_augmentations` augmented documents per source.

    Args:
        model (`PeftModel` or `T5ForConditionalGeneration`): the prefix-tuned T5 (or a plain one: 'w/o Prompt').
        tokenizer: the T5 tokenizer (with `<extra_id_*>` sentinels).
        source_ids (`Sequence[int]`): each source's row in the training split (the provenance `source_id`).
        texts, label_ids: the sources' texts and label ids; `label_strings` maps ids to the condition's strings.

    Returns:
        `(columns, report)`: columns `id` (`"<source_id>-<copy>"`), `source_id`, `copy`, `text`, `labels` (ids),
        `num_spans`, `empty_fills`, `changed`, document-major (every copy of a source, then the next source);
        report: counts of generated copies and of sources not augmented, with why, and the seconds taken.
    """
    if num_augmentations < 1:
        raise ValueError(f"--num_augmentations (N_a) must be >= 1, got {num_augmentations}")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed) if sampling else None
    sentinels = sentinel_ids(tokenizer)
    model.eval()
    jobs, too_short, no_labels = [], [], []
    for source_id, text, ids in zip(source_ids, texts, label_ids):
        if not len(ids):
            no_labels.append(int(source_id))
            continue
        try:
            copies = [
                mask_document(text, [label_strings[i] for i in ids], max_words, noise_density, mean_span_length, rng)
                for _ in range(num_augmentations)
            ]
        except DocumentTooShortError:
            too_short.append(int(source_id))
            continue
        jobs.append((int(source_id), list(ids), copies))
    columns: dict[str, list] = {
        key: [] for key in ("id", "source_id", "copy", "text", "labels", "num_spans", "empty_fills", "changed")
    }
    started = time.monotonic()
    deadline = started + minutes * 60 if minutes else math.inf
    sources_per_batch = max(1, batch_size // num_augmentations)
    bar = tqdm(total=len(jobs), desc="generate", unit="doc", disable=not progress)
    done, rounds = 0, 0
    for start in range(0, len(jobs), sources_per_batch):
        if time.monotonic() >= deadline:
            break
        chunk = jobs[start : start + sources_per_batch]
        documents = [copy for _, _, copies in chunk for copy in copies]
        orders = [rng.permutation(len(document.spans)).tolist() for document in documents]
        rounds += _fill_batch(model, tokenizer, documents, orders, spans_per_round=spans_per_round,
                              max_source_length=max_source_length, max_new_tokens=max_new_tokens, sampling=sampling,
                              temperature=temperature, top_p=top_p, generator=generator, sentinels=sentinels,
                              max_span_tokens=max_span_tokens, repetition_penalty=repetition_penalty)  # fmt: skip
        for source_id, ids, copies in chunk:
            original = " ".join(copies[0].words)
            for copy_index, document in enumerate(copies):
                text = document.text()
                columns["id"].append(f"{source_id}-{copy_index}")
                columns["source_id"].append(source_id)
                columns["copy"].append(copy_index)
                columns["text"].append(text)
                columns["labels"].append(ids)
                columns["num_spans"].append(len(document.spans))
                columns["empty_fills"].append(document.empty_fills)
                columns["changed"].append(text != original)
        done += len(chunk)
        bar.update(len(chunk))
    bar.close()
    report = {
        "sources": len(source_ids),
        "augmented_sources": done,
        "generated": len(columns["id"]),
        "num_augmentations": num_augmentations,
        "too_short": len(too_short),
        "no_labels": len(no_labels),
        "unfinished": len(jobs) - done,
        "unchanged": int(sum(not changed for changed in columns["changed"])),
        "empty_fills": int(sum(columns["empty_fills"])),
        "spans": int(sum(columns["num_spans"])),
        "rounds": rounds,
        "seconds": time.monotonic() - started,
        "too_short_source_ids": too_short[:100],
        "no_labels_source_ids": no_labels[:100],
    }
    return columns, report


__all__ = ["augment_documents"]
