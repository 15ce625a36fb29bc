"""APLC size and speed at the paper's Wiki-500K setting, against a full linear output layer (same run, same machine).

500,000 labels, d = 512, four equal clusters, q = 2. Prints (and writes as JSON):

1. the APLC parameter count beside eq. 6 (they must be equal), the full layer's `d L` (eq. 8), and the ratio beside
   eq. 9's prediction;
2. a training step of the output layer (forward + backward, batch 32, positives drawn from a Zipf label distribution,
   as in XMC data) of APLC against `Linear(d, L)` + `BCEWithLogitsLoss`;
3. top-5 inference: the pruned search (`AdaptiveProbabilisticLabelClusters.top_k`) against scoring every label then
   taking the top 5, on a layer first trained for a few steps on the same synthetic task, with the top-5 compared.
   The pruned search is timed twice: with float32 cluster scoring (cluster pruning alone) and with its default int8
   screening of each visited cluster (`screening.py`, exact by a proven error bound).

    OMP_NUM_THREADS=2 python benchmarks/bench_aplc_speed.py            # writes benchmarks/results/aplc_speed.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hf_xmc.models.aplc import AdaptiveProbabilisticLabelClusters, eq6_num_parameters, resolve_cluster_sizes

RESULTS = Path(__file__).resolve().parent / "results"


class SyntheticTask:
    """Hidden states that carry their labels: the sum of fixed random label embeddings plus noise."""

    def __init__(self, num_labels: int, dim: int, seed: int, exponent: float, per_example: int):
        self.rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(seed)
        self.label_embeddings = torch.randn(num_labels, dim, generator=generator) / dim**0.5
        self.generator = generator
        self.num_labels, self.exponent, self.per_example = num_labels, exponent, per_example
        self.weights = 1.0 / np.arange(1, num_labels + 1) ** exponent
        self.weights /= self.weights.sum()

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.as_tensor(
            np.stack(
                [
                    self.rng.choice(self.num_labels, self.per_example, replace=False, p=self.weights)
                    for _ in range(size)
                ]
            ),
            dtype=torch.long,
        )
        hidden = self.label_embeddings[ids].sum(1) + 0.1 * torch.randn(
            size, self.label_embeddings.shape[1], generator=self.generator
        )
        return hidden, ids


def interleaved_median_seconds(functions: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each function, run in turn (so a noisy, shared machine slows them alike)."""
    for function in functions.values():
        function()  # warm-up
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def reference_style_top5(aplc: AdaptiveProbabilisticLabelClusters, hidden: torch.Tensor):
    """Full scoring as the reference code's `predict`: every probability σ(head), σ(root)·σ(tail), concatenated."""
    head_logits = aplc.head(hidden)
    parts = [torch.sigmoid(head_logits[:, : aplc.head_size])]
    for index, tail in enumerate(aplc.tail_clusters):
        parts.append(torch.sigmoid(head_logits[:, aplc.head_size + index, None]) * torch.sigmoid(tail(hidden)))
    return torch.cat(parts, dim=1).topk(5, dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_labels", type=int, default=500_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=4)
    parser.add_argument("--q", type=float, default=2.0)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--positives", type=int, default=5, help="positive labels per example (Wiki-500K: 4.75)")
    parser.add_argument("--zipf_exponent", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--fit_steps", type=int, default=30, help="training steps before the inference benchmark")
    parser.add_argument("--output", type=Path, default=RESULTS / "aplc_speed.json")
    args = parser.parse_args()
    torch.manual_seed(0)

    sizes = resolve_cluster_sizes([1.0 / args.clusters] * args.clusters, args.num_labels)
    aplc = AdaptiveProbabilisticLabelClusters(args.dim, sizes, args.q)
    full = nn.Linear(args.dim, args.num_labels, bias=False)
    aplc_params = sum(p.numel() for p in aplc.parameters())
    eq6 = eq6_num_parameters(args.dim, sizes, args.q)
    eq9 = args.num_labels / sum(size / args.q**i for i, size in enumerate(sizes))
    full_params = sum(p.numel() for p in full.parameters())
    print(f"labels {args.num_labels:,}, d {args.dim}, clusters {sizes}, q {args.q}")
    print(f"APLC parameters {aplc_params:,} | eq. 6 {eq6:,.0f} | equal: {aplc_params == eq6}")
    print(
        f"full linear parameters (eq. 8, d L) {full_params:,} | ratio {full_params / aplc_params:.3f} "
        f"| eq. 9 predicts {eq9:.3f}"
    )

    task = SyntheticTask(args.num_labels, args.dim, seed=0, exponent=args.zipf_exponent, per_example=args.positives)
    hidden, ids = task.batch(args.batch_size)
    multi_hot = torch.zeros(args.batch_size, args.num_labels)
    multi_hot.scatter_(1, ids, 1.0)
    bce = nn.BCEWithLogitsLoss()
    tail_rows = [int(((ids >= s) & (ids < s + n)).any(1).sum()) for s, n in zip(aplc.cluster_offsets[1:], sizes[1:])]
    print(f"rows of the batch accessing each tail cluster: {tail_rows}")

    def aplc_step():
        aplc.zero_grad(set_to_none=True)
        aplc.loss(hidden, ids).backward()

    def full_step():
        full.zero_grad(set_to_none=True)
        bce(full(hidden), multi_hot).backward()

    step_times = interleaved_median_seconds({"aplc": aplc_step, "full": full_step}, args.repeats)
    aplc_step_s, full_step_s = step_times["aplc"], step_times["full"]
    print(
        f"training step (fwd+bwd, batch {args.batch_size}): APLC {aplc_step_s * 1e3:.1f} ms | full linear + BCE "
        f"{full_step_s * 1e3:.1f} ms | ratio {full_step_s / aplc_step_s:.2f}x"
    )
    full.zero_grad(set_to_none=True)  # free its gradient before fitting

    # Inference on a fitted layer. A trained layer has a distinct vector for every label; 30 steps see ~5,000 of the
    # 500,000 labels, so the label weights start from the task's label embeddings (the direction training moves them
    # to; tail weights through their cluster's projection) and the fit teaches the roots how rarely each tail cluster
    # is relevant, which is what pruning uses.
    with torch.no_grad():
        embeddings = task.label_embeddings * args.dim**0.5
        aplc.head.weight[: aplc.head_size] = embeddings[: aplc.head_size]
        for tail, start, size in zip(aplc.tail_clusters, aplc.cluster_offsets[1:], sizes[1:]):
            projection = tail.projection.weight
            tail.output.weight.copy_(
                embeddings[start : start + size] @ projection.T @ torch.linalg.pinv(projection @ projection.T)
            )
    optimizer = torch.optim.Adam(aplc.parameters(), lr=1e-2)
    fit_start = time.perf_counter()
    for _ in range(args.fit_steps):
        fit_hidden, fit_ids = task.batch(args.batch_size)
        optimizer.zero_grad(set_to_none=True)
        aplc.loss(fit_hidden, fit_ids).backward()
        optimizer.step()
    del optimizer
    print(f"fitted the layer for {args.fit_steps} steps in {time.perf_counter() - fit_start:.0f} s")
    aplc.eval()
    query, query_ids = task.batch(args.batch_size)
    visits = []
    for tail in aplc.tail_clusters:
        tail.projection.register_forward_hook(lambda module, inputs, output: visits.append(inputs[0].shape[0]))
    with torch.no_grad():
        exact = aplc.top_k(query, 5, screening="none")
        visited_fraction = sum(visits) / (args.batch_size * aplc.num_tail_clusters)
        dense_top = aplc.logits(query).topk(5, dim=1)
        build_start = time.perf_counter()
        screened = aplc.top_k(query, 5)  # the default: int8-screened clusters; this first call builds the screens
        first_call_s = time.perf_counter() - build_start
        identical = bool(torch.equal(dense_top.indices, exact[1])) and bool(
            torch.equal(dense_top.indices, screened[1])
        )
        # Probabilities saturate to 1.0 in float32 where logits do not, so the reference's order is compared up to ties:
        # our labels must carry its top-5 probabilities (to float32 rounding).
        reference_values = reference_style_top5(aplc, query).values
        our_probabilities = torch.sigmoid(aplc.logits(query)).gather(1, exact[1])
        identical_reference = bool(torch.allclose(reference_values, our_probabilities, rtol=1e-5, atol=1e-7))
        beam_ids = aplc.top_k(query, 5, beam=1)[1]
        beam_overlap = float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(beam_ids.tolist(), exact[1].tolist())]))
        hits = float(np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact[1].tolist(), query_ids.tolist())]))

        def every_cluster_top5(screening: str):
            """The search's worst case: no tail cluster pruned, every row scores every cluster."""
            aplc._cluster_top_k("head", query, aplc.head.weight[: aplc.head_size], 5, screening)
            for index, tail in enumerate(aplc.tail_clusters):
                aplc._cluster_top_k(f"tail{index}", tail.project(query), tail.output.weight, 5, screening)

        infer = interleaved_median_seconds(
            {
                "dense_logits": lambda: aplc.logits(query).topk(5, dim=1),
                "reference_style": lambda: reference_style_top5(aplc, query),
                "pruned_exact_float32": lambda: aplc.top_k(query, 5, screening="none"),
                "pruned_exact": lambda: aplc.top_k(query, 5),
                "pruned_beam1": lambda: aplc.top_k(query, 5, beam=1),
                "every_cluster_float32": lambda: every_cluster_top5("none"),
                "every_cluster_screened": lambda: every_cluster_top5("auto"),
                "full_linear": lambda: full(query).topk(5, dim=1),  # the flat output layer APLC replaces
            },
            args.repeats,
        )
    print(
        f"top-5 inference (batch {args.batch_size}, ms): dense logits {infer['dense_logits'] * 1e3:.1f} | "
        f"reference-style probabilities {infer['reference_style'] * 1e3:.1f} | pruned exact, float32 clusters "
        f"{infer['pruned_exact_float32'] * 1e3:.1f} | pruned exact, int8-screened clusters "
        f"{infer['pruned_exact'] * 1e3:.1f} | pruned beam=1 {infer['pruned_beam1'] * 1e3:.1f}"
    )
    print(
        f"  cluster pruning alone vs dense: {infer['dense_logits'] / infer['pruned_exact_float32']:.2f}x; "
        f"exact pruning + screening vs dense: {infer['dense_logits'] / infer['pruned_exact']:.2f}x, vs reference-style: "
        f"{infer['reference_style'] / infer['pruned_exact']:.2f}x; identical top-5: {identical and identical_reference}"
        f"; (row, tail cluster) pairs visited {visited_fraction:.0%}; beam=1: "
        f"{infer['dense_logits'] / infer['pruned_beam1']:.2f}x vs dense, top-5 overlap with exact {beam_overlap:.2f}; "
        f"P@5 of the fitted layer on the synthetic task {hits:.2f}; exact pruning vs a full linear layer's top-5: "
        f"{infer['full_linear'] / infer['pruned_exact']:.2f}x; first screened call (builds the int8 copies, once per "
        f"weight version) {first_call_s:.1f} s"
    )
    print(
        f"  worst case, no cluster pruned (every row scores every cluster): float32 "
        f"{infer['every_cluster_float32'] * 1e3:.1f} ms, int8-screened {infer['every_cluster_screened'] * 1e3:.1f} ms "
        f"({infer['dense_logits'] / infer['every_cluster_screened']:.2f}x faster than dense)"
    )

    result = {
        "setting": {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
        "cluster_sizes": sizes,
        "aplc_parameters": aplc_params,
        "eq6_parameters": eq6,
        "parameters_equal_eq6": aplc_params == eq6,
        "full_linear_parameters": full_params,
        "parameter_ratio": full_params / aplc_params,
        "eq9_ratio": eq9,
        "train_step_ms": {"aplc": aplc_step_s * 1e3, "full_linear_bce": full_step_s * 1e3},
        "train_step_ratio": full_step_s / aplc_step_s,
        "tail_rows_accessed": tail_rows,
        "top5_inference_ms": {name: value * 1e3 for name, value in infer.items()},
        "top5_pruned_exact_speedup_vs_dense": infer["dense_logits"] / infer["pruned_exact"],
        "top5_pruned_float32_speedup_vs_dense": infer["dense_logits"] / infer["pruned_exact_float32"],
        "top5_pruned_exact_speedup_vs_reference_style": infer["reference_style"] / infer["pruned_exact"],
        "top5_pruned_beam1_speedup_vs_dense": infer["dense_logits"] / infer["pruned_beam1"],
        "top5_pruned_exact_speedup_vs_full_linear": infer["full_linear"] / infer["pruned_exact"],
        "top5_identical": identical and identical_reference,
        "first_screened_call_s": first_call_s,
        "tail_pairs_visited_fraction": visited_fraction,
        "beam1_top5_overlap_with_exact": beam_overlap,
        "synthetic_p_at_5": hits,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
