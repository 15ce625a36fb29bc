"""XDA on one data set (default debtags): the classifier without augmentation against XDA and Table 3's ablations,
the same classifier and the same training budget for every row.

Rows (each continues the same classifier f_0 with its encoder frozen, `--train_epochs` capped at `--minutes`):
- `f_0`: the classifier as trained on the original data (no head training);
- `baseline`: the head trained on the original data only;
- `XDA`: prefix-tuned T5 fill + filter + masked loss (eq. 4);
- `w/o Prompt`: the plain T5 fills (no prefix), filter, mask;
- `w/o Filter`: every generated document, mask;
- `w/o Mask`: filter, plain BCE on the augmented pairs.
Columns: P@1, P@5, PSP@1, PSP@5 on `--max_eval_samples` test documents, and the seconds of every stage. Also the
label-frequency plot before/after augmentation (like the paper's Fig. 1) and ten kept augmented documents with
their labels beside their sources.

    python benchmarks/bench_xda.py --t5 outputs/t5-small-debtags --classifier outputs/aplc-debtags \
        --max_train_samples 4000 --minutes 10

Without `--classifier`, f_0 is trained first by `hf-xmc train aplc` (`--classifier_minutes`); without `--t5` a T5 is
pre-trained by `hf-xmc pretrain-t5` (`--t5_minutes`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

from provenance import run_provenance

RESULTS = Path(__file__).parent / "results"
ROWS = ("f_0", "baseline", "XDA", "w/o Prompt", "w/o Filter", "w/o Mask")
SHOWN = ("P@1", "P@5", "PSP@1_norm", "PSP@5_norm")  # PSP normalised, as every README table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="debtags")
    parser.add_argument("--minutes", type=float, default=10.0, help="Budget of each stage (prompt-tune, each "
                        "generation, each classifier row).")  # fmt: skip
    parser.add_argument("--t5", default=None, help="T5 folder (default: pre-train one for --t5_minutes).")
    parser.add_argument("--t5_minutes", type=float, default=30.0)
    parser.add_argument("--classifier", default=None, help="f_0 checkpoint (default: train APLC).")
    parser.add_argument("--classifier_minutes", type=float, default=10.0)
    parser.add_argument("--max_train_samples", type=int, default=4000)
    parser.add_argument("--max_eval_samples", type=int, default=2000)
    parser.add_argument("--num_augmentations", type=int, default=2, help="N_a.")
    parser.add_argument("--head_tail_threshold", type=float, default=50.0, help="N_t.")
    parser.add_argument("--keep_fraction", type=float, default=0.2)
    parser.add_argument("--train_epochs", type=float, default=3.0)
    parser.add_argument("--max_words", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output_dir", default="outputs/bench-xda")
    parser.add_argument("--results", default=None, help="JSON path (default: results/xda_<dataset>.json).")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    return parser.parse_args(argv)


def prepare_t5(args) -> str:
    if args.t5:
        return args.t5
    from hf_xmc.t5_pretraining import T5PretrainingArguments, pretrain_t5

    folder = str(Path(args.output_dir) / "t5")
    if not (Path(folder) / "config.json").is_file():
        pretrain_t5(T5PretrainingArguments(dataset_name_or_path=args.dataset, output_dir=folder,
                                           minutes=args.t5_minutes, threads=args.threads))  # fmt: skip
    return folder


def prepare_classifier(args) -> str:
    if args.classifier:
        return args.classifier
    from hf_xmc.methods import get_recipe

    folder = str(Path(args.output_dir) / "f0")
    if not (Path(folder) / "label_vocabulary.json").is_file():
        recipe = get_recipe("aplc")
        flags = ["--dataset_name_or_path", args.dataset, "--output_dir", folder, "--max_train_minutes",
                 str(args.classifier_minutes), "--max_eval_samples", "200", "--save_strategy", "no",
                 "--report_to", "none", "--compare_with_peers", "false", "--seed", str(args.seed)]  # fmt: skip
        recipe.run(*recipe.parser().parse_args_into_dataclasses(flags))
    return folder


def link_stage(source_dir: Path, target_dir: Path, folder: str) -> None:
    """Share a finished stage's folder between variants (a symbolic link), so they train on the same data."""
    target_dir.mkdir(parents=True, exist_ok=True)
    link = target_dir / folder
    if not link.exists():
        link.symlink_to(os.path.relpath(source_dir / folder, target_dir))


