"""A small T5 that is not random: train a tokenizer on a data set, pre-train with span corruption in a time budget.

No T5 checkpoint can be downloaded here, so XLGen (and XDA) start from this step's output, an ordinary
`T5ForConditionalGeneration` folder (`config.json`, weights, tokenizer, `pretraining.json` with what was measured).
With `--model_name_or_path t5-base` (and its tokenizer) the same code continues pre-training a real checkpoint.

    hf-xmc pretrain-t5 --dataset_name_or_path debtags --output_dir outputs/t5-small-debtags --minutes 30
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration, Trainer, TrainingArguments, set_seed

from ..data import load_xmc_dataset
from ..training.budget import TimeBudgetCallback, budget_upper_bound_steps
from .arguments import T5PretrainingArguments
from .span_corruption import SpanCorruptionCollator, input_and_target_lengths
from .tokenizer import train_t5_tokenizer, whole_label_share

PRETRAINING_FILE = "pretraining.json"


def _chunks(token_lists: list[list[int]], eos_token_id: int, tokens_length: int) -> list[list[int]]:
    """The documents joined (EOS between them) and cut into chunks of `tokens_length` tokens (the rest dropped)."""
    stream = np.fromiter((token for tokens in token_lists for token in (*tokens, eos_token_id)), dtype=np.int64)
    usable = len(stream) // tokens_length * tokens_length
    return stream[:usable].reshape(-1, tokens_length).tolist()


def _eval_loss(model, collator, chunks: list[list[int]], batch_size: int) -> float:
    """Mean span-corruption loss on held-out chunks, with the same masks every time (a fixed seed)."""
    collator = dataclasses.replace(collator, seed=12345)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(chunks), batch_size):
            batch = collator([{"input_ids": chunk} for chunk in chunks[start : start + batch_size]])
            batch = {key: value.to(model.device) for key, value in batch.items()}
            tokens = int((batch["labels"] != -100).sum())
            total += float(model(**batch).loss) * tokens
            count += tokens
    model.train()
    return total / max(count, 1)


def build_small_t5(args: T5PretrainingArguments, tokenizer) -> T5ForConditionalGeneration:
    if args.d_model % args.num_heads:
        raise ValueError(f"--d_model ({args.d_model}) must be a multiple of --num_heads ({args.num_heads})")
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=args.d_model,
        d_ff=args.d_ff,
        d_kv=args.d_model // args.num_heads,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return T5ForConditionalGeneration(config)


def pretrain_t5(args: T5PretrainingArguments) -> dict:
    """Train the tokenizer (unless one is given), pre-train T5 with span corruption within `args.minutes`, save.

    Returns:
        `dict`: what `pretraining.json` holds (settings, `eval_loss_before`, `eval_loss_after`, `steps`,
        `train_seconds`, `tokenizer_seconds`, `whole_label_share`, the training-loss log).
    """
    if args.minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {args.minutes}")
    if args.threads:
        torch.set_num_threads(args.threads)
    set_seed(args.seed)
    xmc = load_xmc_dataset(args.dataset_name_or_path)
    if args.split not in xmc.splits:
        raise ValueError(f"--split {args.split!r} is not in {args.dataset_name_or_path}: it has {sorted(xmc.splits)}")
    split = xmc.splits[args.split]
    if "text" not in split.column_names:
        raise ValueError(f"{args.dataset_name_or_path} has no raw texts: span corruption needs a text column")
    texts = split["text"][: args.max_texts] if args.max_texts else split["text"]
    labels = xmc.vocabulary.labels

    start = time.perf_counter()
    if args.tokenizer_name_or_path:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_name_or_path)
    else:
        print(f"training a Unigram tokenizer on {len(texts):,} texts and {len(labels):,} labels", flush=True)
        tokenizer = train_t5_tokenizer(
            texts, labels, args.vocab_size, args.label_separator, args.max_whole_labels, show_progress=True
        )
    tokenizer_seconds = time.perf_counter() - start
    sentinel_ids = tokenizer.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(100)])
    if tokenizer.unk_token_id in sentinel_ids:
        raise ValueError("the tokenizer has no <extra_id_i> sentinel tokens, which span corruption needs")

    tokens_length, _ = input_and_target_lengths(args.inputs_length, args.noise_density, args.mean_noise_span_length)
    token_lists = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    chunks = _chunks(token_lists, tokenizer.eos_token_id, tokens_length)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(chunks))
    num_eval = min(args.eval_chunks, len(chunks) // 10)
    eval_chunks = [chunks[i] for i in order[:num_eval]]
    train_chunks = [chunks[i] for i in order[num_eval:]]
    if not train_chunks:
        raise ValueError(
            f"the texts give no chunk of {tokens_length} tokens: use more texts or a smaller --inputs_length"
        )

    if args.model_name_or_path:
        model = T5ForConditionalGeneration.from_pretrained(args.model_name_or_path)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))
    else:
        model = build_small_t5(args, tokenizer)
    num_parameters = sum(p.numel() for p in model.parameters())
    collator = SpanCorruptionCollator(
        sentinel_ids,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
        args.noise_density,
        args.mean_noise_span_length,
        args.seed,
    )
    eval_loss_before = _eval_loss(model, collator, eval_chunks, args.batch_size) if eval_chunks else float("nan")
    print(
        f"T5 with {num_parameters / 1e6:.1f}M parameters, {len(train_chunks):,} chunks of {tokens_length} tokens; "
        f"held-out loss before: {eval_loss_before:.3f}; budget {args.minutes:g} min",
        flush=True,
    )
    budget = TimeBudgetCallback(args.minutes * 60)
    output_dir = Path(args.output_dir)
    training_args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=0.0,
        warmup_steps=args.warmup,
        lr_scheduler_type="linear",
        max_steps=budget_upper_bound_steps(args.minutes * 60),
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        seed=args.seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=Dataset.from_dict({"input_ids": train_chunks}),
        data_collator=collator,
        callbacks=[budget],
    )
    trainer.train()
    eval_loss_after = _eval_loss(model, collator, eval_chunks, args.batch_size) if eval_chunks else float("nan")
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    report = {
        "settings": dataclasses.asdict(args),
        "num_parameters": num_parameters,
        "num_texts": len(texts),
        "tokens_length": tokens_length,
        "train_chunks": len(train_chunks),
        "eval_chunks": len(eval_chunks),
        "vocab_size": len(tokenizer),
        "whole_label_share": whole_label_share(tokenizer, labels),
        "tokenizer_seconds": tokenizer_seconds,
        "eval_loss_before": eval_loss_before,
        "eval_loss_after": eval_loss_after,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.global_step * args.batch_size / len(train_chunks),
        "budget": budget.report(),
        "train_loss_log": [[entry["step"], entry["loss"]] for entry in trainer.state.log_history if "loss" in entry],
        "first_train_loss": losses[0] if losses else None,
        "last_train_loss": losses[-1] if losses else None,
    }
    with open(output_dir / PRETRAINING_FILE, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, default=str)
    print(
        f"saved {output_dir}: {report['steps']} steps ({report['epochs']:.2f} epochs), held-out span-corruption loss "
        f"{eval_loss_before:.3f} -> {eval_loss_after:.3f}",
        flush=True,
    )
    return report


__all__ = ["PRETRAINING_FILE", "T5PretrainingArguments", "build_small_t5", "pretrain_t5"]
