"""Prompt-based learning (XDA §2.1, eq. 1): a PEFT prefix-tuning adapter on a frozen T5, trained to fill the masked
spans of label-conditioned documents, and a decoder that keeps the prefix while generating.

The adapter is an ordinary PEFT adapter (`peft.PrefixTuningConfig`, `task_type="SEQ_2_SEQ_LM"`): `save_pretrained`
writes `adapter_config.json` + `adapter_model.safetensors`, `PeftModel.from_pretrained(t5, folder_or_repo)` loads it
and `push_to_hub` pushes it. Only the prefix trains; every T5 weight stays as it was. Where the prefix sits: PEFT's
prefix tuning of an encoder-decoder gives every *decoder* layer `num_virtual_tokens` trainable keys/values in its
self-attention (the cross-attention cache is left to the encoder); the reference code instead prepends/replaces
the first hidden states of every *encoder* layer (eq. 1). Both condition every layer of one stack on a soft prompt.

PEFT hands the prefix to T5 as `past_key_values`; `generate()` of the installed versions may start from its own empty
cache and silently drop it, so `decode` with its own loop: the encoder runs once, the decoder's cache
starts from the adapter's prefix (`PeftModel.get_prompt`), and each step feeds the last token. It gives exactly the
logits of a teacher-forced `PeftModel` forward over the decoded sequence (tested).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
from peft import PeftModel, PrefixTuningConfig, TaskType, get_peft_model
from tqdm.auto import tqdm
from transformers import T5ForConditionalGeneration
from transformers.optimization import Adafactor

from .masking import MaskedDocument, mask_document


def add_prefix_adapter(t5: T5ForConditionalGeneration, num_virtual_tokens: int = 5) -> PeftModel:
    """Wrap `t5` with a trainable prefix-tuning adapter; every T5 parameter is frozen."""
    config = PrefixTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=num_virtual_tokens)
    model = get_peft_model(t5, config)
    frozen = [name for name, parameter in model.named_parameters() if parameter.requires_grad and "prompt" not in name]
    if frozen:
        raise RuntimeError(f"PEFT left base parameters trainable: {frozen[:3]}")
    return model


def load_prefix_model(adapter_name_or_path: str, t5_name_or_path: str | None = None, **hub_kwargs) -> PeftModel:
    """The T5 of the adapter's `base_model_name_or_path` (or `t5_name_or_path`) with the saved prefix, in eval mode."""
    from peft import PeftConfig

    config = PeftConfig.from_pretrained(adapter_name_or_path, **hub_kwargs)
    t5 = T5ForConditionalGeneration.from_pretrained(t5_name_or_path or config.base_model_name_or_path)
    return PeftModel.from_pretrained(t5, adapter_name_or_path, **hub_kwargs).eval()


def encode_pairs(tokenizer, sources: Sequence[str], targets: Sequence[str] | None, max_source_length: int,
                 max_target_length: int) -> dict[str, torch.Tensor]:  # fmt: skip
    """Tokenised sources (and targets as `labels`, padding -100), the way T5 trains."""
    batch = tokenizer(list(sources), max_length=max_source_length, truncation=True, padding=True, return_tensors="pt")
    if targets is not None:
        labels = tokenizer(
            list(targets), max_length=max_target_length, truncation=True, padding=True, return_tensors="pt"
        ).input_ids
        batch["labels"] = labels.masked_fill(labels == tokenizer.pad_token_id, -100)
    return dict(batch)


