"""Quality of hf-xmc methods beside the sparse peers, on one data set, under one wall-clock training budget.

Peers (`hf_xmc.baselines`: TF-IDF uni+bigrams + napkinXC PLT, omikuji Parabel, omikuji Bonsai) and each method named
in `--methods` (any method registered in `hf_xmc.methods`, trained by its recipe with `--max_train_minutes
--minutes`) see the same documents: the same training pool, the same held-out documents for the decision thresholds
(the recipe's `--decision_validation_size`), the same full test split. Columns: P@1/3/5, nDCG@3/5, PSP@1/3/5
(normalised), coverage@5, micro/macro-F1 at 0.5 and at the tuned thresholds, train seconds, evaluation docs/second,
and for methods the budget actually used (steps planned/done, epochs).

Results are merged into `benchmarks/results/quality_<dataset>.json` (a later `--methods gudn` adds its row beside the
earlier ones); `python benchmarks/report.py` turns the file into the README table and `docs/quality_<dataset>.png`.
On an LF data set with `filter_labels_test.txt`, the peers and the methods leave its pairs out of the evaluation
(`--method_flags "METHOD=--apply_filter_labels false"` keeps them for a method; the JSON records how many).

    python benchmarks/bench_quality.py --methods aplc --minutes 55                      # the full run (debtags)
    python benchmarks/bench_quality.py --methods aplc --minutes 2 --max_eval_samples 500 --output /tmp/q.json  # smoke
    python benchmarks/bench_quality.py --methods gudn --minutes 55 --skip_peers          # add a row
    python benchmarks/bench_quality.py --methods aplc --minutes 55 --method_flags "aplc=--max_length 128"

Ablations: an entry of `--methods` may name its row, `METHOD:ROW`; rows of different names coexist in the JSON (the
report shows them in their own table with their flags). `--method_flags METHOD=FLAGS` applies to every row of the
method, `--method_flags METHOD:ROW=FLAGS` to that row only (after the method's). GUDN's Table 6 and Fig. 5:

    python benchmarks/bench_quality.py --skip_peers --minutes 55 \
        --methods "gudn:plain BERT,gudn:+feature guide,gudn:+link guide,gudn" \
        --method_flags "gudn:plain BERT=--feature_loss_weight 0 --link_loss_weight 0" \
        --method_flags "gudn:+feature guide=--link_loss_weight 0" \
        --method_flags "gudn:+link guide=--feature_loss_weight 0"
    python benchmarks/bench_quality.py --skip_peers --minutes 55 \
        --methods "gudn:reinforcement none,gudn:reinforcement ordered" \
        --method_flags "gudn:reinforcement none=--label_reinforcement none" \
        --method_flags "gudn:reinforcement ordered=--label_reinforcement ordered"

(the full GUDN row, `gudn` with its defaults, is the `disordered` reinforcement of Fig. 5).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import re
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from provenance import run_provenance

RESULTS = Path(__file__).resolve().parent / "results"


def parse_method_flags(values: list[str]) -> dict[str, list[str]]:
    """`["aplc=--max_length 128 --seed 1"]` -> `{"aplc": ["--max_length", "128", "--seed", "1"]}` (keys: `METHOD`
    or `METHOD:ROW`)."""
    flags = {}
    for value in values or []:
        method, _, rest = value.partition("=")
        if not rest:
            raise SystemExit(f"--method_flags takes METHOD=FLAGS or METHOD:ROW=FLAGS, got {value!r}")
        flags.setdefault(method.strip(), []).extend(shlex.split(rest))
    return flags


@dataclasses.dataclass(frozen=True)
class MethodRun:
    """One row to measure: `key` (the row's name in the JSON: `METHOD` or `METHOD:ROW`), the registered `method`,
    the `row` name (`None` for the method's plain row) and the recipe `flags`."""

    key: str
    method: str
    row: str | None
    flags: tuple[str, ...]


def plan_runs(methods: str, method_flags: list[str] | None) -> list[MethodRun]:
    """`--methods` entries (`METHOD` or `METHOD:ROW`, comma-separated) with their flags: the method's
    `--method_flags`, then the row's. A flag key that names no entry, or a repeated entry, is an error."""
    flags = parse_method_flags(method_flags)
    runs = []
    for entry in (part.strip() for part in methods.split(",")):
        if not entry:
            continue
        method, _, row = (part.strip() for part in entry.partition(":"))
        if not method or (":" in entry and not row):
            raise SystemExit(f"--methods takes METHOD or METHOD:ROW entries, got {entry!r}")
        key = f"{method}:{row}" if row else method
        if any(run.key == key for run in runs):
            raise SystemExit(f"--methods names the row {key!r} twice")
        row_flags = flags.get(method, []) + (flags.get(key, []) if row else [])
        runs.append(MethodRun(key, method, row or None, tuple(row_flags)))
    unused = [key for key in flags if key not in {run.key for run in runs} | {run.method for run in runs}]
    if unused:
        raise SystemExit(f"--method_flags for {', '.join(map(repr, unused))}, which --methods does not run")
    return runs


def recipe_arguments(recipe, args, output_dir: str, extra: list[str]):
    """The method's own defaults, with what the benchmark fixes: data set, all training documents, the evaluation
    documents, the budget, no checkpoints, no progress bars; `extra` flags last (they win)."""
    from hf_xmc.training.budget import budget_upper_bound_steps

    # A plan longer than the budget can hold, so that the budget (re-planned from the real steps) ends training.
    flags = [
        "--dataset_name_or_path", args.dataset, "--max_train_samples", "0",
        "--max_eval_samples", str(args.max_eval_samples), "--max_train_minutes", str(args.minutes),
        "--max_steps", str(budget_upper_bound_steps(args.minutes * 60)),
        "--output_dir", output_dir, "--save_strategy", "no", "--logging_steps", "50", "--report_to", "none",
        "--disable_tqdm", "true", "--seed", str(args.seed),
    ]  # fmt: skip
    fields = {f.name for dtype in recipe.argument_dataclasses() for f in dataclasses.fields(dtype)}
    if "compare_with_peers" in fields:
        flags += ["--compare_with_peers", "false"]  # the benchmark fits the peers once, for every row
    return recipe.parser().parse_args_into_dataclasses([*flags, *extra])


def machine() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }


def run_peers(args, examples, vocabulary, data_args, exclusions: dict | None = None) -> dict[str, dict]:
    """The peers' rows; `exclusions`: the evaluated and the decision documents' filter pairs (`evaluation_exclusions`)
    they leave out, as the recipe does."""
    from hf_xmc.baselines import PEERS, evaluate_peers

    exclusions = exclusions or {}
    algorithms = tuple(args.peers.split(",")) if args.peers else tuple(PEERS)
    decision = examples["decision"]
    peers = evaluate_peers(
        list(examples["train"]["text"]),
        [list(labels) for labels in examples["train"]["labels"]],
        list(examples["eval"]["text"]),
        [list(labels) for labels in examples["eval"]["labels"]],
        vocabulary,
        k=20,
        algorithms=algorithms,
        propensity=data_args.propensity,
        decision_texts=list(decision["text"]) if decision is not None else None,
        decision_references=[list(labels) for labels in decision["labels"]] if decision is not None else None,
        exclude=exclusions.get("eval"),
        decision_exclude=exclusions.get("decision"),
    )
    rows = {}
    for name, peer in peers.items():
        if "error" in peer:
            print(f"{name}: skipped ({peer['error']})")
            continue
        rows[name] = {
            "kind": "peer",
            "metrics": peer["metrics"],
            "train_seconds": peer["train_seconds"],
            "eval_docs_per_second": peer["eval_docs_per_second"],
        }
    return rows


def run_method(run: MethodRun, args) -> tuple[str, dict]:
    """Train and evaluate one method through its recipe under the budget; returns `(row key, row)`."""
    from hf_xmc.methods import get_recipe

    method, extra_flags = run.method, list(run.flags)
    recipe = get_recipe(method)
    slug = method + (f"-{re.sub(r'[^A-Za-z0-9]+', '-', run.row).strip('-')}" if run.row else "")
    if args.keep_models:
        output_dir = str(Path(args.keep_models) / f"{slug}-{Path(args.dataset).name}")
    else:
        output_dir = tempfile.mkdtemp(prefix=f"quality_{slug}_")
    data_args, model_args, training_args = recipe_arguments(recipe, args, output_dir, extra_flags)
    start = time.perf_counter()
    outcome = recipe.run(data_args, model_args, training_args)
    budget = outcome.get("budget") or {}
    world = training_args.world_size * training_args.gradient_accumulation_steps
    epochs = outcome["global_step"] * training_args.per_device_train_batch_size * world / outcome["num_train_examples"]
    base = model_args.model_name_or_path or recipe.default_base_model_name
    row = {
        "kind": "hf-xmc",
        "label": f"{method}{f', {run.row}' if run.row else ''} ({Path(base).name})",
        "method": method,
        "row": run.row,
        "base_model": base,
        "metrics": {key: value for key, value in outcome["metrics"].items() if isinstance(value, (int, float))},
        "train_seconds": budget.get("train_seconds") or outcome["train_metrics"].get("train_runtime"),
        "eval_docs_per_second": outcome.get("eval_docs_per_second"),
        "total_seconds": time.perf_counter() - start,
        "budget_seconds": args.minutes * 60,
        "steps_planned": budget.get("steps_planned"),
        "steps_done": outcome["global_step"],
        "stopped_by": budget.get("stopped_by"),
        "seconds_per_step": budget.get("seconds_per_step"),
        "epochs": epochs,
        "decision": outcome.get("decision"),
        "excluded_filter_pairs": outcome.get("excluded_filter_pairs", 0),
        "flags": {
            "max_length": data_args.max_length,
            "per_device_train_batch_size": training_args.per_device_train_batch_size,
            "learning_rate": training_args.learning_rate,
            "extra": extra_flags,
        },
        "output_dir": output_dir if args.keep_models else None,
    }
    if not args.keep_models:
        shutil.rmtree(output_dir, ignore_errors=True)
    return run.key, row


def merge_and_write(path: Path, record: dict) -> dict:
    """Rows of this run replace rows of the same name; other rows (earlier runs) stay."""
    previous = json.loads(path.read_text()) if path.is_file() else {}
    if previous and previous.get("num_test_examples") not in (None, record["num_test_examples"]):
        print(
            f"note: {path} held rows evaluated on {previous['num_test_examples']} documents; they are replaced, not "
            f"merged with this run's {record['num_test_examples']}"
        )
        previous = {}
    rows = {**previous.get("rows", {}), **record["rows"]}
    merged = {**previous, **record, "rows": rows}
    if previous.get("machine"):  # the file's first run; a row measured with other threads says so (`threads`)
        merged["machine"] = previous["machine"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2))
    return merged


