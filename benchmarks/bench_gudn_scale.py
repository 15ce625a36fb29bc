"""GUDN at scale: LightXML's shortlist (dynamic negative sampling) against the dense ranking classifier.

A synthetic label space (100,000 labels by default, d = 384: a 2-layer BERT of width 384 whose [CLS] feeds the
classifier), random texts and label texts, 5 positives per text drawn Zipf-like, balanced clusters of 100 labels.
Each (path, label count) runs in its own process so that its peak memory (max RSS) is its own. Measured per run: the
full GUDN training step (text + label-text pass, feature/link/class losses, backward, AdamW) in seconds (median after
one warm-up step), the process's peak RSS, the RSS growth during the training steps, and the bounded top-5 at
inference (documents per second; the dense path uses the exact int8-screened top-k).

    python benchmarks/bench_gudn_scale.py                           # 100K labels, dense vs shortlist (~3 min)
    python benchmarks/bench_gudn_scale.py --num_labels 25000,100000,400000 --minutes 5

Writes `benchmarks/results/gudn_scale.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HIDDEN = 384
SEQ_LEN = 32
VOCAB = 2000
POSITIVES = 5
CLUSTER_SIZE = 100


def rss_mb() -> float:
    """Current resident set size (Linux `/proc`), MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def worker(path: str, num_labels: int, batch_size: int, steps: int, seconds: float, shortlist: int) -> dict:
    import numpy as np
    import torch

    from hf_xmc.models.bert_guide import BertGuideConfig, BertGuideNetwork

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    num_clusters = num_labels // CLUSTER_SIZE if path == "shortlist" else 0
    config = BertGuideConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=6, intermediate_size=4 * HIDDEN,
        max_position_embeddings=64, num_labels=num_labels, text_feature_layers=1, label_feature_layers=1,
        num_label_clusters=num_clusters, shortlist_clusters=shortlist if num_clusters else None,
    )  # fmt: skip
    model = BertGuideNetwork(config).train()
    if num_clusters:
        model.set_label_clusters(rng.permutation(np.arange(num_labels) % num_clusters))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    # Zipf-like label popularity: a few frequent labels, a long tail
    popularity = 1.0 / np.arange(1, num_labels + 1) ** 0.8
    popularity /= popularity.sum()

    def batch() -> dict:
        labels = torch.tensor(
            np.stack([rng.choice(num_labels, POSITIVES, replace=False, p=popularity) for _ in range(batch_size)])
        )
        return {
            "input_ids": torch.randint(5, VOCAB, (batch_size, SEQ_LEN)),
            "guide_input_ids": torch.randint(5, VOCAB, (batch_size, SEQ_LEN)),
            "labels": labels,
        }

    rss_before = rss_mb()
    step_seconds, losses = [], []
    started = time.perf_counter()
    for step in range(steps + 1):
        inputs = batch()
        tick = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        step_seconds.append(time.perf_counter() - tick)
        losses.append(float(loss.detach()))
        if step >= 2 and time.perf_counter() - started > seconds:
            break
    rss_after_training = rss_mb()
    model.eval()
    docs = torch.randint(5, VOCAB, (256, SEQ_LEN))
    with torch.no_grad():
        model(input_ids=docs[:16], top_k=5, return_logits=False)  # warm-up (builds the int8 screen once)
        tick = time.perf_counter()
        for start in range(0, len(docs), 64):
            model(input_ids=docs[start : start + 64], top_k=5, return_logits=False)
        inference_seconds = time.perf_counter() - tick
    return {
        "path": path,
        "num_labels": num_labels,
        "num_label_clusters": num_clusters,
        "shortlist_clusters": shortlist if num_clusters else None,
        "batch_size": batch_size,
        "steps_timed": len(step_seconds) - 1,
        "step_seconds": statistics.median(step_seconds[1:]),
        "first_step_seconds": step_seconds[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_model_mb": rss_before,
        "rss_training_growth_mb": rss_after_training - rss_before,
        "inference_docs_per_second": len(docs) / inference_seconds,
        "losses": losses,
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_labels", default="100000", help="comma-separated label counts")
    parser.add_argument("--paths", default="dense,shortlist", help="dense and/or shortlist")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per run (after one warm-up)")
    parser.add_argument("--shortlist_clusters", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=4.0, help="time budget of all runs together")
    parser.add_argument("--output", type=Path, default=RESULTS / "gudn_scale.json")
    parser.add_argument("--worker", nargs=2, metavar=("PATH", "NUM_LABELS"), help=argparse.SUPPRESS)
    parser.add_argument("--worker_seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        path, num_labels = args.worker
        result = worker(
            path, int(num_labels), args.batch_size, args.steps, args.worker_seconds, args.shortlist_clusters
        )
        print("RESULT " + json.dumps(result))
        return

    label_counts = [int(value) for value in args.num_labels.split(",")]
    paths = args.paths.split(",")
    runs = [(path, count) for count in label_counts for path in paths]
    seconds_per_run = max(10.0, args.minutes * 60 / len(runs) - 15)  # ~15 s per run to build the model
    rows = []
    for path, count in runs:
        command = [
            sys.executable, __file__, "--worker", path, str(count), "--batch_size", str(args.batch_size),
            "--steps", str(args.steps), "--shortlist_clusters", str(args.shortlist_clusters),
            "--worker_seconds", str(seconds_per_run),
        ]  # fmt: skip
        completed = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        if completed.returncode != 0 or not lines:
            raise SystemExit(f"{path} at {count:,} labels failed:\n{completed.stderr[-3000:]}")
        row = json.loads(lines[-1][len("RESULT ") :])
        rows.append(row)
        print(
            f"{path:>9} {count:>8,} labels: step {row['step_seconds']:.3f} s, peak RSS {row['peak_rss_mb']:.0f} MB "
            f"(model {row['rss_model_mb']:.0f} MB, +{row['rss_training_growth_mb']:.0f} MB training), "
            f"top-5 {row['inference_docs_per_second']:.0f} docs/s",
            flush=True,
        )
    ratios = {}
    for count in label_counts:
        by_path = {row["path"]: row for row in rows if row["num_labels"] == count}
        if {"dense", "shortlist"} <= set(by_path):
            dense, short = by_path["dense"], by_path["shortlist"]
            ratios[str(count)] = {
                "dense_over_shortlist_step_time": dense["step_seconds"] / short["step_seconds"],
                "dense_over_shortlist_peak_rss": dense["peak_rss_mb"] / short["peak_rss_mb"],
                "dense_over_shortlist_training_growth": dense["rss_training_growth_mb"]
                / max(short["rss_training_growth_mb"], 1.0),
                "shortlist_over_dense_inference_speed": short["inference_docs_per_second"]
                / dense["inference_docs_per_second"],
            }
            print(
                f"{count:,} labels, dense / shortlist: "
                + ", ".join(f"{k} {v:.2f}" for k, v in ratios[str(count)].items())
            )
    record = {
        "benchmark": "gudn_scale",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join([Path(__file__).name, *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "threads": 1},
        "setup": {
            "hidden_size": HIDDEN,
            "encoder_layers": 2,
            "seq_len": SEQ_LEN,
            "positives_per_text": POSITIVES,
            "cluster_size": CLUSTER_SIZE,
            "batch_size": args.batch_size,
            "optimizer": "AdamW",
            "step": "text + label-text pass, class/feature/link losses, backward, optimizer step",
        },  # fmt: skip
        "rows": rows,
        "ratios": ratios,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
