"""Regenerate the README's benchmark section from `benchmarks/results/*.json`.

    python benchmarks/report.py            # rewrite README.md between the BENCHMARKS markers
    python benchmarks/report.py --print    # print the tables only

The numbers are never typed by hand: each table reads the JSON its benchmark script wrote
(`bench_data.py`, `bench_metrics.py`, `bench_aplc_speed.py`, `bench_quality.py`, `bench_scale.py`,
`bench_decision.py`, `bench_retrieval.py`, `bench_gudn_scale.py`, `bench_maclr.py`, `bench_xlgen.py`, `bench_xda.py`,
`bench_main_job.py`: the set-up section's line between the MAIN_JOB markers); the quality tables also write their
plots, `docs/quality_<dataset>.png`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- BENCHMARKS:START -->", "<!-- BENCHMARKS:END -->"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


CLI_ROWS = {
    "import_hf_xmc_data": '`python -c "import hf_xmc.data"`',
    "hf_xmc_help": "`hf-xmc --help`",
    "hf_xmc_data_describe_deps_dev": "`hf-xmc data describe` deps-dev (36,677 labels)",
}


def cli_rows(cli: dict | None) -> list[str]:
    """Start-up rows: each command beside `python -c "import numpy"` timed in the same run (fresh processes)."""
    if not cli:
        return []
    numpy_s = cli["seconds"]["import_numpy"]
    rows = []
    for name, what in CLI_ROWS.items():
        if name not in cli["seconds"]:
            continue
        extra = cli["extra_over_import_numpy_s"][name]
        if name == "hf_xmc_data_describe_deps_dev" and "load_deps_dev_in_process_s" in cli:
            target = f"its load alone: {cli['load_deps_dev_in_process_s']:.2f} s"
        else:
            target = f"<= +{cli['target_extra_s']:.1f} s"
        rows.append(
            f"| {what} | {cli['seconds'][name]:.2f} s | `import numpy` {numpy_s:.2f} s | "
            f"{'+' if extra >= 0 else '-'}{abs(extra):.2f} s ({cli['ratio_to_import_numpy'][name]:.1f}x) | {target} |"
        )
    return rows


def data_section(result: dict) -> list[str]:
    bow, lf, space = result["bow"], result["lf"], result["label_space"]
    lines = [
        "### Data layer (`python benchmarks/bench_data.py`)",
        "",
        "| what | hf-xmc | peer (same run) | ratio | target |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| load Bibtex BoW ({bow['file']}) | {bow['load_xmc_dataset_s']:.2f} s | sklearn `load_svmlight_file` "
        f"{bow['sklearn_load_svmlight_file_s']:.2f} s | {bow['ratio_full_load_vs_sklearn']:.2f}x | <= {bow['target_ratio']}x |",
        f"| load {lf['data_set']} | {lf['load_xmc_dataset_s']:.2f} s | plain gzip+json loop "
        f"{lf['plain_gzip_json_loop_s']:.2f} s | {lf['ratio_vs_plain_loop']:.2f}x | <= {lf['target_ratio']}x |",
        *cli_rows(result.get("cli")),
        "",
        f"Synthetic label space, {space['num_docs']:,} docs x {space['num_labels']:,} labels "
        f"({space['label_assignments']:,} assignments): total {space['total_seconds']:.1f} s, "
        f"largest step peak {space['max_step_peak_mib']:.0f} MiB; 4x the size costs "
        f"{result.get('label_space_growth_4x_size', float('nan')):.2f}x the time (balanced 2-means is O(L log L); "
        "nothing is quadratic in L).",
        "",
        "| step | seconds | peak MiB |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {step['seconds']:.2f} | {step['peak_mib']:.0f} |" for name, step in space["steps"].items()]
    return lines + [""]


def metrics_section(result: dict) -> list[str]:
    config, seconds, ratio = result["config"], result["seconds"], result["ratio_ours_to_napkinxc"]
    memory = result["memory"]
    return [
        "### Metrics (`python benchmarks/bench_metrics.py`)",
        "",
        f"{config['num_docs']:,} docs x {config['num_labels']:,} labels, top-{config['top']} predictions; "
        f"P@1/3/5 + nDCG@1/3/5 + PSP@1/3/5 (napkinXC: precision, ndcg, psprecision at 5). Largest difference to "
        f"napkinXC: {result['max_abs_difference_to_napkinxc']:.1e}.",
        "",
        "| input | seconds | ratio to napkinXC (target <= 0.5x) |",
        "| --- | ---: | ---: |",
        f"| napkinXC `metrics` | {seconds['napkinxc']:.2f} | 1.00x |",
        f"| ours, n x k id array | {seconds['ours_id_array']:.2f} | {ratio['ours_id_array']:.2f}x |",
        f"| ours, ragged lists | {seconds['ours_lists']:.2f} | {ratio['ours_lists']:.2f}x |",
        f"| ours, CSR scores | {seconds['ours_csr_scores']:.2f} | {ratio['ours_csr_scores']:.2f}x |",
        f"| `evaluate` module (Arrow cache included) | {seconds['evaluate_module']:.2f} | "
        f"{seconds['evaluate_module'] / seconds['napkinxc']:.2f}x |",
        f"| ours, 1M docs | {seconds['ours_id_array_1000000_docs']:.2f} | |",
        "",
        f"Peak extra memory {memory['ours_peak_extra_bytes'] / 2**20:.0f} MiB "
        f"({memory['per_document_per_k_bytes']:.0f} bytes per document per k: O(n k), never O(n L)).",
        "",
    ]


def aplc_speed_section(result: dict) -> list[str]:
    setting = result["setting"]
    inference = result["top5_inference_ms"]
    lines = [
        "### APLC output layer (`python benchmarks/bench_aplc_speed.py`)",
        "",
        f"{setting['num_labels']:,} labels, d = {setting['dim']}, {setting['clusters']} equal clusters, "
        f"q = {setting['q']}, batch {setting['batch_size']}, Zipf positives; against a full linear layer + "
        "BCE-with-logits in the same run.",
        "",
        "| what | APLC | baseline (same run) | ratio | target |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| parameters (eq. 6: {int(result['eq6_parameters']):,}) | {result['aplc_parameters']:,} | "
        f"{result['full_linear_parameters']:,} | {result['parameter_ratio']:.2f}x | eq. 9: "
        f"{result['eq9_ratio']:.2f}x |",
        f"| training step (fwd + bwd) | {result['train_step_ms']['aplc']:.0f} ms | "
        f"{result['train_step_ms']['full_linear_bce']:.0f} ms | {result['train_step_ratio']:.2f}x | >= 1.8x |",
        f"| top-5 inference, exact pruning + int8 screening vs APLC full scoring | {inference['pruned_exact']:.0f} ms | "
        f"{inference['dense_logits']:.0f} ms "
        f"| {result['top5_pruned_exact_speedup_vs_dense']:.2f}x (identical top-5: {result['top5_identical']}) "
        "| >= 3x |",
    ]
    if "pruned_exact_float32" in inference:
        lines.append(
            f"| top-5 inference, cluster pruning alone (float32) vs APLC full scoring | "
            f"{inference['pruned_exact_float32']:.0f} ms | {inference['dense_logits']:.0f} ms | "
            f"{result['top5_pruned_float32_speedup_vs_dense']:.2f}x | |"
        )
    if "every_cluster_screened" in inference:
        lines.append(
            f"| top-5 inference, worst case (no cluster pruned), int8-screened vs APLC full scoring | "
            f"{inference['every_cluster_screened']:.0f} ms | {inference['dense_logits']:.0f} ms | "
            f"{inference['dense_logits'] / inference['every_cluster_screened']:.2f}x | |"
        )
    if "full_linear" in inference:
        lines_full = [
            f"| top-5 inference, exact pruning vs a full linear layer | {inference['pruned_exact']:.0f} ms | "
            f"{inference['full_linear']:.0f} ms | {result['top5_pruned_exact_speedup_vs_full_linear']:.2f}x | |"
        ]
    else:
        lines_full = []
    notes = [""]
    if "first_screened_call_s" in result:
        notes = [
            "",
            "Inference runs on a fitted layer whose label weights start from the synthetic task's label embeddings (a "
            "trained layer has a distinct vector per label). The int8 screens are derived from the weights once per "
            f"weight version: the first call took {result['first_screened_call_s']:.1f} s. Cluster pairs visited: "
            f"{result['tail_pairs_visited_fraction']:.0%}; beam=1 top-5 overlap with exact: "
            f"{result['beam1_top5_overlap_with_exact']:.2f}.",
            "",
        ]
    return lines + lines_full + notes


QUALITY_COLUMNS = (
    ("P@1", "P@1"), ("P@3", "P@3"), ("P@5", "P@5"), ("nDCG@3", "nDCG@3"), ("nDCG@5", "nDCG@5"),
    ("PSP@1_norm", "PSP@1"), ("PSP@3_norm", "PSP@3"), ("PSP@5_norm", "PSP@5"), ("coverage@5", "cov@5"),
    ("micro_f1@0.5", "µF1 @0.5"), ("micro_f1@tuned", "µF1 tuned"), ("macro_f1@0.5", "MF1 @0.5"),
    ("macro_f1@tuned", "MF1 tuned"),
)  # fmt: skip
PLOTTED = ("P@1", "P@3", "P@5", "PSP@1_norm", "PSP@3_norm", "PSP@5_norm")


def table_header(first: list[str], columns, last: list[str]) -> list[str]:
    """A markdown table's header and alignment rows: text columns `first`, then number columns (`columns`' titles,
    then `last`), right-aligned."""
    numbers = [title for _, title in columns] + last
    return [
        "| " + " | ".join(first + numbers) + " |",
        "| " + " | ".join(["---"] * len(first) + ["---:"] * len(numbers)) + " |",
    ]


def quality_row_label(name: str, row: dict, threads: int | None = None) -> str:
    if row.get("kind") != "hf-xmc":
        return name
    label = row.get("label", name)
    if row.get("epochs") is not None:
        label += f", {row['epochs']:.2f} epochs"
    if row.get("budget_seconds"):
        label += f" in {row['budget_seconds'] / 60:g} min"
    if row.get("threads") not in (None, threads):  # measured with other threads than the file's first run
        label += f", {row['threads']} thread{'s' * (row['threads'] != 1)}"
    return label


def main_rows(rows: dict) -> dict:
    """The peers' and the methods' own rows (ablation rows, `bench_quality.py --methods METHOD:ROW`, apart)."""
    return {name: row for name, row in rows.items() if not row.get("row")}


def ablation_rows(rows: dict) -> dict:
    return {name: row for name, row in rows.items() if row.get("row")}


def quality_table_row(name: str, row: dict, flags: bool = False, threads: int | None = None) -> str:
    metrics = row["metrics"]
    cells = [f"{100 * metrics[key]:.2f}" if key in metrics else "" for key, _ in QUALITY_COLUMNS]
    speed = f"{row['eval_docs_per_second']:.0f}" if row.get("eval_docs_per_second") else ""
    extra_flags = " ".join(row.get("flags", {}).get("extra", []))
    extra = (f" `{extra_flags}` |" if extra_flags else " (the recipe's defaults) |") if flags else ""
    label = quality_row_label(name, row, threads)
    return f"| {label} |{extra} {' | '.join(cells)} | {row['train_seconds']:.0f} | {speed} |"


def quality_plot(result: dict, path: Path) -> None:
    """P@k and PSP@k per model as grouped bars (percent), one group per metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = main_rows(result["rows"])
    names = list(rows)
    width = 0.8 / max(1, len(names))
    positions = np.arange(len(PLOTTED))
    figure, axis = plt.subplots(figsize=(10, 4.2), dpi=110)
    for index, name in enumerate(names):
        values = [100 * rows[name]["metrics"].get(key, float("nan")) for key in PLOTTED]
        bars = axis.bar(positions + (index - (len(names) - 1) / 2) * width, values, width,
                        label=quality_row_label(name, rows[name], result["machine"]["threads"]))  # fmt: skip
        axis.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    axis.set_xticks(positions, [key.removesuffix("_norm") for key in PLOTTED])
    axis.set_ylabel("percent (PSP normalised)")
    axis.set_title(f"{result['dataset']}: test split ({result['num_test_examples']:,} docs)")
    axis.legend(fontsize=8, loc="upper right")
    axis.set_ylim(0, 105)
    axis.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def quality_section(result: dict, plot_path: Path | None = None) -> list[str]:
    dataset = result["dataset"]
    held_out = result.get("num_decision_examples", 0)
    # rows measured before the recipe's default became one global threshold have no field: per label then
    modes = {name: row.get("decision_per_label", result.get("decision_per_label", True)) for name, row in
             result["rows"].items()}  # fmt: skip
    if all(modes.values()):
        how = "micro-F1, per label with a global fallback"
    elif not any(modes.values()):
        how = "micro-F1, one global threshold"
    else:
        global_rows = [name for name, mode in modes.items() if not mode]
        methods = {name.split(":")[0] for name in global_rows}
        # a method whose every row (its ablations too) uses one global threshold is named once
        named = [f"every {method} row" for method in sorted(methods)
                 if all(not mode for name, mode in modes.items() if name.split(":")[0] == method)]  # fmt: skip
        named += [name for name in global_rows if f"every {name.split(':')[0]} row" not in named]
        how = "micro-F1; one global threshold for " + ", ".join(named)
        how += ", per label with a global fallback for the other rows"
    decision = (
        f"decision thresholds ({how}) are tuned on {held_out:,} further held-out training documents"
        if held_out
        else "no decision thresholds were tuned"
    )
    lines = [
        f"### Quality on {dataset} (`python benchmarks/bench_quality.py --dataset {dataset}`)",
        "",
        f"Test split ({result['num_test_examples']:,} docs; {result.get('num_labels', '?')} labels), percent; PSP "
        "normalised by the best achievable value (training counts). Every model trains on the same "
        f"{result.get('num_train_examples', 0):,} documents; {decision}. "
        "Peers: TF-IDF uni+bigrams. hf-xmc methods: their recipe's defaults under a wall-clock training budget "
        "(steps re-planned from the measured step time). µF1/MF1: micro/macro F1 of the decided label sets at a "
        "fixed 0.5 and at the tuned thresholds; docs/s: ranking the test split.",
        "",
        *table_header(["model"], QUALITY_COLUMNS, ["train s", "docs/s"]),
    ]
    threads = result["machine"]["threads"]
    lines += [quality_table_row(name, row, threads=threads) for name, row in main_rows(result["rows"]).items()]
    ablations = ablation_rows(result["rows"])
    if ablations:
        lines += [
            "",
            "Ablations (`bench_quality.py --methods METHOD:ROW`, same documents and budget; the row's flags beside "
            "the method's defaults):",
            "",
            *table_header(["row", "flags"], QUALITY_COLUMNS, ["train s", "docs/s"]),
        ]
        lines += [quality_table_row(name, row, True, threads) for name, row in ablations.items()]
    notes = [f"{result['machine']['device']}, {result['machine']['threads']} threads"]
    runs: dict[str, list[str]] = {}
    for name, row in result["rows"].items():
        runs.setdefault(row.get("measured_at") or result.get("measured_at") or "?", []).append(name)
    if len(runs) > 1:  # rows merged from several runs: say which run measured which
        notes.append("measured " + "; ".join(f"{when} ({', '.join(names)})" for when, names in sorted(runs.items())))
    if result.get("excluded_filter_pairs"):
        notes.append(f"{result['excluded_filter_pairs']:,} filter pairs (filter_labels_test.txt) left out")
    if result.get("measured_at") and len(runs) <= 1:
        notes.append(f"measured {result['measured_at']}")
    if result.get("note"):
        notes.append(result["note"])
    lines += ["", "; ".join(notes) + "."]
    if plot_path is not None:
        quality_plot(result, plot_path)
        lines += ["", f"![quality on {dataset}]({plot_path.relative_to(ROOT).as_posix()})"]
    return lines + [""]


