"""XLGen base / BCL / MCG from the small pre-trained T5, each under one training budget, beside APLC on the same budget.

Every row sees the same documents (the recipes' seeded training pool, held-out threshold documents and test subset).
XLGen rows (`hf-xmc train xlgen --variant V --max_train_minutes M`, beam 5, the paper's open setting): micro/macro-F1
of the generated sets, tail macro-F1 (labels with 0 / 1 / 1..5 training documents), strict P@k / PSP@k from the label
scores, the share of generated labels that are vocabulary labels without and with constrained decoding (the label
trie; the constrained run's metrics are reported too), and decoding milliseconds per document for greedy, beam 5,
constrained beam 5 and the decoding ensemble (beam + top-k/top-p + temperature 0.8, union). APLC (MiniLM, the paper's
Table 2 setting): its decision thresholds tuned on the held-out documents turn scores into sets, scored the same way.
Pre-training is not part of the budget: its own report (`pretraining.json` of `--t5`) is copied into the results.
`--drop_positives 0.5` repeats everything in the positive-unlabeled setting (half of every training document's labels
removed, `hf_xmc.data.drop_positives`). Writes `benchmarks/results/xlgen_<dataset>[_pu<f>].json`.

    hf-xmc pretrain-t5 --output_dir outputs/t5-small-debtags --minutes 30                  # once, budgeted apart
    python benchmarks/bench_xlgen.py --t5 outputs/t5-small-debtags --minutes 55            # the full run
    python benchmarks/bench_xlgen.py --t5 outputs/t5-small-debtags --minutes 55 --drop_positives 0.5
    python benchmarks/bench_xlgen.py --t5 outputs/t5-small-debtags-smoke --minutes 1 --variants base,mcg \
        --max_eval_samples 60 --timing_docs 20 --skip_aplc --output /tmp/xlgen_smoke.json   # smoke
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from provenance import run_provenance

RESULTS = Path(__file__).resolve().parent / "results"
TABLE = (
    ("micro_f1", "miF1"), ("macro_f1", "maF1"), ("macro_f1_0shot", "ma0"), ("macro_f1_1shot", "ma1"),
    ("macro_f1_1to5shot", "ma≤5"), ("P@1", "P@1"), ("P@3", "P@3"), ("P@5", "P@5"), ("PSP@1_norm", "PSP@1"),
    ("PSP@3_norm", "PSP@3"), ("PSP@5_norm", "PSP@5"), ("valid_share", "valid"),
)  # fmt: skip


def common_flags(args, dataset: str, output_dir: str) -> list[str]:
    return [
        "--dataset_name_or_path", dataset, "--max_train_samples", "0", "--max_eval_samples", str(args.max_eval_samples),
        "--decision_validation_size", str(args.decision_docs), "--max_train_minutes", str(args.minutes),
        "--output_dir", output_dir, "--save_strategy", "no", "--logging_steps", "50", "--report_to", "none",
        "--disable_tqdm", "true", "--seed", str(args.seed),
    ]  # fmt: skip


def timed_generation(model, tokenizer, codec, texts, strategy, constrained=False, ensemble=False) -> tuple:
    from hf_xmc.generation import ensemble_generate, generate_labels

    start = time.perf_counter()
    if ensemble:
        result = ensemble_generate(model, tokenizer, codec, texts, constrained=constrained, batch_size=32)
    else:
        result = generate_labels(
            model, tokenizer, codec, texts, strategy=strategy, constrained=constrained, batch_size=32
        )
    return result, 1000 * (time.perf_counter() - start) / len(texts)


def run_xlgen(variant: str, args, dataset: str, examples, vocabulary) -> dict:
    """Train one variant within the budget, then the constrained run and the decoding timings on its checkpoint."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from hf_xmc.generation import LabelCodec, evaluate_generated_labels
    from hf_xmc.training.xlgen_recipe import XLGEN_RECIPE

    output_dir = str(Path(args.keep_models) / f"xlgen-{variant}") if args.keep_models else tempfile.mkdtemp()
    flags = common_flags(args, dataset, output_dir)
    flags += ["--model_name_or_path", args.t5, "--variant", variant, *shlex.split(args.xlgen_flags)]
    data_args, model_args, training_args = XLGEN_RECIPE.parser().parse_args_into_dataclasses(flags)
    outcome = XLGEN_RECIPE.run(data_args, model_args, training_args)
    model = AutoModelForSeq2SeqLM.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    codec = LabelCodec(tokenizer, vocabulary.labels, model.config.label_separator)
    texts = list(examples["eval"]["text"])
    references = [list(row) for row in examples["eval"]["labels"]]
    shown = min(args.constrained_docs or len(texts), len(texts))  # the trie decodes slower than plain beams
    print(f"xlgen-{variant}: constrained beam 5 on {shown:,} documents ...", flush=True)
    constrained, _ = timed_generation(model, tokenizer, codec, texts[:shown], "beam", constrained=True)
    constrained_metrics = evaluate_generated_labels(constrained.labels, references[:shown], vocabulary)
    timing_texts = texts[: args.timing_docs]
    timings = {}
    for name, strategy, is_constrained, ensemble in (
        ("greedy", "greedy", False, False), ("beam5", "beam", False, False),
        ("constrained_beam5", "beam", True, False), ("ensemble", None, False, True),
    ):  # fmt: skip
        timings[name] = timed_generation(model, tokenizer, codec, timing_texts, strategy, is_constrained, ensemble)[1]
    budget = outcome.get("budget") or {}
    row = {
        "kind": "xlgen",
        "label": f"XLGen-{variant}",
        "metrics": {k: v for k, v in outcome["metrics"].items() if isinstance(v, (int, float))},
        "constrained_metrics": constrained_metrics,
        "constrained_docs": shown,
        "decoding_ms_per_doc": timings,
        "timing_docs": len(timing_texts),
        "train_seconds": budget.get("train_seconds"),
        "steps_done": outcome["global_step"],
        "epochs": outcome["global_step"] * training_args.per_device_train_batch_size / outcome["num_train_examples"],
        "stopped_by": budget.get("stopped_by"),
        "flags": flags[flags.index("--model_name_or_path") :],
    }
    if not args.keep_models:
        shutil.rmtree(output_dir, ignore_errors=True)
    return row


