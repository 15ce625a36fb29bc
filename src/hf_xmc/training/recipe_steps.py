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


def sample_rows(num_rows: int, max_samples: int | None, seed: int) -> np.ndarray:
    """The rows `sample_split` keeps: a seeded random choice of `max_samples` of `num_rows` (all, in order, when
    `max_samples` is None or 0). The same draw as `datasets.Dataset.shuffle(seed=seed)` followed by taking the
    first `max_samples` rows."""
    if max_samples is None or max_samples <= 0 or max_samples >= num_rows:
        return np.arange(num_rows)
    return np.random.default_rng(seed).permutation(num_rows)[: int(max_samples)]


def sample_split(split, max_samples: int | None, seed: int):
    """A seeded random subset of `max_samples` examples (the whole split when `max_samples` is None or 0); its rows
    in `split` are `sample_rows(len(split), max_samples, seed)`."""
    if max_samples is None or max_samples <= 0 or max_samples >= len(split):
        return split
    return split.select(sample_rows(len(split), max_samples, seed))


def _count(size: float, total: int) -> int:
    return int(round(size * total)) if 0 < size < 1 else int(size)


def select_examples(xmc, data_args, seed: int) -> dict:
    """The recipe's examples: `train` (the seeded training subset), `eval` (the evaluation subset) and `decision`
    (the documents the thresholds are tuned on, or `None`), plus `train_pool` (all training documents not held
    out) and `eval_pool` (the whole split evaluated on). The decision documents come from the `validation` split
    when there is one that is not evaluated on, else they are held out of train before the training subset is drawn
    (seeded; at most 20% of train).

    `rows` maps `train`, `eval` and `decision` to `(split name, row indices in xmc.splits[split name])`, so that
    per-row data kept beside the splits (the filter pairs, `evaluation_exclusions`) follows the subsets."""
    train_rows = np.arange(len(xmc.splits["train"]))
    decision_rows = None
    decision_split = "train"
    size = data_args.decision_validation_size or 0
    if size > 0:
        if "validation" in xmc.splits and data_args.eval_split != "validation":
            decision_split = "validation"
            total = len(xmc.splits["validation"])
            decision_rows = sample_rows(total, _count(size, total), seed)
        else:
            held_out = min(_count(size, len(train_rows)), int(MAX_DECISION_SHARE * len(train_rows)))
            if held_out >= 1:
                shuffled = np.random.default_rng(seed).permutation(len(train_rows))  # as `Dataset.shuffle(seed)`
                decision_rows, train_rows = shuffled[:held_out], shuffled[held_out:]
    held_out_of_train = decision_rows is not None and decision_split == "train"
    train_pool = xmc.splits["train"].select(train_rows) if held_out_of_train else xmc.splits["train"]
    chosen = train_rows[sample_rows(len(train_rows), data_args.max_train_samples, seed)]
    eval_pool = xmc.splits[data_args.eval_split]
    eval_rows = sample_rows(len(eval_pool), data_args.max_eval_samples, seed)
    return {
        "train_pool": train_pool,
        "train": sample_split(train_pool, data_args.max_train_samples, seed),
        "eval": sample_split(eval_pool, data_args.max_eval_samples, seed),
        "decision": None if decision_rows is None else xmc.splits[decision_split].select(decision_rows),
        "eval_pool": eval_pool,
        "rows": {
            "train": ("train", chosen),
            "eval": (data_args.eval_split, eval_rows),
            "decision": None if decision_rows is None else (decision_split, decision_rows),
        },
    }


def evaluation_exclusions(xmc, examples: dict, apply_filter_labels: bool = True) -> dict:
    """The filter pairs (`xmc.filter_pairs`, an LF set's `filter_labels_*.txt`) of the evaluated and the decision
    documents, rows aligned with `examples["eval"]` / `examples["decision"]`: `{"eval": csr | None, "decision":
    csr | None}`; `None` where the split has no filter pairs or `apply_filter_labels` is off."""
    exclusions = {}
    for name in ("eval", "decision"):
        source = examples["rows"][name]
        mask = xmc.filter_pairs.get(source[0]) if apply_filter_labels and source is not None else None
        exclusions[name] = None if mask is None else mask[source[1]]
    return exclusions


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


def without_excluded_pairs(ids, scores, references, exclude, num_labels: int):
    """A ranking `(n, K)` (ids, scores) and its references without the document-label pairs of `exclude` (the
    filter pairs, rows aligned; `None`: unchanged), as `compute_xmc_metrics(..., exclude=...)` leaves them out:
    excluded candidates make room for the next ones, excluded references are not expected. Returns `(ids, scores,
    references)`."""
    if exclude is None:
        return ids, scores, references
    from ..metrics.exclusion import remove_excluded_candidates, remove_excluded_references
    from ..metrics.inputs import reference_matrix

    exclude = reference_matrix(exclude, num_labels, name="exclude")
    ids, scores = remove_excluded_candidates(ids, scores, exclude)
    return ids, scores, remove_excluded_references(reference_matrix(references, num_labels), exclude)


def tune_decisions(
    decision_ids, decision_scores, decision_references, eval_ids, eval_scores, eval_references, num_labels,
    decision_exclude=None, eval_exclude=None, per_label=False,
):  # fmt: skip
    """Thresholds tuned on the decision documents (micro-F1; one global threshold, or with `per_label` one per label
    with the global fallback), and the micro/macro F1 they reach on the evaluation documents beside a fixed 0.5. `decision_exclude` / `eval_exclude`: filter pairs
    (CSR, rows aligned) left out of the tuning / the evaluation (`without_excluded_pairs`). Returns `(thresholds,
    metrics)`."""
    from ..decision import decision_metrics, tune_thresholds

    decision_ids, decision_scores, decision_references = without_excluded_pairs(
        decision_ids, decision_scores, decision_references, decision_exclude, num_labels
    )
    eval_ids, eval_scores, eval_references = without_excluded_pairs(
        eval_ids, eval_scores, eval_references, eval_exclude, num_labels
    )
    thresholds = tune_thresholds(
        decision_ids, decision_scores, decision_references, num_labels, objective="micro", per_label=per_label
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


def compare_with_peers(examples: dict, vocabulary, data_args, metrics: dict, method: str, exclude=None) -> dict:
    """Fit the TF-IDF peers (`hf_xmc.baselines`) on the documents the model trained on, evaluate them on the same
    evaluation documents (leaving out the same filter pairs, `exclude`), print their rows beside the model's;
    returns `{peer: {metrics, train_seconds, ...}}`."""
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
        exclude=exclude,
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


def describe_filter_pairs(xmc, data_args, eval_exclude) -> str | None:
    """A line of the plan on the filter pairs of the evaluated documents (left out, or kept by request); `None`
    when the evaluated split has none."""
    split = data_args.eval_split
    if eval_exclude is not None:
        return (
            f"  leave {eval_exclude.nnz:,} filter pairs ({split} filter file) out of the evaluation "
            "(--apply_filter_labels false keeps them)"
        )
    if split in getattr(xmc, "filter_pairs", {}):
        return f"  keep the {split} filter pairs (--apply_filter_labels false): not comparable with published numbers"
    return None


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