MAIN_JOB_START, MAIN_JOB_END = "<!-- MAIN_JOB:START -->", "<!-- MAIN_JOB:END -->"


def main_job_sentence(result: dict | None) -> str:
    """The set-up section's line on the default run (from `bench_main_job.py`)."""
    if result is None:
        return "(Not measured yet: `python benchmarks/bench_main_job.py` times the default run.)"
    metrics, budget = result["metrics"], result.get("budget") or {}
    peers = result.get("peers") or {}
    best_peer = max(peers.items(), key=lambda item: item[1]["metrics"]["P@1"], default=None)
    peer_text = (
        f"; {best_peer[0]}, fitted on the same documents in the same run, reaches P@1 "
        f"{100 * best_peer[1]['metrics']['P@1']:.1f}"
        if best_peer
        else ""
    )
    steps = f"{result['global_step']:,} steps" + (f" in {budget['train_seconds'] / 60:.1f} min" if budget else "")
    return (
        f"Measured on this project's 2-core CPU machine (`python benchmarks/bench_main_job.py`, "
        f"{result.get('measured_at', '')}): the default `hf-xmc train aplc` takes {result['wall_seconds'] / 60:.1f} "
        f"minutes end to end (without the install; training {steps} on {result['num_train_examples']:,} documents) "
        f"and reaches P@1 {100 * metrics['P@1']:.1f}, P@5 {100 * metrics['P@5']:.1f}, PSP@5 "
        f"{100 * metrics.get('PSP@5_norm', float('nan')):.1f} on {result['num_eval_examples']:,} test documents"
        f"{peer_text}. Longer training gets more: see the quality table under Benchmarks."
    )


