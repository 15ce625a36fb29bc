"""The XDA pipeline: prompt-tune | generate | filter | train, each stage saving its output in one folder and the
pipeline resumable from the last finished stage.

    output_dir/
      prompt/       the PEFT prefix adapter (adapter_config.json, adapter_model.safetensors) + prompt_tuning.json
      generated/    the augmented documents, a `datasets` data set (save_to_disk) + generate.json
      filtered/     the same rows with diversity, consistency, score, kept + filter.json
      classifier/   the final classifier, an ordinary hf-xmc checkpoint (`load_xmc_model`) + train.json
      pipeline_state.json   which stages finished, with their reports

Provenance columns of the augmented data set: `id` ("<source_id>-<copy>"), `source_id` (the row of the source in
the data set's training split), `copy`, `stage` ("generate" or "filter"), `labels` (the source's label ids),
`num_spans`, `empty_fills`, `changed`, and after filtering `diversity`, `consistency`, `score`, `kept`.

A stage whose report file exists is finished: it is skipped (and its report returned) unless `overwrite`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from ..data import XMCInputError, load_xmc_dataset
from .arguments import (
    STAGES,
    FilterArguments,
    GenerateArguments,
    MDATrainArguments,
    PromptTuneArguments,
    XDACommonArguments,
)

STAGE_FOLDERS = {"prompt-tune": "prompt", "generate": "generated", "filter": "filtered", "train": "classifier"}
STAGE_REPORTS = {"prompt-tune": "prompt_tuning.json", "generate": "generate.json", "filter": "filter.json",
                 "train": "train.json"}  # fmt: skip
STATE_FILE = "pipeline_state.json"


def stage_folder(common: XDACommonArguments, stage: str) -> Path:
    return Path(common.output_dir) / STAGE_FOLDERS[stage]


def stage_report(common: XDACommonArguments, stage: str) -> dict | None:
    """The saved report of a finished stage, or `None`."""
    path = stage_folder(common, stage) / STAGE_REPORTS[stage]
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _finish(common: XDACommonArguments, stage: str, report: dict, settings: list) -> dict:
    report = {**report, "settings": {k: v for args in settings for k, v in dataclasses.asdict(args).items()}}
    folder = stage_folder(common, stage)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STAGE_REPORTS[stage]).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    state_path = Path(common.output_dir) / STATE_FILE
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {"finished": {}}
    state["finished"][stage] = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "folder": str(folder)}
    for later in STAGES[STAGES.index(stage) + 1 :]:  # a re-run stage makes the later stages' outputs stale
        stale = stage_folder(common, later) / STAGE_REPORTS[later]
        if stale.is_file():
            stale.unlink()
            state["finished"].pop(later, None)
            print(f"[xda] {later}'s output is stale now (made from the old {stage}): it will re-run", flush=True)
    state_path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    print(f"[xda] {stage} finished: {folder}", flush=True)
    return report


def _skip(common: XDACommonArguments, stage: str) -> dict | None:
    report = None if common.overwrite else stage_report(common, stage)
    if report is not None:
        print(f"[xda] {stage} already finished ({stage_folder(common, stage)}); --overwrite re-runs it", flush=True)
    return report


def _setup(common: XDACommonArguments) -> str:
    """Threads and seed; returns the device models run on (a GPU when there is one)."""
    import torch

    if common.threads:
        torch.set_num_threads(common.threads)
    torch.manual_seed(common.seed)
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_sources(common: XDACommonArguments):
    """`(xmc, rows)`: the data set and the training rows used (a seeded subset with `max_train_samples`)."""
    xmc = load_xmc_dataset(common.dataset_name_or_path)
    train = xmc.splits["train"]
    if "text" not in train.column_names:
        raise XMCInputError(f"{common.dataset_name_or_path} has no raw texts: XDA rewrites texts")
    rows = np.arange(len(train))
    if common.max_train_samples and common.max_train_samples < len(train):
        rows = np.sort(np.random.default_rng(common.seed).choice(len(train), common.max_train_samples, replace=False))
    return xmc, rows


def _cut(text: str, max_words: int) -> str:
    return " ".join(text.split()[:max_words])


# --------------------------------------------------------------------------------------------------- the stages
def run_prompt_tuning(common: XDACommonArguments, args: PromptTuneArguments) -> dict:
    """Train the prefix adapter on the training documents and save it under `prompt/`."""
    if (report := _skip(common, "prompt-tune")) is not None:
        return report
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from .masking import sentinel_ids
    from .prompt_tuning import add_prefix_adapter, train_prefix

    device = _setup(common)
    xmc, rows = load_sources(common)
    train = xmc.splits["train"].select(rows)
    tokenizer = AutoTokenizer.from_pretrained(common.t5_name_or_path)
    sentinel_ids(tokenizer)
    texts, label_lists, skipped = [], [], 0
    for text, ids in zip(train["text"], train["labels"]):
        if len(text.split()) < 2 or not len(ids):
            skipped += 1
            continue
        texts.append(text)
        label_lists.append(xmc.vocabulary.decode(ids))
    print(f"[xda] prompt-tune: {len(texts):,} documents ({skipped} too short or without labels, left out)")
    model = add_prefix_adapter(T5ForConditionalGeneration.from_pretrained(common.t5_name_or_path),
                               args.num_virtual_tokens).to(device)  # fmt: skip
    report = train_prefix(
        model, tokenizer, texts, label_lists, max_words=common.max_words, noise_density=common.noise_density,
        mean_span_length=common.mean_span_length, minutes=args.prompt_minutes, epochs=args.prompt_epochs,
        batch_size=args.prompt_batch_size, learning_rate=args.prompt_learning_rate,
        max_source_length=common.max_source_length, max_target_length=args.max_target_length,
        eval_documents=args.eval_documents, seed=common.seed, progress=common.progress,
    )  # fmt: skip
    folder = stage_folder(common, "prompt-tune")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    print(f"[xda] held-out fill loss {report['eval_loss_before']:.3f} -> {report['eval_loss_after']:.3f} "
          f"({report['steps']} steps, {report['train_seconds']:.0f} s)")  # fmt: skip
    return _finish(common, "prompt-tune", {**report, "skipped_documents": skipped}, [common, args])


def run_generation(common: XDACommonArguments, args: GenerateArguments) -> dict:
    """N_a augmented documents per training document, saved as a data set under `generated/`."""
    if (report := _skip(common, "generate")) is not None:
        return report
    from datasets import Dataset
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    from .augment import augment_documents
    from .prompt_tuning import load_prefix_model

    device = _setup(common)
    if args.no_prompt:
        model = T5ForConditionalGeneration.from_pretrained(common.t5_name_or_path).eval()
    else:
        prompt = stage_folder(common, "prompt-tune")
        if stage_report(common, "prompt-tune") is None:
            raise FileNotFoundError(f"no prefix adapter in {prompt}: run `hf-xmc augment prompt-tune` first "
                                    "(or generate with --no_prompt)")  # fmt: skip
        model = load_prefix_model(str(prompt), common.t5_name_or_path)
    model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(common.t5_name_or_path)
    xmc, rows = load_sources(common)
    train = xmc.splits["train"].select(rows)
    columns, report = augment_documents(
        model, tokenizer, rows.tolist(), train["text"], train["labels"], xmc.vocabulary.labels,
        num_augmentations=args.num_augmentations, max_words=common.max_words, noise_density=common.noise_density,
        mean_span_length=common.mean_span_length, spans_per_round=args.spans_per_round, sampling=args.sampling,
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
        max_span_tokens=args.max_span_tokens, repetition_penalty=args.repetition_penalty,
        max_source_length=common.max_source_length, batch_size=args.generate_batch_size,
        minutes=args.generate_minutes, seed=common.seed, progress=common.progress,
    )  # fmt: skip
    columns["stage"] = ["generate"] * len(columns["id"])
    folder = stage_folder(common, "generate")
    Dataset.from_dict(columns).save_to_disk(str(folder / "data"))
    print(
        f"[xda] generated {report['generated']:,} documents from {report['augmented_sources']:,} sources; not "
        f"augmented: {report['too_short']} too short, {report['no_labels']} without labels, "
        f"{report['unfinished']} left by --generate_minutes; {report['empty_fills']} empty fills kept the original"
    )
    return _finish(common, "generate", {**report, "prompt": not args.no_prompt}, [common, args])


def load_augmented(common: XDACommonArguments, stage: str):
    """The augmented data set saved by `stage` ("generate" or "filter")."""
    from datasets import load_from_disk

    path = stage_folder(common, stage) / "data"
    if stage_report(common, stage) is None or not path.is_dir():
        raise FileNotFoundError(f"no augmented data in {path}: run `hf-xmc augment {stage}` first")
    return load_from_disk(str(path))


def run_filter(common: XDACommonArguments, args: FilterArguments) -> dict:
    """Score every generated document with the classifier and mark the kept ones, under `filtered/`."""
    if (report := _skip(common, "filter")) is not None:
        return report
    from .filtering import LabelScorer, score_augmented

    device = _setup(common)
    generated = load_augmented(common, "generate")
    xmc, _ = load_sources(common)
    scorer = LabelScorer.from_pretrained(args.scorer_name_or_path, top_k=args.scorer_top_k,
                                         batch_size=args.score_batch_size)  # fmt: skip
    scorer.checkpoint.model.to(device)
    scorer.check_label_space(xmc.vocabulary)
    train_texts = xmc.splits["train"]["text"]
    source_texts = {int(i): _cut(train_texts[int(i)], common.max_words) for i in set(generated["source_id"])}
    columns, report = score_augmented(
        scorer, generated["text"], generated["source_id"], generated["labels"], source_texts,
        diversity=args.diversity, keep_fraction=args.keep_fraction, progress=common.progress,
    )  # fmt: skip
    filtered = generated.remove_columns("stage")
    for name, values in columns.items():
        filtered = filtered.add_column(name, values.tolist())
    filtered = filtered.add_column("stage", ["filter"] * len(filtered))
    filtered.save_to_disk(str(stage_folder(common, "filter") / "data"))
    print(f"[xda] kept {report['kept']:,} of {report['rows']:,} augmented documents (score >= "
          f"{report['threshold']:.3f}); mean consistency {report['mean_consistency']:.3f} -> kept "
          f"{report['mean_consistency_kept']:.3f}")  # fmt: skip
    return _finish(common, "filter", report, [common, args])


def run_training(common: XDACommonArguments, args: MDATrainArguments, scorer_name_or_path: str | None = None) -> dict:
    """Train the classifier (encoder frozen) with MDA, evaluate it on the test split, save it under `classifier/`."""
    if (report := _skip(common, "train")) is not None:
        return report
    from ..hub import load_xmc_model, save_xmc_checkpoint
    from ..hub.model_card import write_model_card
    from .filtering import LabelScorer
    from .masked_loss import build_augmentation_loss, evaluate_classifier, train_classifier

    device = _setup(common)
    source = args.classifier_name_or_path or scorer_name_or_path or FilterArguments.scorer_name_or_path
    checkpoint = load_xmc_model(source)
    checkpoint.model.to(device)
    xmc, rows = load_sources(common)
    LabelScorer(checkpoint).check_label_space(xmc.vocabulary)
    train = xmc.splits["train"].select(rows)
    original = (train["text"], train["labels"])
    augmented, loss, augmented_rows = None, None, 0
    if not args.no_augmentation:
        if args.train_on == "kept":
            data = load_augmented(common, "filter")
            data = data.filter(lambda kept: kept, input_columns="kept")
        else:
            data = load_augmented(common, "generate")
        if not len(data):
            raise XMCInputError("no augmented documents to train on (the filter kept none, or none were generated)")
        augmented, augmented_rows = (data["text"], data["labels"]), len(data)
        loss = build_augmentation_loss(args.augmentation_loss, xmc.vocabulary.counts, args.head_tail_threshold,
                                       args.reweight_power, args.reweight_scale)  # fmt: skip
    report = train_classifier(
        checkpoint.model, checkpoint.tokenizer, len(xmc.vocabulary), original, augmented, loss,
        minutes=args.train_minutes, epochs=args.train_epochs, batch_size=args.train_batch_size,
        learning_rate=args.train_learning_rate, max_length=args.max_length, swa=args.swa, swa_start=args.swa_start,
        swa_every=args.swa_every, seed=common.seed, progress=common.progress,
    )  # fmt: skip
    test = xmc.splits["test"]
    if common.max_eval_samples and common.max_eval_samples < len(test):
        test = test.select(np.sort(np.random.default_rng(common.seed).choice(len(test), common.max_eval_samples,
                                                                             replace=False)))  # fmt: skip
    metrics = evaluate_classifier(checkpoint, test["text"], test["labels"], xmc.vocabulary, checkpoint.method,
                                  max_length=args.max_length, progress=common.progress)  # fmt: skip
    folder = stage_folder(common, "train")
    card_settings = {"f_0": source, "augmentation loss": args.augmentation_loss, "N_t": args.head_tail_threshold,
                     "augmented documents": augmented_rows, "original documents": len(rows),
                     "steps (encoder frozen)": report["steps"], "learning rate": args.train_learning_rate,
                     "SWA": args.swa}  # fmt: skip
    write_model_card(  # the XDA card (before saving, so the checkpoint keeps it instead of f_0's method card)
        folder, "xda", folder.name, metrics=metrics, dataset_name=xmc.name or common.dataset_name_or_path,
        base_model=source, num_labels=len(xmc.vocabulary), num_train_docs=xmc.vocabulary.num_train_docs,
        hyperparameters=card_settings, model_path=str(folder), num_train_examples=len(rows),
        num_eval_examples=len(test), num_eval_split_docs=len(xmc.splits["test"]),
    )  # fmt: skip
    save_xmc_checkpoint(folder, checkpoint.model, checkpoint.tokenizer, xmc.vocabulary)
    shown = ", ".join(f"{key.removesuffix('_norm')} {100 * metrics[key]:.2f}"
                      for key in ("P@1", "P@5", "PSP@1_norm", "PSP@5_norm"))  # fmt: skip
    print(f"[xda] classifier ({checkpoint.method}, {report['steps']} steps): {shown} on {len(test):,} test documents")
    report = {**report, "metrics": metrics, "classifier_source": source, "method": checkpoint.method,
              "augmented_rows": augmented_rows, "original_rows": len(rows), "eval_documents": len(test)}  # fmt: skip
    return _finish(common, "train", report, [common, args])


def run_pipeline(common: XDACommonArguments, prompt: PromptTuneArguments, generate: GenerateArguments,
                 filtering: FilterArguments, training: MDATrainArguments) -> dict:  # fmt: skip
    """All four stages in order, each skipped when already finished (resume from the last finished stage)."""
    reports = {}
    if not generate.no_prompt:
        reports["prompt-tune"] = run_prompt_tuning(common, prompt)
    reports["generate"] = run_generation(common, generate)
    reports["filter"] = run_filter(common, filtering)
    reports["train"] = run_training(common, training, filtering.scorer_name_or_path)
    return reports


__all__ = [
    "STAGE_FOLDERS",
    "load_augmented",
    "load_sources",
    "run_filter",
    "run_generation",
    "run_pipeline",
    "run_prompt_tuning",
    "run_training",
    "stage_folder",
    "stage_report",
]