def label_frequency_plot(vocabulary, train_labels, generated, filtered, tail, path: Path) -> dict:
    """Training pairs per label, labels ranked by their original count: original, + every generated pair (DA),
    + the pairs eq. 4 keeps as positives (XDA: kept documents, tail labels only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    num_labels = len(vocabulary)

    def counts(label_lists, only=None):
        result = np.zeros(num_labels, dtype=np.int64)
        for labels in label_lists:
            for label in labels:
                if only is None or only[label]:
                    result[label] += 1
        return result

    original = counts(train_labels)
    direct = original + counts(generated["labels"])
    kept_labels = [labels for labels, kept in zip(filtered["labels"], filtered["kept"]) if kept]
    xda = original + counts(kept_labels, only=tail)
    order = np.argsort(-original, kind="stable")
    figure, axis = plt.subplots(figsize=(7, 4))
    ranks = np.arange(1, num_labels + 1)
    for name, values, style in (("DA (all generated)", direct, "-"), ("XDA (filter + mask)", xda, "-"),
                                ("Original", original, "--")):  # fmt: skip
        axis.plot(ranks, np.maximum(values[order], 0.8), style, label=name, color="black" if style == "--" else None)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("label rank (by original training count)")
    axis.set_ylabel("positive training pairs (0 drawn at 0.8)")
    axis.set_title("Label frequency before and after augmentation")
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    tail_share = lambda values: float(values[tail].sum() / max(values.sum(), 1))  # noqa: E731
    return {"tail_pair_share": {"original": tail_share(original), "DA": tail_share(direct), "XDA": tail_share(xda)}}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import numpy as np
    import torch

    from hf_xmc.hub import load_xmc_model
    from hf_xmc.xda import pipeline
    from hf_xmc.xda.arguments import (
        FilterArguments,
        GenerateArguments,
        MDATrainArguments,
        PromptTuneArguments,
        XDACommonArguments,
    )
    from hf_xmc.xda.masked_loss import evaluate_classifier, head_tail_split

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.monotonic()
    out = Path(args.output_dir)
    t5 = prepare_t5(args)
    classifier = prepare_classifier(args)

    def common(variant: str) -> XDACommonArguments:
        return XDACommonArguments(
            dataset_name_or_path=args.dataset, output_dir=str(out / variant), max_train_samples=args.max_train_samples,
            max_eval_samples=args.max_eval_samples, max_words=args.max_words, t5_name_or_path=t5, seed=args.seed,
            threads=args.threads, progress=args.progress,
        )  # fmt: skip

    prompt = PromptTuneArguments(prompt_minutes=args.minutes)
    generate = GenerateArguments(num_augmentations=args.num_augmentations, generate_minutes=args.minutes)
    filtering = FilterArguments(scorer_name_or_path=classifier, keep_fraction=args.keep_fraction)

    def training(**kwargs) -> MDATrainArguments:
        return MDATrainArguments(classifier_name_or_path=classifier, head_tail_threshold=args.head_tail_threshold,
                                 train_minutes=args.minutes, train_epochs=args.train_epochs, **kwargs)  # fmt: skip

    reports: dict[str, dict] = {}
    reports["prompt-tune"] = pipeline.run_prompt_tuning(common("xda"), prompt)
    reports["generate"] = pipeline.run_generation(common("xda"), generate)
    reports["filter"] = pipeline.run_filter(common("xda"), filtering)
    no_prompt = dataclasses.replace(generate, no_prompt=True)
    reports["generate w/o Prompt"] = pipeline.run_generation(common("no_prompt"), no_prompt)
    reports["filter w/o Prompt"] = pipeline.run_filter(common("no_prompt"), filtering)
    for variant in ("no_filter", "no_mask", "baseline"):
        for folder in ("generated", "filtered"):
            link_stage(out / "xda", out / variant, folder)

    rows: dict[str, dict] = {}
    checkpoint = load_xmc_model(classifier)
    xmc, train_rows = pipeline.load_sources(common("xda"))
    test = xmc.splits["test"]
    if args.max_eval_samples and args.max_eval_samples < len(test):
        test = test.select(np.sort(np.random.default_rng(args.seed).choice(len(test), args.max_eval_samples,
                                                                           replace=False)))  # fmt: skip
    start = time.monotonic()
    rows["f_0"] = {"metrics": evaluate_classifier(checkpoint, test["text"], test["labels"], xmc.vocabulary,
                                                  checkpoint.method, max_length=64, progress=args.progress)}  # fmt: skip
    rows["f_0"]["seconds"] = time.monotonic() - start
    variants = {
        "baseline": ("baseline", training(no_augmentation=True)),
        "XDA": ("xda", training()),
        "w/o Prompt": ("no_prompt", training()),
        "w/o Filter": ("no_filter", training(train_on="all")),
        "w/o Mask": ("no_mask", training(augmentation_loss="plain")),
    }
    for name, (variant, train_args) in variants.items():
        report = pipeline.run_training(common(variant), train_args)
        rows[name] = {key: report[key] for key in ("metrics", "steps", "epochs", "train_seconds", "augmented_rows")}

    generated = pipeline.load_augmented(common("xda"), "generate")
    filtered = pipeline.load_augmented(common("xda"), "filter")
    tail = head_tail_split(xmc.vocabulary.counts, args.head_tail_threshold)
    train = xmc.splits["train"].select(train_rows)
    stem = f"xda_{args.dataset}"
    plot_path = RESULTS / f"{stem}_label_frequency.png" if args.results is None else Path(args.results).with_suffix(
        ".png")  # fmt: skip
    plot = label_frequency_plot(xmc.vocabulary, train["labels"], generated, filtered, tail, plot_path)

    kept = [row for row in filtered if row["kept"]][:10]
    train_texts = xmc.splits["train"]["text"]
    examples = [
        {"source": " ".join(train_texts[row["source_id"]].split()[: args.max_words]), "augmented": row["text"],
         "labels": xmc.vocabulary.decode(row["labels"]), "diversity": row["diversity"],
         "consistency": row["consistency"]}
        for row in kept
    ]  # fmt: skip
    print("\nTen kept augmented documents (source -> augmented, labels):")
    for example in examples:
        print(f"- labels: {', '.join(example['labels'])}\n  source:    {example['source']}\n"
              f"  augmented: {example['augmented']}")  # fmt: skip

    print(f"\n| row | {' | '.join(SHOWN)} | steps | augmented rows |\n|---|{'---|' * (len(SHOWN) + 2)}")
    for name in ROWS:
        row = rows[name]
        cells = " | ".join(f"{100 * row['metrics'][key]:.2f}" for key in SHOWN)
        print(f"| {name} | {cells} | {row.get('steps', '-')} | {row.get('augmented_rows', '-')} |")
    budgets = {
        "prompt-tune": reports["prompt-tune"]["train_seconds"],
        "generate": reports["generate"]["seconds"],
        "generate w/o Prompt": reports["generate w/o Prompt"]["seconds"],
        **{f"train {name}": rows[name]["train_seconds"] for name in ROWS[1:]},
    }
    print("stage seconds: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in budgets.items()))
    print(f"prefix fill loss {reports['prompt-tune']['eval_loss_before']:.3f} -> "
          f"{reports['prompt-tune']['eval_loss_after']:.3f}; tail share of positive pairs {plot['tail_pair_share']}")  # fmt: skip
    result = {
        "dataset": args.dataset,
        "settings": vars(args),
        "t5": t5,
        "classifier": classifier,
        "rows": rows,
        "stage_seconds": budgets,
        "stage_reports": {
            name: {k: v for k, v in report.items() if k not in ("train_loss_log", "settings")}
            for name, report in reports.items()
        },  # fmt: skip
        "label_frequency": {**plot, "plot": str(plot_path)},
        "examples": examples,
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "total_seconds": time.monotonic() - started,
        **run_provenance(__file__, argv),
    }
    results_path = Path(args.results) if args.results else RESULTS / f"{stem}.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    print(f"wrote {results_path} and {plot_path}")
    return result


if __name__ == "__main__":
    main()
