"""Decision thresholds on a trained checkpoint: fixed 0.5 vs thresholds tuned on held-out documents.

Takes a checkpoint the shared recipe wrote (e.g. the quality benchmark's model, `bench_quality.py --keep_models
DIR`), re-draws the recipe's own held-out decision documents (same seed, same `--decision_validation_size`), ranks
them and the evaluation split with the method's `rank_labels` at the recipe's token length, and compares on the
evaluation split: a fixed 0.5; one global threshold tuned for micro-F1 / macro-F1; one threshold per label (rare
labels keep the global one). Writes `results/decision_<dataset>.json`; `report.py` renders it.

    python benchmarks/bench_main_job.py --keep_model outputs/main_job_model
    python benchmarks/bench_decision.py --model outputs/main_job_model --description "the main job's model"
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = (  # (row name, objective, per_label)
    ("global, micro-F1", "micro", False),
    ("per label, micro-F1", "micro", True),
    ("global, macro-F1", "macro", False),
    ("per label, macro-F1", "macro", True),
)


def rank(recipe, checkpoint, split, k: int, max_length: int, description: str):
    """Top-k ids and scores of every document of `split` (the recipe's own chunked ranking), and its label lists."""
    from hf_xmc.training.recipe_steps import rank_in_chunks

    def rank_texts(texts, k):
        return recipe.rank_labels(checkpoint.model, checkpoint.tokenizer, checkpoint.vocabulary, texts, k, max_length)

    ids, scores, _ = rank_in_chunks(rank_texts, list(split["text"]), k, description)
    return ids, scores, [list(labels) for labels in split["labels"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a checkpoint folder written by the shared recipe")
    parser.add_argument("--dataset", default="debtags")
    parser.add_argument("--top_k", type=int, default=20, help="ranking depth the thresholds see (the recipe's)")
    parser.add_argument("--min_label_positives", type=int, default=5)
    parser.add_argument("--output", type=Path, default=None, help="default: results/decision_<dataset>.json")
    parser.add_argument("--description", default=None, help="what the checkpoint is, for the README table")
    args = parser.parse_args()

    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.decision import decision_metrics, tune_thresholds
    from hf_xmc.hub import load_xmc_model
    from hf_xmc.methods import get_recipe
    from hf_xmc.training.recipe_steps import fixed_decisions, select_examples

    checkpoint = load_xmc_model(args.model)
    recipe = get_recipe(checkpoint.method)
    data_args, _, training_args = recipe.parse_args(
        ["--dataset_name_or_path", args.dataset, "--max_eval_samples", "0", "--output_dir", "/tmp/unused"]
    )
    xmc = load_xmc_dataset(args.dataset)
    if xmc.vocabulary.labels != checkpoint.vocabulary.labels:
        raise SystemExit(f"{args.model} was trained on another label space than {args.dataset}")
    examples = select_examples(xmc, data_args, training_args.seed)
    if examples["decision"] is None:
        raise SystemExit("the recipe's defaults hold out no decision documents (--decision_validation_size 0)")
    start = time.perf_counter()
    decision = rank(
        recipe, checkpoint, examples["decision"], args.top_k, data_args.max_length, "ranking decision docs"
    )
    evaluation = rank(recipe, checkpoint, examples["eval"], args.top_k, data_args.max_length, "ranking test docs")
    ranking_seconds = time.perf_counter() - start
    num_labels = len(checkpoint.vocabulary)

    def scored(decisions) -> dict:
        metrics = decision_metrics(decisions, evaluation[2], num_labels)
        return {key: value for key, value in metrics.items() if key.endswith("f1")}

    rows = {"fixed 0.5": {"threshold": 0.5, **scored(fixed_decisions(evaluation[0], evaluation[1]))}}
    for name, objective, per_label in SETTINGS:
        thresholds = tune_thresholds(
            *decision, num_labels, objective=objective, per_label=per_label,
            min_label_positives=args.min_label_positives,
        )  # fmt: skip
        rows[name] = {
            "threshold": thresholds.global_threshold,
            "num_tuned_labels": thresholds.num_tuned_labels,
            **scored(thresholds.decide(evaluation[0], evaluation[1])),
        }
    record = {
        "dataset": args.dataset,
        "model": str(args.model),
        "method": checkpoint.method,
        "description": args.description,
        "num_decision_docs": len(decision[2]),
        "num_eval_docs": len(evaluation[2]),
        "top_k": args.top_k,
        "max_length": data_args.max_length,
        "ranking_seconds": ranking_seconds,
        "measured_at": time.strftime("%Y-%m-%d"),
        "rows": rows,
    }
    print(f"\n{args.dataset}: {len(evaluation[2]):,} evaluation docs, thresholds tuned on {len(decision[2]):,}")
    for name, row in rows.items():
        print(f"  {name:<22} threshold {row['threshold']:.3f}  micro-F1 {100 * row['micro_f1']:.2f}  "
              f"macro-F1 {100 * row['macro_f1']:.2f}")  # fmt: skip
    output = args.output or RESULTS / f"decision_{args.dataset}.json"
    output.write_text(json.dumps(record, indent=2))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
