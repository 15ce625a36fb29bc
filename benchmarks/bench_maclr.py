"""MACLR zero-shot, generalized zero-shot and few-shot benchmark on debtags and deps-dev (issue 11).

Rows per data set (all ranked over every label, top-100, `hf_xmc.metrics.compute_xmc_metrics`; on deps-dev a
document's own package, itself a label, is left out of its ranking, BEIR's `ignore_identical_ids`):

- `popularity`: the most frequent training labels for every document (no text; uses training label counts).
- `tfidf`: TF-IDF (word uni+bigrams, fitted on training documents + label texts) cosine of document and label text.
- `minilm`: the shipped all-MiniLM-L6-v2 as it is.
- `maclr_stage1`: MACLR stage I (ICT + adaptive clustering + label regularization) from MiniLM, `--minutes` of training.
- `maclr_stage1+2`: stage II (encoder + TF-IDF pseudo pairs) from the stage-I encoder, `--minutes` more.
- `maclr_stage2`, `maclr_stage2_agreement`: stage II alone from MiniLM (no stage I), the views' union (the paper) or
  only the labels both views chose (`--pseudo_merge agreement`): what self-training adds to an encoder already
  trained for sentence similarity.
- `gzsl_*` (generalized zero-shot): 20% of the labels held out of fine-tuning (seeded), the rest's true pairs used;
  seen and unseen labels reported apart; from MACLR (stage I+II) and from MiniLM.
  `--maclr_start DIR` starts the `*_maclr` rows from an encoder saved by an earlier run instead of retraining it.
- `fewshot{1,5}_*`: the true pairs of 1% / 5% of the labels; from MACLR and from MiniLM, the same fine-tuning.

No zero-shot row reads a training label assignment (popularity is the exception, and says so).

    python benchmarks/bench_maclr.py --minutes 55                                   # the full run (hours)
    python benchmarks/bench_maclr.py --datasets debtags --rows popularity,tfidf,minilm,maclr_stage1,maclr_stage1+2,\\
        gzsl_maclr --minutes 10 --max_eval_samples 3000 --max_train_samples 4000 --num_updates 2 --learning_rate 5e-5
        # what `results/maclr.json` holds (1 thread): on CPU every re-clustering encodes all the training documents,
        # so with all 21K debtags documents a 10-minute stage I spends nearly all of it encoding (10 steps done)
    python benchmarks/bench_maclr.py --datasets debtags --rows popularity,tfidf,minilm,maclr_stage1 \\
        --minutes 2 --max_eval_samples 300 --max_train_samples 2000 --output /tmp/maclr_smoke.json   # a smoke

Writes `benchmarks/results/maclr.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from provenance import run_provenance

from hf_xmc.data import load_xmc_dataset
from hf_xmc.maclr.encoder import load_encoder
from hf_xmc.maclr.evaluation import RETRIEVAL_K, evaluate_label_retrieval, popularity_ranking, retrieval_metrics
from hf_xmc.maclr.recipe import MACLR_RECIPE, label_texts_of, own_id_exclusion
from hf_xmc.maclr.retrieval import LabelIndex, encode_texts
from hf_xmc.maclr.self_training import TfidfLabelRetriever
from hf_xmc.training.recipe_steps import sample_split

RESULTS = Path(__file__).resolve().parent / "results" / "maclr.json"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ALL_ROWS = (
    "popularity", "tfidf", "minilm", "maclr_stage1", "maclr_stage1+2", "maclr_stage2", "maclr_stage2_agreement",
    "gzsl_maclr", "gzsl_minilm",
    "fewshot1_maclr", "fewshot1_minilm", "fewshot5_maclr", "fewshot5_minilm",
)  # fmt: skip
KEEP = ("P@1", "P@3", "P@5", "PSP@5_norm", "nDCG@5", "R@10", "R@100")


def dataset_path(name: str) -> str:
    local = SHARED_DATA / name
    return str(local) if local.is_dir() else name


def short(metrics: dict) -> dict:
    kept = {key: round(100 * value, 2) for key, value in metrics.items() if key.split("/")[-1] in KEEP}
    kept.update({key: value for key, value in metrics.items() if key.endswith(("num_documents", "num_labels"))})
    return kept


def train_stage(name, stage, data, start, work_dir, args, **flags):
    """One MACLR recipe run; returns (metrics, output folder, seconds)."""
    output_dir = work_dir / name
    argv = [
        "--stage", stage, "--dataset_name_or_path", data, "--output_dir", str(output_dir),
        "--max_train_minutes", str(args.minutes), "--max_length", str(args.max_length),
        "--max_eval_samples", str(args.max_eval_samples), "--max_train_samples", str(args.max_train_samples),
        "--per_device_train_batch_size", str(args.batch_size), "--learning_rate", str(args.learning_rate),
        "--seed", str(args.seed), "--use_cpu", "--disable_tqdm", "true", "--logging_steps", "10",
    ]  # fmt: skip
    if start is not None:
        argv += ["--model_name_or_path", str(start)]
    for flag, value in flags.items():
        argv += [f"--{flag}", str(value)]
    started = time.perf_counter()
    result = MACLR_RECIPE.run(*MACLR_RECIPE.parse_args(argv))
    summary = {
        "seconds": time.perf_counter() - started, "global_step": result["global_step"],
        "first_losses": result["train_loss_history"][:3], "last_losses": result["train_loss_history"][-3:],
        "pairs": result["pairs"],
    }  # fmt: skip
    return short(result["metrics"]), output_dir, summary


def bench_dataset(name: str, args, rows: list[str]) -> dict:
    data = dataset_path(name)
    xmc = load_xmc_dataset(data, seed=args.seed)
    vocabulary = xmc.vocabulary
    label_texts = label_texts_of(vocabulary, "title")
    split = sample_split(xmc.splits["test"], args.max_eval_samples, args.seed)
    exclude = own_id_exclusion(split, vocabulary, "auto")
    references = [list(r) for r in split["labels"]]
    texts = list(split["text"])
    out = {
        "num_eval_documents": len(split), "num_labels": len(vocabulary), "own_id_excluded": exclude is not None,
        "rows": {}, "training": {},
    }  # fmt: skip
    log = lambda row: print(f"[{name}] {row}: {out['rows'][row]}", flush=True)  # noqa: E731
    metric_args = {"label_counts": vocabulary.counts, "num_train_docs": vocabulary.num_train_docs, "k": RETRIEVAL_K}
    if "popularity" in rows:
        ids = popularity_ranking(vocabulary.counts, len(split), 100, exclude)
        out["rows"]["popularity"] = short(retrieval_metrics(ids, references, len(vocabulary), **metric_args))
        log("popularity")
    if "tfidf" in rows:
        retriever = TfidfLabelRetriever(label_texts, fit_documents=xmc.splits["train"]["text"])
        ids, _ = retriever.search(texts, 100, exclude=exclude)
        out["rows"]["tfidf"] = short(retrieval_metrics(ids, references, len(vocabulary), **metric_args))
        log("tfidf")
    if "minilm" in rows:
        encoder = load_encoder(None, max_seq_length=args.max_length)
        index = LabelIndex.build(encoder, label_texts)
        queries = encode_texts(encoder, texts)
        out["rows"]["minilm"] = short(evaluate_label_retrieval(queries, index, references, exclude=exclude,
                                                               **metric_args))  # fmt: skip
        log("minilm")
    work_dir = Path(args.work_dir) / name
    stage1 = None
    stage2 = Path(args.maclr_start) if args.maclr_start else None
    needs_stage2 = stage2 is None and any(r in rows for r in ("gzsl_maclr", "fewshot1_maclr", "fewshot5_maclr"))
    if needs_stage2 or any(row.startswith("maclr_stage1") for row in rows):
        metrics, stage1, out["training"]["maclr_stage1"] = train_stage(
            "stage1", "pretrain", data, None, work_dir, args, num_updates=args.num_updates
        )
        out["rows"]["maclr_stage1"] = metrics
        log("maclr_stage1")
    if stage1 is not None and (needs_stage2 or "maclr_stage1+2" in rows):
        metrics, stage2, out["training"]["maclr_stage1+2"] = train_stage(
            "stage2", "self-train", data, stage1, work_dir, args
        )
        out["rows"]["maclr_stage1+2"] = metrics
        log("maclr_stage1+2")
    for row, merge in (("maclr_stage2", "union"), ("maclr_stage2_agreement", "agreement")):
        if row in rows:
            out["rows"][row], _, out["training"][row] = train_stage(row, "self-train", data, None, work_dir, args,
                                                                    pseudo_merge=merge)  # fmt: skip
            log(row)
    for row, ratio in (("gzsl", 0.8), ("fewshot1", 0.01), ("fewshot5", 0.05)):
        for start_name, start in (("maclr", stage2), ("minilm", None)):
            key = f"{row}_{start_name}"
            if key not in rows or (start_name == "maclr" and start is None):
                continue
            metrics, _, out["training"][key] = train_stage(key, "few-shot", data, start, work_dir, args,
                                                           few_shot_ratio=ratio)  # fmt: skip
            out["rows"][key] = metrics
            log(key)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="debtags,deps-dev")
    parser.add_argument("--rows", default=",".join(ALL_ROWS))
    parser.add_argument("--minutes", type=float, default=55.0, help="Training budget per trained row.")
    parser.add_argument("--max_eval_samples", type=int, default=0, help="0: the whole test split.")
    parser.add_argument("--max_train_samples", type=int, default=0, help="0: all training documents.")
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=2e-5)
    parser.add_argument("--num_updates", type=int, default=3, help="Stage I clusterings before the half (CPU).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--maclr_start",
        default=None,
        help="A trained MACLR stage I+II encoder folder for the gzsl/few-shot *_maclr rows (default: train stages "
        "I and II in this run first).",
    )
    parser.add_argument("--work_dir", default="outputs/bench_maclr")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    if args.maclr_start and not (Path(args.maclr_start) / "maclr.json").is_file():
        parser.error(f"--maclr_start {args.maclr_start} is not a saved MACLR encoder (no maclr.json in it)")
    unknown = set(rows) - set(ALL_ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; known: {', '.join(ALL_ROWS)}")
    started = time.perf_counter()
    results = {
        "benchmark": "maclr",
        "settings": {key: value for key, value in vars(args).items() if key != "output"},
        "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(), "platform": platform.platform()},
        **run_provenance(__file__, argv),
        "datasets": {},
    }
    for name in args.datasets.split(","):
        results["datasets"][name] = bench_dataset(name.strip(), args, rows)
        results["seconds"] = time.perf_counter() - started
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
