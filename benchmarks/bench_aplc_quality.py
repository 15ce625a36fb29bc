"""APLC quality on debtags: MiniLM + APLC fine-tuned within a time budget, beside TF-IDF peers measured in the same run.

Peers (TF-IDF on the same train texts, evaluated on the same test examples): napkinXC PLT, omikuji Parabel and
omikuji Bonsai. APLC runs through the same recipe as `hf-xmc train aplc`; the number of optimizer steps is set from
a timed calibration so that training fits in `--minutes`. Metrics: P@1/3/5, nDCG@3/5, PSP@1/3/5 (normalised, the XMC
repository's convention), from `hf_xmc.metrics.compute_xmc_metrics`. Writes JSON.

    OMP_NUM_THREADS=2 python benchmarks/bench_aplc_quality.py --minutes 60                  # the full run
    OMP_NUM_THREADS=2 python benchmarks/bench_aplc_quality.py --minutes 4 --max_length 64 --max_eval_samples 3000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from transformers import TrainerCallback

from hf_xmc.data import load_xmc_dataset
from hf_xmc.metrics import compute_xmc_metrics
from hf_xmc.training.aplc_recipe import (
    APLCDataArguments,
    APLCModelArguments,
    APLCTrainingArguments,
    default_encoder_path,
    format_metrics_table,
    load_or_create_model,
    run_aplc_recipe,
    sample_split,
)

RESULTS = Path(__file__).resolve().parent / "results"
REPORTED = ("P@1", "P@3", "P@5", "nDCG@3", "nDCG@5", "PSP@1_norm", "PSP@3_norm", "PSP@5_norm")


def tfidf_features(train_texts, test_texts):
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=200_000)
    return vectorizer.fit_transform(train_texts), vectorizer.transform(test_texts)


def write_xc_file(path: Path, features, label_lists, num_labels: int) -> None:
    """The Extreme Classification Repository's text format, which omikuji reads."""
    features = features.tocsr()
    with open(path, "w") as handle:
        handle.write(f"{features.shape[0]} {features.shape[1]} {num_labels}\n")
        for row, labels in enumerate(label_lists):
            start, end = features.indptr[row], features.indptr[row + 1]
            pairs = " ".join(f"{j}:{v:.6f}" for j, v in zip(features.indices[start:end], features.data[start:end]))
            handle.write(f"{','.join(map(str, labels))} {pairs}\n")


def run_napkinxc_plt(train_x, train_y, test_x, workdir: Path) -> np.ndarray:
    from napkinxc.models import PLT

    model = PLT(str(workdir / "plt"), seed=0, threads=2)
    model.fit(train_x, train_y)
    return [[label for label, _ in row] for row in model.predict_proba(test_x, top_k=5)]


@contextlib.contextmanager
def quiet_native_output():
    """omikuji's Rust logger writes a progress line per example to the process's stderr: mute fds 1 and 2."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_omikuji(train_x, train_y, test_x, num_labels: int, workdir: Path, bonsai: bool):
    import omikuji

    data_path = workdir / "omikuji_train.txt"
    if not data_path.exists():
        write_xc_file(data_path, train_x, train_y, num_labels)
    hyper_param = omikuji.Model.default_hyper_param()
    if bonsai:  # omikuji's README: Bonsai = unbalanced 100-way clustering, depth 3
        hyper_param.cluster_balanced = False
        hyper_param.cluster_k = 100
        hyper_param.max_depth = 3
    with quiet_native_output():
        model = omikuji.Model.train_on_data(str(data_path), hyper_param, n_threads=2)
    test_x = test_x.tocsr()
    predictions = []
    for row in range(test_x.shape[0]):
        start, end = test_x.indptr[row], test_x.indptr[row + 1]
        pairs = list(zip(test_x.indices[start:end].tolist(), test_x.data[start:end].tolist()))
        predictions.append([label for label, _ in model.predict(pairs, top_k=5)])
    return predictions


class TimeBudgetCallback(TrainerCallback):
    """Stops training once the budget is spent (the step count is only an estimate on a shared machine)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.start > self.seconds:
            control.should_training_stop = True


