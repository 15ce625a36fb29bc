"""The steps of the shared recipe that do not depend on the method: choosing the examples, ranking in chunks with
progress, tuning the decision thresholds, printing the plan and the results, tidying the output folder."""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

TABLE_METRICS = ("P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "PSP@1", "PSP@3", "PSP@5")
DECISION_TOP_K = 20  # candidates per document the decision thresholds choose from
FIXED_THRESHOLD = 0.5
MAX_DECISION_SHARE = 0.2  # never hold out more than this share of the training split for the thresholds


def sample_split(split, max_samples: int | None, seed: int):
    """A seeded random subset of `max_samples` examples (the whole split when `max_samples` is None or 0)."""
    if max_samples is None or max_samples <= 0 or max_samples >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(int(max_samples)))


def _count(size: float, total: int) -> int:
    return int(round(size * total)) if 0 < size < 1 else int(size)


def select_examples(xmc, data_args, seed: int) -> dict:
    """The recipe's examples: `train` (the seeded training subset), `eval` (the evaluation subset) and `decision`
    (the documents the thresholds are tuned on, or `None`), plus `train_pool` (all training documents not held
    out) and `eval_pool` (the whole split evaluated on). The decision documents come from the `validation` split
    when there is one that is not evaluated on, else they are held out of train before the training subset is drawn
    (seeded; at most 20% of train)."""
    train = xmc.splits["train"]
    decision = None
    size = data_args.decision_validation_size or 0
    if size > 0:
        if "validation" in xmc.splits and data_args.eval_split != "validation":
            validation = xmc.splits["validation"]
            decision = sample_split(validation, _count(size, len(validation)), seed)
        else:
            held_out = min(_count(size, len(train)), int(MAX_DECISION_SHARE * len(train)))
            if held_out >= 1:
                shuffled = train.shuffle(seed=seed)
                decision = shuffled.select(range(held_out))
                train = shuffled.select(range(held_out, len(train)))
    return {
        "train_pool": train,
        "train": sample_split(train, data_args.max_train_samples, seed),
        "eval": sample_split(xmc.splits[data_args.eval_split], data_args.max_eval_samples, seed),
        "decision": decision,
        "eval_pool": xmc.splits[data_args.eval_split],
    }


def log(message: str) -> None:
    print(message, flush=True)


def rank_in_chunks(rank, texts: list[str], k: int, description: str, chunk_size: int = 256):
    """`rank(texts, k) -> list[list[RankedLabel]]` over chunks, with a progress line about every 10% (plain lines:
    no carriage returns in logs). Returns `(ids (n, k) int64, scores (n, k) float64, seconds)`, padded with -1 /
    -inf where a text got fewer labels or a label outside the vocabulary."""
    n = len(texts)
    ids = np.full((n, k), -1, dtype=np.int64)
    scores = np.full((n, k), -np.inf)
    start = time.perf_counter()
    next_report = 0.1
    for offset in range(0, n, chunk_size):
        for row, labels in enumerate(rank(texts[offset : offset + chunk_size], k), start=offset):
            for column, label in enumerate(labels[:k]):
                if label.label_id is not None:
                    ids[row, column] = label.label_id
                    scores[row, column] = label.score
        done = min(n, offset + chunk_size)
        if done / n >= next_report and done < n:
            elapsed = time.perf_counter() - start
            log(f"  {description}: {done:,}/{n:,} documents, {done / elapsed:.0f} docs/s")
            next_report = math.floor(done / n * 10 + 1) / 10
    return ids, scores, time.perf_counter() - start


def fixed_decisions(ids: np.ndarray, scores: np.ndarray, threshold: float = FIXED_THRESHOLD) -> list[list[int]]:
    """The candidates whose score reaches a fixed threshold (the baseline the tuned thresholds are compared to)."""
    from ..decision import DecisionThresholds

    return DecisionThresholds.fixed(threshold).decide(ids, scores)


def tune_decisions(
    decision_ids, decision_scores, decision_references, eval_ids, eval_scores, eval_references, num_labels
):
    """Thresholds tuned on the decision documents (micro-F1, per label with the global fallback), and the micro/macro
    F1 they reach on the evaluation documents beside a fixed 0.5. Returns `(thresholds, metrics)`."""
    from ..decision import decision_metrics, tune_thresholds

    thresholds = tune_thresholds(
        decision_ids, decision_scores, decision_references, num_labels, objective="micro", per_label=True
    )
    at_fixed = decision_metrics(fixed_decisions(eval_ids, eval_scores), eval_references, num_labels)
    at_tuned = decision_metrics(thresholds.decide(eval_ids, eval_scores), eval_references, num_labels)
    metrics = {f"{name}@{FIXED_THRESHOLD:g}": value for name, value in at_fixed.items() if name.endswith("f1")}
    metrics.update({f"{name}@tuned": value for name, value in at_tuned.items() if name.endswith("f1")})
    metrics["global_threshold"] = thresholds.global_threshold
    metrics["num_tuned_labels"] = thresholds.num_tuned_labels
    return thresholds, metrics