def decision_section(result: dict) -> list[str]:
    """Fixed 0.5 vs tuned decision thresholds on one checkpoint (`bench_decision.py`)."""
    lines = [
        f"### Decision thresholds on {result['dataset']} (`python benchmarks/bench_decision.py`)",
        "",
        f"{result.get('description') or result['method'] + ' checkpoint ' + Path(result['model']).name} "
        f"({result['method']}); thresholds tuned on the recipe's "
        f"{result['num_decision_docs']:,} held-out training documents (top {result['top_k']}), scored on "
        f"{result['num_eval_docs']:,} test documents, percent. The recipe tunes one global micro-F1 threshold by "
        "default (`--decision_per_label` for one per label).",
        "",
        "| thresholds | global threshold | micro-F1 | macro-F1 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in result["rows"].items():
        lines.append(
            f"| {name} | {row['threshold']:.3f} | {100 * row['micro_f1']:.2f} | {100 * row['macro_f1']:.2f} |"
        )
    return lines + [""]


SCALE_COLUMNS = (
    ("P@1", "P@1"), ("P@3", "P@3"), ("P@5", "P@5"), ("PSP@1_norm", "PSP@1"), ("PSP@3_norm", "PSP@3"),
    ("PSP@5_norm", "PSP@5"), ("coverage@5", "cov@5"),
)  # fmt: skip


def scale_section(result: dict) -> list[str]:
    """`bench_scale.py` on the full deps-dev: peers, APLC, the shortlist ranker and its fusion ablations."""
    name = Path(result["dataset"]).name
    lines = [
        f"### At 37K labels: {name} (`python benchmarks/bench_scale.py`)",
        "",
        f"{result['num_train_docs']:,} training / {result['num_eval_docs']:,} test documents, "
        f"{result['num_labels']:,} labels with texts, percent, "
        "PSP normalised; cov@5: share of all labels that reach some test document's top 5. Ranker rows: one "
        "trained ranker (`hf-xmc train ranker`, frozen MiniLM, classifier started from the label texts, trained on "
        "its shortlists); its fusion is refitted on the held-out split with the named features only. Seconds: "
        "training (the ranker's include fitting its sparse shortlister and encoding the documents and label texts; "
        "APLC and GUDN rows: the recipe under a wall-clock budget, their optimizer steps beside them). Model MB: parameters and "
        "buffers; peak RSS: the benchmark process's peak so far (rows run in the order listed, in one or more runs).",
        "",
        *table_header(["model"], SCALE_COLUMNS, ["train s", "model MB", "peak RSS MB"]),
    ]

    def order(item):  # peers, then APLC, then GUDN, then the ranker's rows
        return next((rank for rank, word in enumerate(("TF-IDF", "APLC", "GUDN")) if word in item[0]), 3)

    threads = result["machine"].get("torch_threads")
    for row_name, row in sorted(result["rows"].items(), key=order):
        cells = [f"{row[key]:.2f}" if key in row else "" for key, _ in SCALE_COLUMNS]
        if row.get("global_step"):
            budget = f"{row['budget_minutes']:g}-min budget, " if row.get("budget_minutes") else ""
            own_threads = row.get("torch_threads", threads)
            budget += f"{own_threads} thread{'s' * (own_threads != 1)}, " if own_threads != threads else ""
            epochs = f", {row['epochs']:g} epochs" if row.get("epochs") else ""
            row_name += f" ({budget}{row['global_step']:,} steps{epochs})"
        lines.append(
            f"| {row_name} | {' | '.join(cells)} | {row['train_seconds']:.0f} | {row.get('model_mb', '')} | "
            f"{row.get('peak_rss_mb', '')} |"
        )
    notes = [f"{result['machine'].get('torch_threads', '?')} threads"]
    if result.get("note"):
        notes.append(result["note"])
    lines += ["", "; ".join(notes) + "."]
    million = result.get("million_label_check")
    if million:
        lines += [
            "",
            f"Bounded at {million['num_labels']:,} labels (`--rows million`: a `ShortlistRanker` of MiniLM's width, "
            f"random weights): the top 5 of a batch of {million['batch']} in {million['seconds']:.2f} s, resident "
            f"memory {million['peak_rss_growth_mb']:,} MB above the model's own {million['model_mb']:,} MB, where a "
            f"dense (batch x labels) score matrix alone would take {million['dense_score_matrix_would_be_mb']:,} MB.",
        ]
    return lines + [""]


def retrieval_section(result: dict) -> list[str]:
    """`bench_retrieval.py`: exact vs faiss IVF label retrieval (MACLR's index) at up to 1M labels."""
    lines = [
        f"### Label retrieval at {result['num_labels']:,} labels (`python benchmarks/bench_retrieval.py`)",
        "",
        f"d = {result['dim']}, {result['num_queries']:,} queries, top {result['k']}; exact = chunked matmul; "
        "speed-up in queries per CPU second over exact, same run. `clustered`: label vectors with cluster "
        "structure (as encoded label texts have); `gaussian`: i.i.d. vectors, the worst case for any index.",
        "",
        f"| vectors | index | recall@{result['k']} | queries/s | speed-up | build s | memory MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    recall = f"recall@{result['k']}"
    for kind, indexes in result["kinds"].items():
        for index, row in indexes.items():
            speedup = f"{row['speedup_vs_exact']:.1f}x" if "speedup_vs_exact" in row else "1x"
            lines.append(
                f"| {kind} | {index} | {row[recall]:.3f} | {row['qps']:.0f} | {speedup} | "
                f"{row['build_s']:.0f} | {row['memory_mb']:.0f} |"
            )
    return lines + [""]


def gudn_scale_section(result: dict) -> list[str]:
    """`bench_gudn_scale.py`: GUDN's dense path vs its cluster shortlist (§3.4) per training step."""
    setup = result["setup"]
    lines = [
        "### GUDN: dense vs cluster shortlist (`python benchmarks/bench_gudn_scale.py`)",
        "",
        f"A {setup['encoder_layers']}-layer encoder of width {setup['hidden_size']}, {setup['seq_len']} tokens, "
        f"batch {setup['batch_size']}, {setup['positives_per_text']} positives per text, clusters of "
        f"{setup['cluster_size']} labels; {setup['optimizer']}; one step = {setup['step']}.",
        "",
        "| labels | path | step s | peak RSS MB | inference docs/s |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        path = row["path"] + (f" ({row['shortlist_clusters']} clusters)" if row.get("shortlist_clusters") else "")
        lines.append(
            f"| {row['num_labels']:,} | {path} | {row['step_seconds']:.2f} | {row['peak_rss_mb']:.0f} | "
            f"{row['inference_docs_per_second']:.0f} |"
        )
    return lines + [""]


def provenance_lines(result: dict, label_of) -> list[str]:
    """Which command measured which rows, when (`parts` where several runs filled one file), then a blank line."""
    parts = result.get("parts")
    if not parts:
        return [f"`{result['command']}` ({result['measured_at']}).", ""] if result.get("command") else []
    return [f"- {', '.join(label_of(row) for row in part['rows'])}: `{part['command']}` ({part['measured_at']})"
            for part in parts] + [""]  # fmt: skip


MACLR_COLUMNS = (
    ("P@1", "P@1"), ("P@3", "P@3"), ("P@5", "P@5"), ("PSP@5_norm", "PSP@5"), ("nDCG@5", "nDCG@5"),
    ("R@10", "R@10"), ("R@100", "R@100"),
)  # fmt: skip
MACLR_ROWS = {
    "popularity": "popularity (most frequent training labels, no text)",
    "tfidf": "TF-IDF (documents vs label texts)",
    "minilm": "all-MiniLM-L6-v2 as shipped",
    "maclr_stage1": "MACLR stage I (ICT + adaptive clustering + label regularization)",
    "maclr_stage1+2": "MACLR stage I+II (+ encoder and TF-IDF pseudo pairs)",
    "maclr_stage2": "MACLR stage II alone from MiniLM (pseudo pairs: the views' union, the paper)",
    "maclr_stage2_agreement": "MACLR stage II alone from MiniLM (pseudo pairs: the views' agreement)",
    "gzsl_maclr": "generalized zero-shot: MACLR I+II fine-tuned on 80% of the labels",
    "gzsl_minilm": "generalized zero-shot: MiniLM fine-tuned on 80% of the labels",
    "fewshot1_maclr": "few-shot 1% of the labels, from MACLR I+II",
    "fewshot1_minilm": "few-shot 1% of the labels, from MiniLM",
    "fewshot5_maclr": "few-shot 5% of the labels, from MACLR I+II",
    "fewshot5_minilm": "few-shot 5% of the labels, from MiniLM",
}


def maclr_section(result: dict) -> list[str]:
    """`bench_maclr.py`: zero-shot label retrieval (no training label used) and the (generalized) few-shot rows."""
    settings, machine = result["settings"], result["machine"]
    threads = f"{machine['threads']} thread(s)" if machine.get("threads") else f"{machine['cpus']} cores"
    documents = f"{settings['max_train_samples']:,}" if settings.get("max_train_samples") else "all"
    lines = []
    for name, data in result["datasets"].items():
        own_id = (
            "; a document's own id (itself a label) left out of its ranking" if data.get("own_id_excluded") else ""
        )
        lines += [
            f"### MACLR zero-shot on {name} (`python benchmarks/bench_maclr.py`)",
            "",
            *provenance_lines(
                {**result, "parts": [part for part in result.get("parts", []) if part.get("dataset", name) == name]},
                lambda row: MACLR_ROWS.get(row, row),
            ),
            f"{data['num_eval_documents']:,} test documents ranked over all {data['num_labels']:,} labels by their "
            f"texts, percent, PSP normalised{own_id}. Trained rows: {settings['minutes']:g} minutes each on "
            f"{threads}, pairs from {documents} training documents, batch {settings['batch_size']}, learning rate "
            f"{settings['learning_rate']:g}, max length {settings['max_length']}; the zero-shot rows read no training "
            "label assignment (popularity is the exception). Generalized zero-shot / few-shot rows: overall, then "
            "the labels trained on (seen) and the rest (unseen) apart, each over the documents having such a label.",
            *([f"\n{data['note']}"] if data.get("note") else []),
            "",
        ]
        lines += table_header(["model"], MACLR_COLUMNS, ["train s"])
        for row, metrics in data["rows"].items():
            cells = [f"{metrics[key]:.2f}" if key in metrics else "" for key, _ in MACLR_COLUMNS]
            seconds = data["training"].get(row, {}).get("seconds")
            cells.append(f"{seconds:.0f}" if seconds is not None else "")
            lines.append(f"| {MACLR_ROWS.get(row, row)} | {' | '.join(cells)} |")
            if not row.startswith(("gzsl", "fewshot")):
                continue  # a zero-shot row's seen/unseen split (by training counts) says nothing about its training
            for subset in ("seen", "unseen"):
                if f"{subset}/P@1" in metrics:
                    sub = [f"{metrics[f'{subset}/{key}']:.2f}" if f"{subset}/{key}" in metrics else ""
                           for key, _ in MACLR_COLUMNS]  # fmt: skip
                    count = metrics.get(f"{subset}/num_labels")
                    what = f"{subset} labels ({count:,.0f})" if count is not None else f"{subset} labels"
                    lines.append(f"| &nbsp;&nbsp;{what} | {' | '.join(sub)} | |")
        lines.append("")
    return lines


XLGEN_COLUMNS = (
    ("micro_f1", "µF1"), ("macro_f1", "MF1"), ("macro_f1_0shot", "MF1 0-shot"), ("macro_f1_1shot", "MF1 1-shot"),
    ("macro_f1_1to5shot", "MF1 1..5-shot"), ("P@1", "P@1"), ("P@5", "P@5"), ("PSP@1_norm", "PSP@1"),
    ("PSP@5_norm", "PSP@5"), ("valid_share", "valid"),
)  # fmt: skip


def xlgen_section(result: dict) -> list[str]:
    """`bench_xlgen.py`: XLGen's variants beside APLC under one training budget (sets, tails, ranking, validity)."""
    pre = result.get("pretraining") or {}
    setting = f", positive-unlabeled: {result['drop_positives']:.0%} of the training positives dropped" if result.get(
        "drop_positives") else ""  # fmt: skip
    lines = [
        f"### XLGen on {result['dataset']}{setting}, {result['minutes']:g} minutes per model "
        "(`python benchmarks/bench_xlgen.py`)",
        "",
        f"{result['num_test_examples']:,} test documents, percent; {result['num_train_examples']:,} training documents, "
        f"a {result['minutes']:g}-minute training budget per model on {result['machine']['threads']} thread(s). "
        "XLGen rows: beam 5, the paper's open setting; µF1/MF1 over the generated sets; tail macro-F1 over labels "
        "with 0, 1 and 1..5 training documents; P@k/PSP@k from the generated labels' scores; `valid`: share of "
        "generated labels that are vocabulary labels, `+trie`: the same model with constrained decoding (its µF1 and "
        "P@1 beside). APLC: sets from its tuned thresholds.",
    ]
    if pre:
        lines.append(
            f"\nThe T5 (`hf-xmc pretrain-t5`, budgeted apart): {pre['num_parameters'] / 1e6:.1f}M parameters, "
            f"{pre['steps']:,} steps ({pre['epochs']:.2f} epochs) of span corruption in "
            f"{pre['budget'].get('train_seconds', 0) / 60:.0f} min, held-out loss {pre['eval_loss_before']:.2f} -> "
            f"{pre['eval_loss_after']:.2f}."
        )
    if result.get("note"):
        lines.append(f"\n{result['note']}")
    lines += ["", *(provenance_lines(result, lambda name: result["rows"][name]["label"]) or [""])]
    lines += table_header(["model"], XLGEN_COLUMNS, ["valid +trie", "µF1 +trie", "P@1 +trie", "epochs"])
    for row in result["rows"].values():
        metrics, trie = row["metrics"], row.get("constrained_metrics") or {}
        cells = [f"{100 * metrics[key]:.2f}" if key in metrics else "" for key, _ in XLGEN_COLUMNS]
        cells += [f"{100 * trie[key]:.2f}" if key in trie else "" for key in ("valid_share", "micro_f1", "P@1")]
        cells.append(f"{row['epochs']:.2f}" if row.get("epochs") is not None else "")
        lines.append(f"| {row['label']} | {' | '.join(cells)} |")
    partial = [f"{row['label']} on its first {row['constrained_docs']:,}" for row in result["rows"].values()
               if row.get("constrained_docs", result["num_test_examples"]) < result["num_test_examples"]]  # fmt: skip
    if partial:
        lines += ["", f"`+trie` columns: {'; '.join(partial)} test documents (the others on all)."]
    timed = [row for row in result["rows"].values() if row.get("decoding_ms_per_doc")]
    if timed:
        lines += ["", "Decoding, milliseconds per document "
                  f"({timed[0]['timing_docs']} documents, batch 32):", ""]  # fmt: skip
        names = list(timed[0]["decoding_ms_per_doc"])
        lines += table_header(["model"], [(name, name.replace("_", " ")) for name in names], [])
        for row in timed:
            lines.append(
                f"| {row['label']} | " + " | ".join(f"{row['decoding_ms_per_doc'][n]:.0f}" for n in names) + " |"
            )
    return lines + [""]


XDA_COLUMNS = (("P@1", "P@1"), ("P@5", "P@5"), ("PSP@1_norm", "PSP@1"), ("PSP@5_norm", "PSP@5"))


def xda_section(result: dict) -> list[str]:
    """`bench_xda.py`: the classifier with and without XDA, and Table 3's ablations, same classifier and budget."""
    settings = result["settings"]
    lines = [
        f"### XDA on {result['dataset']} (`python benchmarks/bench_xda.py`)",
        "",
        *provenance_lines(result, str),
        f"Classifier f_0: `{result['classifier']}`; every row continues it with its encoder frozen (at most "
        f"{settings['train_epochs']:g} epochs or {settings['minutes']:g} min) on {settings['max_train_samples']:,} "
        f"training documents, N_a = {settings['num_augmentations']}, N_t = {settings['head_tail_threshold']:g}, "
        f"the filter keeps the top {settings['keep_fraction']:.0%}; {settings['max_eval_samples']:,} test documents, "
        f"percent, PSP normalised. {result['machine']['threads']} thread(s).",
        "",
        *table_header(["row"], XDA_COLUMNS, ["augmented rows", "train s"]),
    ]
    for name, row in result["rows"].items():
        metrics = row["metrics"]
        cells = " | ".join(f"{100 * metrics[key]:.2f}" for key, _ in XDA_COLUMNS)
        seconds = f"{row['train_seconds']:.0f}" if row.get("train_seconds") is not None else ""
        lines.append(f"| {name} | {cells} | {row.get('augmented_rows', '')} | {seconds} |")
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result["stage_seconds"].items()
                       if not name.startswith("train"))  # fmt: skip
    share = result["label_frequency"]["tail_pair_share"]
    prompt = result["stage_reports"].get("prompt-tune", {})
    lines += [
        "",
        f"Stages: {stages}. Prefix fill loss {prompt.get('eval_loss_before', float('nan')):.3f} -> "
        f"{prompt.get('eval_loss_after', float('nan')):.3f}. Tail labels' share of positive training pairs: "
        f"original {share['original']:.1%}, all generated (DA) {share['DA']:.1%}, XDA {share['XDA']:.1%}.",
        "",
        f"![label frequency before and after augmentation](benchmarks/results/{Path(result['label_frequency']['plot']).name})",
    ]
    return lines + [""]


SECTIONS = (
    ("retrieval", retrieval_section),
    ("gudn_scale", gudn_scale_section),
    ("aplc_speed", aplc_speed_section),
    ("metrics", metrics_section),
    ("data", data_section),
)


def build_tables() -> str:
    lines = [
        "## Benchmarks",
        "",
        "Measured on this project's 2-core CPU machine; regenerate with "
        "`python benchmarks/report.py` after running the scripts.",
        "",
    ]
    for path in sorted(RESULTS.glob("quality_*.json")):
        result = json.loads(path.read_text())
        lines += quality_section(result, ROOT / "docs" / f"{path.stem}.png")
    for path in sorted(RESULTS.glob("scale_*.json")):
        result = json.loads(path.read_text())
        if "slice" not in path.stem:  # development slices stay in their JSON
            lines += scale_section(result)
    for path in sorted(RESULTS.glob("decision_*.json")):
        lines += decision_section(json.loads(path.read_text()))
    if _load("maclr") is not None:
        lines += maclr_section(_load("maclr"))
    for path in sorted(RESULTS.glob("xlgen_*.json")):
        lines += xlgen_section(json.loads(path.read_text()))
    for path in sorted(RESULTS.glob("xda_*.json")):
        lines += xda_section(json.loads(path.read_text()))
    for name, render in SECTIONS:
        result = _load(name)
        if result is not None:
            lines += render(result)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print", action="store_true", help="print the tables instead of rewriting README.md")
    args = parser.parse_args()
    tables = build_tables()
    if args.print:
        print(main_job_sentence(_load("main_job")))
        print(tables)
        return
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    text = f"{head}{START}\n{tables}{END}{tail}"
    if MAIN_JOB_START in text and MAIN_JOB_END in text:
        head, rest = text.split(MAIN_JOB_START, 1)
        _, tail = rest.split(MAIN_JOB_END, 1)
        text = f"{head}{MAIN_JOB_START}\n{main_job_sentence(_load('main_job'))}\n{MAIN_JOB_END}{tail}"
    readme.write_text(text)
    print(f"README.md benchmark section rewritten from {RESULTS}")


if __name__ == "__main__":
    main()