def to_device(batch: dict[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    """The batch on the model's device."""
    device = next(model.parameters()).device
    return {key: value.to(device) for key, value in batch.items()}


def masked_pairs(documents: Sequence[MaskedDocument]) -> tuple[list[str], list[str]]:
    """(source, target) of each document with every span masked."""
    sources = [document.source(range(len(document.spans))) for document in documents]
    targets = [document.target(range(len(document.spans))) for document in documents]
    return sources, targets


def mask_examples(texts, label_lists, max_words, noise_density, mean_span_length, rng) -> list[MaskedDocument]:
    """Fresh masks for documents (each call draws new ones); the caller skips documents that are too short."""
    return [
        mask_document(text, labels, max_words, noise_density, mean_span_length, rng)
        for text, labels in zip(texts, label_lists)
    ]


@torch.no_grad()
def fill_loss(model, tokenizer, documents: Sequence[MaskedDocument], batch_size: int, max_source_length: int,
              max_target_length: int) -> float:  # fmt: skip
    """Mean token cross-entropy of the span targets (fixed masks: compare before and after training)."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(documents), batch_size):
        sources, targets = masked_pairs(documents[start : start + batch_size])
        batch = to_device(encode_pairs(tokenizer, sources, targets, max_source_length, max_target_length), model)
        tokens = int((batch["labels"] != -100).sum())
        total += float(model(**batch).loss) * tokens
        count += tokens
    return total / max(count, 1)


def train_prefix(
    model: PeftModel,
    tokenizer,
    texts: Sequence[str],
    label_lists: Sequence[Sequence[str]],
    *,
    max_words: int,
    noise_density: float,
    mean_span_length: float,
    minutes: float,
    epochs: float,
    batch_size: int,
    learning_rate: float,
    max_source_length: int,
    max_target_length: int,
    eval_documents: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train the prefix to fill label-conditioned masks (new masks every epoch), within `minutes`.

    Adafactor with a constant learning rate, as the reference code (lr 0.3, no relative step). Documents must be
    at least two words long (the caller filters and counts the others).

    Returns:
        `dict`: `steps`, `epochs`, `train_seconds`, `eval_loss_before`, `eval_loss_after`, `train_loss_log`.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    num_eval = min(eval_documents, len(texts) // 5)
    eval_set = mask_examples([texts[i] for i in order[:num_eval]], [label_lists[i] for i in order[:num_eval]],
                             max_words, noise_density, mean_span_length, np.random.default_rng(seed + 1))  # fmt: skip
    train_index = order[num_eval:]
    if not len(train_index):
        raise ValueError("prefix tuning needs at least one training document")
    loss_args = (batch_size, max_source_length, max_target_length)
    before = fill_loss(model, tokenizer, eval_set, *loss_args) if eval_set else float("nan")
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = Adafactor(parameters, lr=learning_rate, scale_parameter=False, relative_step=False,
                          warmup_init=False, weight_decay=1e-5)  # fmt: skip
    steps_per_epoch = math.ceil(len(train_index) / batch_size)
    max_steps = max(1, int(epochs * steps_per_epoch))
    deadline = time.monotonic() + minutes * 60
    started = time.monotonic()
    log, step = [], 0
    model.train()
    bar = tqdm(total=max_steps, desc="prompt-tune", disable=not progress)
    while step < max_steps and time.monotonic() < deadline:
        epoch_order = rng.permutation(train_index)
        for start in range(0, len(epoch_order), batch_size):
            rows = epoch_order[start : start + batch_size]
            documents = mask_examples([texts[i] for i in rows], [label_lists[i] for i in rows], max_words,
                                      noise_density, mean_span_length, rng)  # fmt: skip
            batch = to_device(encode_pairs(tokenizer, *masked_pairs(documents), max_source_length, max_target_length),
                              model)  # fmt: skip
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            log.append([step, loss.item()])
            bar.update(1)
            bar.set_postfix(loss=f"{log[-1][1]:.3f}")
            if step >= max_steps or time.monotonic() >= deadline:
                break
    bar.close()
    train_seconds = time.monotonic() - started
    after = fill_loss(model, tokenizer, eval_set, *loss_args) if eval_set else float("nan")
    model.eval()
    return {
        "steps": step,
        "epochs": step / steps_per_epoch,
        "train_seconds": train_seconds,
        "train_documents": len(train_index),
        "eval_documents": num_eval,
        "eval_loss_before": before,
        "eval_loss_after": after,
        "train_loss_log": log[:: max(1, len(log) // 200)],
        "trainable_parameters": sum(parameter.numel() for parameter in parameters),
    }


def _t5_and_prefix(model, batch_size: int):
    """The bare T5 and the decoder cache to start from (the adapter's prefix, or none for a plain T5)."""
    if isinstance(model, PeftModel):
        if model.active_peft_config.is_prompt_learning:
            return model.get_base_model(), model.get_prompt(batch_size)
        return model, None
    return model, None


def _next_tokens(logits: torch.Tensor, sampling: bool, temperature: float, top_p: float,
                 generator: torch.Generator | None) -> torch.Tensor:  # fmt: skip
    if not sampling:
        return logits.argmax(-1)
    probabilities = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probabilities, order = probabilities.sort(dim=-1, descending=True)
    outside = sorted_probabilities.cumsum(-1) - sorted_probabilities > top_p  # keep the smallest set reaching top_p
    sorted_probabilities = sorted_probabilities.masked_fill(outside, 0.0)
    choice = torch.multinomial(sorted_probabilities, 1, generator=generator)
    return order.gather(-1, choice)[:, 0]


class SpanFormat:
    """Keeps decoding in T5's span format: `<extra_id_0> words <extra_id_1> words ... </s>`, every span non-empty.

    At each step a row may only emit: its next sentinel (first, and after at least one word of the current span), a
    word (not right after the start), or EOS once every span has a word. A span reaching `max_span_tokens` tokens
    moves on. A weakly trained T5 otherwise tends to emit sentinels only, which would leave every span empty.

    Args:
        num_spans (`torch.Tensor` of shape `(batch,)`): sentinels in each row's source.
        sentinels (`Sequence[int]`): ids of `<extra_id_0..99>`.
        eos_token_id, pad_token_id (`int`)
        max_span_tokens (`int`): most tokens generated for one span.
    """

    def __init__(self, num_spans: torch.Tensor, sentinels: Sequence[int], eos_token_id: int, pad_token_id: int,
                 max_span_tokens: int = 16):  # fmt: skip
        self.num_spans = num_spans.long()
        self.sentinels = torch.as_tensor(list(sentinels), dtype=torch.long)
        self.eos, self.pad = eos_token_id, pad_token_id
        self.max_span_tokens = max_span_tokens
        self.opened = torch.zeros_like(self.num_spans)  # sentinels emitted so far
        self.in_span = torch.zeros_like(self.num_spans)  # tokens of the current span

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        """`logits` with the tokens the format forbids at this step set to -inf."""
        if self.sentinels.device != logits.device:
            self.sentinels, self.num_spans = self.sentinels.to(logits.device), self.num_spans.to(logits.device)
            self.opened, self.in_span = self.opened.to(logits.device), self.in_span.to(logits.device)
        blocked = torch.zeros_like(logits, dtype=torch.bool)
        blocked[:, self.sentinels] = True
        blocked[:, self.pad] = True
        rows = torch.arange(logits.shape[0], device=logits.device)
        next_sentinel = self.sentinels[self.opened.clamp(max=len(self.sentinels) - 1)]
        may_open = (self.opened < self.num_spans) & ((self.opened == 0) | (self.in_span > 0))
        must_open = may_open & ((self.opened == 0) | (self.in_span >= self.max_span_tokens))
        all_open = (self.opened >= self.num_spans) & (self.in_span > 0)
        must_end = all_open & (self.in_span >= self.max_span_tokens)
        blocked[rows[may_open], next_sentinel[may_open]] = False
        blocked[:, self.eos] = ~all_open
        forced = must_open | must_end
        blocked[forced] = True
        blocked[rows[must_open], next_sentinel[must_open]] = False
        blocked[rows[must_end], self.eos] = False
        return logits.masked_fill(blocked, float("-inf"))

    def update(self, tokens: torch.Tensor) -> None:
        is_sentinel = torch.isin(tokens, self.sentinels)
        self.opened = self.opened + is_sentinel.long()
        self.in_span = torch.where(is_sentinel, torch.zeros_like(self.in_span), self.in_span + 1)


@torch.no_grad()
def decode(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    sampling: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    span_format: SpanFormat | None = None,
    repetition_penalty: float = 1.0,
) -> torch.Tensor:
    """Greedy or nucleus-sampled decoding that keeps a PEFT prefix (or none, for a plain T5).

    Args:
        model (`PeftModel` or `T5ForConditionalGeneration`)
        input_ids, attention_mask (`torch.Tensor` of shape `(batch, source_length)`)
        max_new_tokens (`int`): decoding stops there or when every row produced EOS.
        span_format (`SpanFormat`, *optional*): restrict each step to what T5's span format allows.
        repetition_penalty (`float`): CTRL's penalty on tokens already generated in the row (the reference: 2.5; 1:
            none): a positive logit is divided by it, a negative one multiplied.

    Returns:
        `torch.LongTensor` of shape `(batch, 1 + generated)`: the decoder start token, then the generated tokens
        (EOS, then padding, once a row is done).
    """
    batch_size = input_ids.shape[0]
    t5, cache = _t5_and_prefix(model, batch_size)
    config = t5.config
    encoder_outputs = t5.get_encoder()(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
    sequences = torch.full((batch_size, 1), config.decoder_start_token_id, dtype=torch.long, device=input_ids.device)
    done = torch.zeros(batch_size, dtype=torch.bool, device=input_ids.device)
    seen = None
    for _ in range(max_new_tokens):
        output = t5(
            encoder_outputs=encoder_outputs,
            attention_mask=attention_mask,
            decoder_input_ids=sequences[:, -1:],
            cache=cache,
            use_cache=True,
            return_dict=True,
        )
        cache = output.cache
        logits = output.logits[:, -1]
        if repetition_penalty != 1.0:
            if seen is None:
                seen = torch.zeros_like(logits, dtype=torch.bool)
            penalised = torch.where(logits > 0, logits / repetition_penalty, logits * repetition_penalty)
            logits = torch.where(seen, penalised, logits)
        if span_format is not None:
            logits = span_format.mask(logits)
        tokens = _next_tokens(logits, sampling, temperature, top_p, generator)
        tokens = tokens.masked_fill(done, config.pad_token_id)
        if span_format is not None:
            span_format.update(tokens)
        if seen is not None:
            seen[torch.arange(batch_size, device=tokens.device), tokens] = True
        sequences = torch.cat([sequences, tokens[:, None]], dim=1)
        done |= tokens == config.eos_token_id
        if bool(done.all()):
            break
    return sequences


__all__ = [
    "SpanFormat",
    "add_prefix_adapter",
    "decode",
    "encode_pairs",
    "fill_loss",
    "load_prefix_model",
    "mask_examples",
    "to_device",
    "masked_pairs",
    "train_prefix",
]
