"""Speed and memory of `hf_xmc.metrics.compute_xmc_metrics` against `napkinxc.metrics`, same data, same run.

Synthetic XMC evaluation: N documents, L labels with Zipf-like popularity, 1-10 relevant labels per document, a
top-100 ranking per document (some relevant labels near the top, the rest random distinct ids).

Timed:
- napkinXC: `precision_at_k`, `ndcg_at_k`, `psprecision_at_k` at k=5 (lists of ids, its fastest input);
- ours: `compute_xmc_metrics(k=[1, 3, 5], label_counts=..., num_train_docs=...)` (P, nDCG, R, coverage and all PS
  metrics at 1/3/5, a superset) on an (n, 100) id array, on the same lists napkinXC gets, and on a CSR score matrix;
- the `evaluate` module (`hf_xmc.load_metric().compute(...)`, Arrow cache included) on the lists;
- ours on 1M documents.
Peak extra memory of ours is measured with tracemalloc (numpy reports its buffers to it).

    python benchmarks/bench_metrics.py                       # full run, writes benchmarks/results/metrics.json
    python benchmarks/bench_metrics.py --num-docs 20000 --large-num-docs 0 --skip-evaluate   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hf_xmc.data.propensity import inverse_propensity
from hf_xmc.metrics import compute_xmc_metrics

KS = [1, 3, 5]
NUM_TRAIN_DOCS = 1_000_000


def make_data(num_docs: int, num_labels: int, top: int, seed: int = 0):
    """References (CSR), rankings (n, top) of distinct ids, training label counts."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, num_labels + 1) ** 0.9
    popularity /= popularity.sum()
    per_doc = rng.integers(1, 11, num_docs)
    indptr = np.concatenate([[0], np.cumsum(per_doc)])
    indices = rng.choice(num_labels, size=indptr[-1], p=popularity)
    references = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(num_docs, num_labels))
    references.sum_duplicates()
    references.data[:] = 1.0

    # 10 leading slots: a relevant label with probability 0.4, else a popular label; then `top` random distinct ids
    lengths = np.diff(references.indptr)
    picks = references.indptr[:-1, None] + (rng.random((num_docs, 10)) * lengths[:, None]).astype(np.int64)
    leading = np.where(
        rng.random((num_docs, 10)) < 0.4,
        references.indices[picks],
        rng.choice(num_labels, (num_docs, 10), p=popularity),
    )
    gaps = rng.integers(1, max(2, num_labels // (top + 1)), (num_docs, top))
    tail = (rng.integers(0, num_labels, (num_docs, 1)) + np.cumsum(gaps, axis=1)) % num_labels
    candidates = np.concatenate([leading, tail], axis=1)
    # drop repeats keeping the first occurrence, then compact each row
    order = np.argsort(candidates, axis=1, kind="stable")
    ordered = np.take_along_axis(candidates, order, axis=1)
    first = np.ones_like(candidates, dtype=bool)
    repeated = np.zeros_like(ordered, dtype=bool)
    repeated[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    np.put_along_axis(first, order, ~repeated, axis=1)
    compact = np.argsort(~first, axis=1, kind="stable")
    rankings = np.take_along_axis(candidates, compact, axis=1)[:, :top]

    counts = np.bincount(rng.choice(num_labels, size=NUM_TRAIN_DOCS * 5, p=popularity), minlength=num_labels)
    return references, rankings, counts


def best_time(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_memory(function) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def run(args) -> dict:
    references, rankings, counts = make_data(args.num_docs, args.num_labels, args.top, args.seed)
    options = dict(k=KS, label_counts=counts, num_train_docs=NUM_TRAIN_DOCS)
    inv_propensity = inverse_propensity(counts, NUM_TRAIN_DOCS)
    reference_lists = [references.indices[a:b].tolist() for a, b in zip(references.indptr[:-1], references.indptr[1:])]
    ranking_lists = rankings.tolist()
    rows = np.repeat(np.arange(args.num_docs), args.top)
    score_matrix = sp.csr_matrix(
        (np.tile(1.0 - np.arange(args.top) / args.top, args.num_docs), (rows, rankings.ravel())),
        shape=(args.num_docs, args.num_labels),
    )
    report = {
        "config": {
            "num_docs": args.num_docs,
            "num_labels": args.num_labels,
            "top": args.top,
            "ks": KS,
            "relevant_per_doc": round(references.nnz / args.num_docs, 3),
            "seed": args.seed,
        },
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "seconds": {},
    }
    seconds = report["seconds"]

    seconds["ours_id_array"], ours = best_time(lambda: compute_xmc_metrics(rankings, references, **options), 3)
    seconds["ours_lists"], _ = best_time(lambda: compute_xmc_metrics(ranking_lists, reference_lists, **options), 3)
    seconds["ours_csr_scores"], from_scores = best_time(
        lambda: compute_xmc_metrics(score_matrix, references, **options), 3
    )
    assert from_scores == ours
    print(
        f"ours: id array {seconds['ours_id_array']:.3f}s, lists {seconds['ours_lists']:.3f}s, "
        f"CSR scores {seconds['ours_csr_scores']:.3f}s; P@1 {ours['P@1']:.4f}, PSP@5_norm {ours['PSP@5_norm']:.4f}"
    )

    peak = peak_memory(lambda: compute_xmc_metrics(rankings, references, **options))
    report["memory"] = {
        "ours_peak_extra_bytes": peak,
        "per_document_per_k_bytes": round(peak / (args.num_docs * max(KS)), 1),
        "input_id_array_bytes": rankings.nbytes,
        "dense_float32_scores_bytes_for_comparison": args.num_docs * args.num_labels * 4,
    }
    print(
        f"ours peak extra memory {peak / 2**20:.1f} MiB ({report['memory']['per_document_per_k_bytes']} B per doc per k)"
    )

    if not args.skip_napkinxc:
        from napkinxc import metrics as napkinxc_metrics

        def napkinxc_run():
            return {
                "P": napkinxc_metrics.precision_at_k(reference_lists, ranking_lists, k=max(KS)),
                "nDCG": napkinxc_metrics.ndcg_at_k(reference_lists, ranking_lists, k=max(KS)),
                "PSP_norm": napkinxc_metrics.psprecision_at_k(
                    reference_lists, ranking_lists, inv_propensity, k=max(KS)
                ),
            }

        seconds["napkinxc"], theirs = best_time(napkinxc_run, args.napkinxc_repeats)
        differences = (
            [abs(ours[f"P@{k}"] - theirs["P"][k - 1]) for k in KS]
            + [abs(ours[f"nDCG@{k}"] - theirs["nDCG"][k - 1]) for k in KS]
            + [abs(ours[f"PSP@{k}_norm"] - theirs["PSP_norm"][k - 1]) for k in KS]
        )
        report["max_abs_difference_to_napkinxc"] = max(differences)
        report["ratio_ours_to_napkinxc"] = {
            name: round(seconds[name] / seconds["napkinxc"], 4)
            for name in ("ours_id_array", "ours_lists", "ours_csr_scores")
        }
        print(
            f"napkinxc {seconds['napkinxc']:.3f}s; ratios {report['ratio_ours_to_napkinxc']}; "
            f"max |difference| {report['max_abs_difference_to_napkinxc']:.2e}"
        )

    if not args.skip_evaluate:
        from hf_xmc.metrics import load_metric

        metric = load_metric()
        seconds["evaluate_module"], via_evaluate = best_time(
            lambda: metric.compute(predictions=ranking_lists, references=reference_lists, **options), 1
        )
        assert via_evaluate == ours
        print(f"evaluate module {seconds['evaluate_module']:.3f}s")

    if args.large_num_docs:
        large_refs, large_rankings, large_counts = make_data(args.large_num_docs, args.num_labels, args.top, args.seed)
        large_options = dict(k=KS, label_counts=large_counts, num_train_docs=NUM_TRAIN_DOCS)
        key = f"ours_id_array_{args.large_num_docs}_docs"
        seconds[key], _ = best_time(lambda: compute_xmc_metrics(large_rankings, large_refs, **large_options), 2)
        large_peak = peak_memory(lambda: compute_xmc_metrics(large_rankings, large_refs, **large_options))
        report["memory"][f"ours_peak_extra_bytes_{args.large_num_docs}_docs"] = large_peak
        print(f"ours on {args.large_num_docs} documents: {seconds[key]:.3f}s, peak extra {large_peak / 2**20:.1f} MiB")
    report["seconds"] = {name: round(value, 4) for name, value in seconds.items()}
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-docs", type=int, default=100_000)
    parser.add_argument("--num-labels", type=int, default=500_000)
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--large-num-docs", type=int, default=1_000_000, help="0 to skip")
    parser.add_argument("--napkinxc-repeats", type=int, default=1)
    parser.add_argument("--skip-napkinxc", action="store_true")
    parser.add_argument("--skip-evaluate", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "metrics.json")
    args = parser.parse_args()
    report = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