def run_aplc(args, dataset: str, examples, vocabulary) -> dict:
    """APLC under the same budget; its tuned thresholds give the sets, scored like the generated ones."""
    from hf_xmc.decision import DecisionThresholds
    from hf_xmc.metrics import compute_xmc_metrics
    from hf_xmc.training.aplc_recipe import APLC_RECIPE

    output_dir = str(Path(args.keep_models) / "aplc") if args.keep_models else tempfile.mkdtemp()
    # the TF-IDF peers have their own benchmark (bench_quality.py): not refitted here
    flags = common_flags(args, dataset, output_dir) + ["--compare_with_peers", "false", *shlex.split(args.aplc_flags)]
    outcome = APLC_RECIPE.run(*APLC_RECIPE.parser().parse_args_into_dataclasses(flags))
    metrics = {k: v for k, v in outcome["metrics"].items() if isinstance(v, (int, float))}
    if args.decision_docs > 0:
        ids, scores = outcome["eval_top_k"]
        decided = DecisionThresholds.from_pretrained(output_dir).decide(ids, scores)
        references = [list(row) for row in examples["eval"]["labels"]]  # the recipe's own evaluation subset
        sets = compute_xmc_metrics(
            decided, references, average="set", label_counts=vocabulary.counts,
            num_train_docs=vocabulary.num_train_docs, num_labels=len(vocabulary),
        )  # fmt: skip
        metrics.update({key: value for key, value in sets.items() if key.startswith(("micro_", "macro_"))})
    budget = outcome.get("budget") or {}
    if not args.keep_models:
        shutil.rmtree(output_dir, ignore_errors=True)
    return {
        "kind": "aplc",
        "label": "MiniLM + APLC (tuned thresholds)",
        "metrics": metrics,
        "train_seconds": budget.get("train_seconds"),
        "steps_done": outcome["global_step"],
    }