def print_table(record: dict) -> None:
    from hf_xmc.training.recipe_steps import format_comparison_table

    rows = {row.get("label", name): row["metrics"] for name, row in record["rows"].items()}
    print(format_comparison_table(rows, f"\n{record['dataset']} test ({record['num_test_examples']:,} docs), percent"))
    for name, row in record["rows"].items():
        extra = f", {row['epochs']:.2f} epochs, stopped by {row.get('stopped_by')}" if "epochs" in row else ""
        metrics = row["metrics"]
        f1 = (
            f"micro-F1 {100 * metrics['micro_f1@0.5']:.2f} -> {100 * metrics['micro_f1@tuned']:.2f} (tuned)"
            if "micro_f1@tuned" in metrics
            else "no thresholds"
        )
        print(
            f"  {name}: train {row['train_seconds']:.0f} s{extra}; {row['eval_docs_per_second'] or 0:.0f} docs/s; {f1}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="debtags", help="built-in name or data set folder")
    parser.add_argument(
        "--methods", default="aplc", help="comma-separated hf-xmc methods, METHOD or METHOD:ROW ('' for peers only)"
    )
    parser.add_argument("--minutes", type=float, default=55.0, help="training budget of each method")
    parser.add_argument("--max_eval_samples", type=int, default=0, help="smoke runs only: 0 is the full test split")
    parser.add_argument("--peers", default="", help="comma-separated subset of hf_xmc.baselines.PEERS (default all)")
    parser.add_argument("--skip_peers", action="store_true", help="keep the peers' rows of the existing file")
    parser.add_argument(
        "--method_flags", action="append", help="METHOD=FLAGS (every row of the method) or METHOD:ROW=FLAGS (one row)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep_models", default=None, help="save each method's model in DIR/<method>-<dataset>")
    parser.add_argument("--output", type=Path, default=None, help="default: results/quality_<dataset>.json")
    args = parser.parse_args()
    if args.minutes <= 0:
        raise SystemExit("--minutes must be > 0")
    runs = plan_runs(args.methods, args.method_flags)
    output = args.output or RESULTS / f"quality_{Path(args.dataset).name}.json"

    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.methods import get_recipe
    from hf_xmc.training.recipe_steps import evaluation_exclusions, select_examples

    # The documents every row sees, chosen exactly as the recipe chooses them (same seed, same held-out documents).
    recipe = get_recipe(runs[0].method if runs else "aplc")
    data_args, _, _ = recipe_arguments(recipe, args, tempfile.mkdtemp(), list(runs[0].flags) if runs else [])
    xmc = load_xmc_dataset(args.dataset, seed=args.seed)
    examples = select_examples(xmc, data_args, args.seed)
    exclusions = evaluation_exclusions(xmc, examples, data_args.apply_filter_labels)
    record = {
        "dataset": args.dataset,
        "num_test_examples": len(examples["eval"]),
        "num_train_examples": len(examples["train"]),
        "num_decision_examples": len(examples["decision"]) if examples["decision"] is not None else 0,
        "decision_per_label": data_args.decision_per_label,
        "num_labels": len(xmc.vocabulary),
        "excluded_filter_pairs": 0 if exclusions["eval"] is None else int(exclusions["eval"].nnz),
        "machine": machine(),
        **run_provenance(__file__),
        "note": None,  # a note of an earlier file (e.g. the converted run) does not describe this one
        "rows": {},
    }
    print(
        f"quality on {args.dataset}: {len(examples['train']):,} training documents, "
        f"{record['num_decision_examples']:,} for the thresholds, {len(examples['eval']):,} test documents; "
        f"rows {[run.key for run in runs] or 'none'} at {args.minutes:g} min each"
    )
    # each row carries when and how it was measured: a merged file holds rows of several runs
    provenance = {key: record[key] for key in ("measured_at", "command", "decision_per_label")}
    provenance["threads"] = record["machine"]["threads"]
    if not args.skip_peers:
        peers = run_peers(args, examples, xmc.vocabulary, data_args, exclusions)
        record["rows"].update({name: {**row, **provenance} for name, row in peers.items()})
    for run in runs:
        name, row = run_method(run, args)
        record["rows"][name] = {**row, **provenance}
        merged = merge_and_write(output, record)  # after each method: a crash later keeps what was measured
    merged = merge_and_write(output, record)
    print_table(merged)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