def calibrate_step_seconds(model_args, data_args, training_args, vocabulary, texts) -> float:
    """Seconds per optimizer step at this batch size and length: the median of 4 steps after 2 warm-up steps."""
    from transformers import AutoTokenizer

    model = load_or_create_model(model_args, vocabulary).train()
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path or default_encoder_path())
    batch = tokenizer(
        texts[: training_args.per_device_train_batch_size],
        truncation=True,
        max_length=data_args.max_length,
        padding=True,
        return_tensors="pt",
    )
    labels = torch.randint(0, len(vocabulary), (batch["input_ids"].shape[0], 4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times = []
    for _ in range(6):
        start = time.perf_counter()
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return float(np.median(times[2:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="debtags")
    parser.add_argument("--minutes", type=float, default=60.0, help="training budget of APLC")
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_eval_samples", type=int, default=0, help="0: the whole test split")
    defaults = APLCTrainingArguments.__dataclass_fields__  # the recipe's defaults, one place
    for name in ("learning_rate", "learning_rate_hidden", "learning_rate_aplc"):
        parser.add_argument(f"--{name}", type=float, default=defaults[name].default)
    parser.add_argument("--skip_peers", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", type=Path, default=RESULTS / "aplc_quality.json")
    args = parser.parse_args()

    xmc = load_xmc_dataset(args.dataset)
    vocabulary = xmc.vocabulary
    train = xmc.splits["train"]
    test = sample_split(xmc.splits["test"], args.max_eval_samples, args.seed)  # the recipe's own selection
    references = [list(labels) for labels in test["labels"]]
    train_y = [list(labels) for labels in train["labels"]]
    train_texts, test_texts = list(train["text"]), list(test["text"])
    metric_kwargs = {"label_counts": vocabulary.counts, "num_train_docs": vocabulary.num_train_docs}
    results = {}

    if not args.skip_peers:
        train_x, test_x = tfidf_features(train_texts, test_texts)
        with tempfile.TemporaryDirectory() as workdir:
            peers = {
                "napkinxc PLT (TF-IDF)": lambda: run_napkinxc_plt(train_x, train_y, test_x, Path(workdir)),
                "omikuji Parabel (TF-IDF)": lambda: run_omikuji(
                    train_x, train_y, test_x, len(vocabulary), Path(workdir), bonsai=False
                ),
                "omikuji Bonsai (TF-IDF)": lambda: run_omikuji(
                    train_x, train_y, test_x, len(vocabulary), Path(workdir), bonsai=True
                ),
            }
            for name, run in peers.items():
                start = time.perf_counter()
                predictions = run()
                seconds = time.perf_counter() - start
                metrics = compute_xmc_metrics(predictions, references, num_labels=len(vocabulary), **metric_kwargs)
                results[name] = {"metrics": metrics, "seconds": seconds}
                print(format_metrics_table(metrics, f"{name}: train + predict {seconds:.0f} s"))

    data_args = APLCDataArguments(
        dataset_name_or_path=args.dataset,
        max_length=args.max_length,
        max_train_samples=0,
        max_eval_samples=args.max_eval_samples,
    )
    model_args = APLCModelArguments()
    output_dir = tempfile.mkdtemp(prefix="aplc_quality_")
    step_seconds = calibrate_step_seconds(
        model_args,
        data_args,
        APLCTrainingArguments(output_dir=output_dir, per_device_train_batch_size=args.batch_size),
        vocabulary,
        train_texts,
    )
    max_steps = max(1, int(args.minutes * 60 / step_seconds))
    print(
        f"calibration: {step_seconds:.2f} s per step -> {max_steps} steps ({max_steps * args.batch_size / len(train):.2f} epochs)"
    )
    training_args = APLCTrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=args.batch_size,
        max_steps=max_steps,
        learning_rate=args.learning_rate,
        learning_rate_hidden=args.learning_rate_hidden,
        learning_rate_aplc=args.learning_rate_aplc,
        save_strategy="no",
        logging_steps=50,
        seed=args.seed,
    )
    start = time.perf_counter()
    outcome = run_aplc_recipe(data_args, model_args, training_args, callbacks=[TimeBudgetCallback(args.minutes * 60)])
    aplc_name = f"MiniLM + APLC ({args.minutes:g} min budget)"
    results[aplc_name] = {
        "metrics": outcome["metrics"],
        "seconds": time.perf_counter() - start,
        "train_seconds": outcome["train_metrics"].get("train_runtime"),
        "steps_planned": max_steps,
        "steps_done": outcome["global_step"],
        "epochs_done": outcome["global_step"] * args.batch_size / len(train),
    }

    print(f"\n{args.dataset} test ({len(test)} examples), percent; PSP normalised")
    print(f"{'method':<34}" + "".join(f"{key.removesuffix('_norm'):>9}" for key in REPORTED) + f"{'seconds':>9}")
    for name, result in results.items():
        cells = "".join(f"{100 * result['metrics'][key]:9.2f}" for key in REPORTED)
        print(f"{name:<34}{cells}{result['seconds']:9.0f}")
    record = {
        "dataset": args.dataset,
        "num_test_examples": len(test),
        "settings": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "results": results,
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