def print_table(record: dict) -> None:
    width = max(len(row["label"]) for row in record["rows"].values()) + 2
    print(f"\n{record['dataset']} test ({record['num_test_examples']:,} docs), percent")
    print(f"{'model':<{width}}" + "".join(f"{short:>7}" for _, short in TABLE) + f"{'valid+trie':>11}")
    for row in record["rows"].values():
        metrics = row["metrics"]
        cells = "".join(f"{100 * metrics[key]:7.2f}" if key in metrics else f"{'':>7}" for key, _ in TABLE)
        trie = row.get("constrained_metrics", {}).get("valid_share")
        print(f"{row['label']:<{width}}{cells}{100 * trie if trie is not None else float('nan'):11.2f}")
    for row in record["rows"].values():
        if "decoding_ms_per_doc" in row:
            times = ", ".join(f"{name} {ms:.0f}" for name, ms in row["decoding_ms_per_doc"].items())
            print(
                f"  {row['label']}: decoding ms/doc ({row['timing_docs']} docs): {times}; {row['epochs']:.2f} epochs"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--t5", required=True, help="the T5 folder of `hf-xmc pretrain-t5` (or any T5 checkpoint)")
    parser.add_argument("--dataset", default="debtags", help="built-in name or data set folder")
    parser.add_argument("--variants", default="base,bcl,mcg", help="comma-separated XLGen variants")
    parser.add_argument("--minutes", type=float, default=55.0, help="training budget of each model")
    parser.add_argument("--max_eval_samples", type=int, default=0, help="0: the full test split")
    parser.add_argument("--decision_docs", type=int, default=500, help="held-out documents for the thresholds")
    parser.add_argument("--timing_docs", type=int, default=200, help="documents the decoding timings use")
    parser.add_argument("--constrained_docs", type=int, default=0, help="documents of the constrained run (0: all)")
    parser.add_argument("--drop_positives", type=float, default=0.0, help="PU setting: share of positives removed")
    parser.add_argument("--skip_aplc", action="store_true", help="XLGen rows only")
    parser.add_argument("--xlgen_flags", default="", help="extra flags for every XLGen run")
    parser.add_argument("--aplc_flags", default="", help="extra flags for the APLC run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep_models", default=None, help="keep the trained models in DIR")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.minutes <= 0:
        raise SystemExit("--minutes must be > 0")
    if not 0 <= args.drop_positives < 1:
        raise SystemExit("--drop_positives must be in [0, 1)")

    import torch

    from hf_xmc.data import drop_positives, load_xmc_dataset, save_xmc_dataset_parquet
    from hf_xmc.training.recipe_steps import select_examples
    from hf_xmc.training.xlgen_recipe import XLGEN_RECIPE

    dataset, suffix = args.dataset, ""
    if args.drop_positives:
        pu = drop_positives(load_xmc_dataset(args.dataset), args.drop_positives, seed=args.seed)
        dataset = str(save_xmc_dataset_parquet(pu, tempfile.mkdtemp(prefix="xlgen_pu_")))
        suffix = f"_pu{args.drop_positives:g}"
    output = args.output or RESULTS / f"xlgen_{Path(args.dataset).name}{suffix}.json"
    data_args, _, _ = XLGEN_RECIPE.parser().parse_args_into_dataclasses(
        common_flags(args, dataset, tempfile.mkdtemp()) + ["--model_name_or_path", args.t5]
    )
    xmc = load_xmc_dataset(dataset, seed=args.seed)
    examples = select_examples(xmc, data_args, args.seed)
    pretraining = Path(args.t5) / "pretraining.json"
    record = {
        "dataset": args.dataset,
        "drop_positives": args.drop_positives,
        "num_test_examples": len(examples["eval"]),
        "num_train_examples": len(examples["train"]),
        "minutes": args.minutes,
        "pretraining": json.loads(pretraining.read_text()) if pretraining.is_file() else None,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        **run_provenance(__file__),
        "rows": {},
    }
    for variant in [v for v in args.variants.split(",") if v]:
        record["rows"][f"xlgen-{variant}"] = run_xlgen(variant, args, dataset, examples, xmc.vocabulary)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(record, indent=2))  # after each model: a later crash keeps what was measured
    if not args.skip_aplc:
        record["rows"]["aplc"] = run_aplc(args, dataset, examples, xmc.vocabulary)
    output.write_text(json.dumps(record, indent=2))
    print_table(record)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