def format_metrics_table(metrics: dict[str, float], title: str) -> str:
    """A two-row text table of the headline metrics (percent); PSP is the normalised (XMC repository) value, and the
    decision F1s are shown when present."""
    keys = [key for key in TABLE_METRICS if key in metrics or f"{key}_norm" in metrics]
    values = [100 * metrics.get(f"{key}_norm", metrics.get(key)) for key in keys]
    for key, label in (("micro_f1@0.5", "miF1@.5"), ("micro_f1@tuned", "miF1@t"), ("macro_f1@tuned", "maF1@t")):
        if key in metrics:
            keys.append(label)
            values.append(100 * metrics[key])
    header = " | ".join(f"{key:>7}" for key in keys)
    row = " | ".join(f"{value:7.2f}" for value in values)
    return f"{title}\n{header}\n{row}"


def format_comparison_table(rows: dict[str, dict[str, float]], title: str) -> str:
    """One row per model (percent, PSP normalised), the columns of `format_metrics_table`."""
    keys = [key for key in TABLE_METRICS]
    width = max(len(name) for name in rows) + 2
    lines = [title, f"{'model':<{width}}" + "".join(f"{key:>8}" for key in keys)]
    for name, metrics in rows.items():
        values = [metrics.get(f"{key}_norm", metrics.get(key)) for key in keys]
        lines.append(f"{name:<{width}}" + "".join(f"{100 * v:8.2f}" if v is not None else f"{'':>8}" for v in values))
    return "\n".join(lines)


def compare_with_peers(examples: dict, vocabulary, data_args, metrics: dict, method: str) -> dict:
    """Fit the TF-IDF peers (`hf_xmc.baselines`) on the documents the model trained on, evaluate them on the same
    evaluation documents, print their rows beside the model's; returns `{peer: {metrics, train_seconds, ...}}`."""
    from ..baselines import PEERS, evaluate_peers, peer_is_installed

    installed = tuple(algorithm for algorithm in PEERS if peer_is_installed(algorithm))
    if not installed:
        log("(napkinxc and omikuji are not installed, so no peer rows: `pip install napkinxc omikuji` adds them)")
        return {}
    train, evaluation = examples["train"], examples["eval"]
    peers = evaluate_peers(
        list(train["text"]),
        [list(labels) for labels in train["labels"]],
        list(evaluation["text"]),
        [list(labels) for labels in evaluation["labels"]],
        vocabulary,
        k=5,
        algorithms=installed,
        propensity=data_args.propensity,
    )
    rows = {f"{method} (this run)": metrics}
    rows.update({name: peer["metrics"] for name, peer in peers.items() if "metrics" in peer})
    seconds = ", ".join(f"{name} {peer['train_seconds']:.0f} s" for name, peer in peers.items() if "metrics" in peer)
    log(
        format_comparison_table(
            rows, f"beside TF-IDF peers on the same {len(train):,} training documents (fit: {seconds}):"
        )
    )
    if len(installed) < len(PEERS):
        log(f"(not installed: {', '.join(a for a in PEERS if a not in installed)})")
    return {name: {key: value for key, value in peer.items() if key != "top_k"} for name, peer in peers.items()}


def describe_plan(method: str, data_args, examples: dict, xmc, output_dir, training_args, world_size: int) -> str:
    """What the run will do, said before it starts."""
    train, evaluation, decision = examples["train"], examples["eval"], examples["decision"]
    batch = training_args.per_device_train_batch_size * world_size * training_args.gradient_accumulation_steps
    steps_per_epoch = max(1, math.ceil(len(train) / batch))
    if training_args.max_steps and training_args.max_steps > 0:
        length = f"{training_args.max_steps:,} steps ({training_args.max_steps / steps_per_epoch:.2f} epochs)"
    else:
        steps = math.ceil(training_args.num_train_epochs * steps_per_epoch)
        length = f"{training_args.num_train_epochs:g} epoch(s) = {steps:,} steps of {batch}"
    if getattr(training_args, "max_train_minutes", None):
        length += f", at most {training_args.max_train_minutes:g} minutes (re-planned from the measured step time)"
    lines = [
        f"hf-xmc train {method}: data set {data_args.dataset_name_or_path} ({len(xmc.vocabulary):,} labels)",
        f"  train on {len(train):,} of {len(examples['train_pool']):,} training documents, {length}",
        f"  evaluate on {len(evaluation):,} of {len(xmc.splits[data_args.eval_split]):,} {data_args.eval_split} "
        "documents",
        f"  tune decision thresholds on {len(decision):,} held-out documents" if decision is not None else
        "  no decision thresholds (--decision_validation_size 0)",
        f"  output folder: {Path(output_dir).resolve()}",
        "  the expected time is printed once the first training steps are measured",
    ]  # fmt: skip
    return "\n".join(lines)


def remove_checkpoints(output_dir, keep: bool) -> list[str]:
    """Delete Trainer's `checkpoint-*` folders from a finished run's output folder unless `keep`; returns the
    names removed. The final model (saved at the top of the folder) is what stays."""
    if keep:
        return []
    removed = []
    for path in sorted(Path(output_dir).glob("checkpoint-*")):
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(path.name)
    return removed


def disable_progress_bars() -> None:
    """Turn off the progress bars of datasets (`map`) and transformers (weight loading), for logs that are files."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def stream_is_terminal(stream=None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())
