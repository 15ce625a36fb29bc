"""XMC at its real scale (issue 12): deps-dev, 36,677 labels with texts, long tail — which piece matters.

Rows, all trained on the same training documents and evaluated on the same test documents:

- the TF-IDF peers (napkinXC PLT, omikuji Parabel, omikuji Bonsai) through `hf_xmc.baselines`;
- MiniLM + APLC as `hf-xmc train aplc` runs it, and with `--init_label_weights_from_text` (label-text start);
- MiniLM + GUDN as `hf-xmc train gudn` runs it at this scale (label clusters, LightXML's dynamic negative sampling,
  the shortlist at inference), and with `--init_label_weights_from_text` (rows `gudn`, `gudn_label_text`);
- the shortlist ranker (`hf-xmc train ranker`), trained once; its fusion is then refitted on the held-out split with
  subsets of its features: the classifier logit alone over the shortlist ("shortlist re-ranking"), sparse score +
  label-text similarity without the classifier ("sparse + dense fusion"), everything ("full model").

Metrics: P@1/3/5, PSP@1/3/5 (normalised), coverage@5 (share of labels in some top-5), training seconds, and memory
(the model's parameters + buffers, and the process's peak resident memory so far). JSON into `benchmarks/results/`.

    OMP_NUM_THREADS=2 python benchmarks/bench_scale.py --minutes 60                       # the full run
    OMP_NUM_THREADS=2 python benchmarks/bench_scale.py --minutes 3 --max_train_samples 3000 --max_eval_samples 1000
    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py --minutes 60 --rows gudn_label_text   # add a row
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hf_xmc.baselines import PEERS, evaluate_peers, peer_is_installed
from hf_xmc.data import load_xmc_dataset
from hf_xmc.metrics import compute_xmc_metrics
from hf_xmc.training.budget import budget_upper_bound_steps
from hf_xmc.training.recipe_steps import select_examples

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATASET = "/work/shared/data/deps-dev"
REPORTED = ("P@1", "P@3", "P@5", "PSP@1_norm", "PSP@3_norm", "PSP@5_norm", "coverage@5")
ROWS = ("peers", "aplc", "aplc_label_text", "gudn", "gudn_label_text", "ranker", "million")
DEFAULT_ROWS = ("peers", "aplc", "aplc_label_text", "ranker")
# the ranker's fusion refitted on its held-out split: (row name, features, objective)
RANKER_ABLATIONS = (
    ("shortlist re-ranking: classifier logit over the shortlist", "classifier_logit", "pointwise"),
    ("sparse + dense fusion (no classifier)", "sparse_score,in_sparse_shortlist,dense_similarity", "pointwise"),
    ("full model, listwise fusion", "all", "listwise"),
    ("full model: classifier + sparse + dense + prior", "all", "pointwise"),
)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_mb(model) -> float:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def metrics_row(metrics: dict, seconds: float, **extra) -> dict:
    row = {key: round(100 * float(metrics[key]), 2) for key in REPORTED if key in metrics}
    return {**row, "train_seconds": round(seconds, 1), "peak_rss_mb": round(peak_rss_mb()), **extra}


def run_peers(examples, vocabulary, log) -> dict:
    algorithms = tuple(name for name in PEERS if peer_is_installed(name))
    train, test = examples["train"], examples["eval"]
    results = evaluate_peers(
        list(train["text"]),
        [list(ids) for ids in train["labels"]],
        list(test["text"]),
        [list(ids) for ids in test["labels"]],
        vocabulary,
        k=5,
        algorithms=algorithms,
        print_fn=log,
    )
    return {name: metrics_row(r["metrics"], r["train_seconds"]) for name, r in results.items() if "metrics" in r}


def common_flags(args, output_dir: str) -> list[str]:
    # no decision-threshold documents: this benchmark ranks, and every row then trains on the same documents
    flags = ["--dataset_name_or_path", args.dataset, "--output_dir", output_dir, "--report_to", "none",
             "--seed", str(args.seed), "--decision_validation_size", "0"]  # fmt: skip
    # every row on the same documents: all of them unless capped (the recipes' own default caps evaluation at 3,000)
    flags += [
        "--max_train_samples",
        str(args.max_train_samples or 0),
        "--max_eval_samples",
        str(args.max_eval_samples or 0),
    ]
    return flags


def run_method(args, method: str, label_text: bool, log) -> dict:
    """One row of `hf-xmc train METHOD` (aplc or gudn) under `--minutes`, optionally with its label-text start."""
    from hf_xmc.methods import get_recipe

    recipe = get_recipe(method)
    with tempfile.TemporaryDirectory(prefix=f"bench_scale_{method}_") as output_dir:
        flags = common_flags(args, output_dir) + [
            "--max_length", str(args.max_length), "--max_train_minutes", str(args.minutes),
            # the budget, not the recipe's default epochs, ends training (re-planned after the first steps)
            "--max_steps", str(budget_upper_bound_steps(args.minutes * 60)),
            "--compare_with_peers", "false",  # the peers are rows of their own
        ]  # fmt: skip
        if label_text:
            flags.append("--init_label_weights_from_text")
            if args.label_embeddings_cache and method == "aplc":  # GUDN's start depends on its new extractor
                flags += ["--label_embeddings_cache", args.label_embeddings_cache]
        data_args, model_args, training_args = recipe.parse_args(flags)
        start = time.perf_counter()
        result = recipe.run(data_args, model_args, training_args)
        seconds = time.perf_counter() - start
        model = recipe.load_saved(Path(output_dir))
        log(f"{method} trained and evaluated in {seconds:.0f} s ({result['global_step']} steps)")
        documents = result["global_step"] * training_args.per_device_train_batch_size
        return metrics_row(
            result["metrics"],
            seconds,
            model_mb=round(model_mb(model)),
            global_step=result["global_step"],
            epochs=round(documents / max(result["num_train_examples"], 1), 2),
            budget_minutes=args.minutes,
            torch_threads=torch.get_num_threads(),
        )


def evaluate_ranker(recipe, examples, data_args, vocabulary, batch_size: int = 64):
    """Top-5 of the ranker (as it is fitted now) on the evaluation documents, from cached inputs."""
    state = recipe.state
    inputs = state.get("eval_inputs")
    if inputs is None:
        inputs = state["eval_inputs"] = recipe._model_inputs(
            examples["eval"], state["tokenizer"], data_args, embed=state["model_args"].freeze_encoder
        )
    model, collator = state["model"].eval(), state["collator"]
    ids = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = collator([inputs[i] for i in range(start, min(start + batch_size, len(inputs)))])
            batch.pop("labels")
            ids.append(model(**batch, top_k=5).top_k_ids.numpy())
    return compute_xmc_metrics(
        np.concatenate(ids),
        [list(labels) for labels in examples["eval"]["labels"]],
        label_counts=vocabulary.counts,
        num_train_docs=vocabulary.num_train_docs,
        num_labels=len(vocabulary),
    )


def run_ranker(args, examples, vocabulary, log) -> dict:
    from hf_xmc.shortlist.collator import ShortlistRankerCollator
    from hf_xmc.training.ranker_recipe import RANKER_RECIPE

    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench_scale_ranker_") as output_dir:
        flags = common_flags(args, output_dir) + [
            "--max_length", str(args.max_length), "--num_train_epochs", str(args.ranker_epochs),
            "--sparse_model", args.sparse_model,
        ]  # fmt: skip
        if args.label_embeddings_cache:
            flags += ["--label_embeddings_cache", args.label_embeddings_cache]
        data_args, model_args, training_args = RANKER_RECIPE.parse_args(flags)
        start = time.perf_counter()
        result = RANKER_RECIPE.run(data_args, model_args, training_args)
        seconds = time.perf_counter() - start
        state = RANKER_RECIPE.state
        model = state["model"]
        state["collator"] = ShortlistRankerCollator(state["tokenizer"], len(vocabulary), data_args.max_length)
        size = round(model_mb(model))
        log(f"ranker trained and evaluated in {seconds:.0f} s; shortlist: {result['ranker'].get('shortlist')}")
        for name, features, objective in RANKER_ABLATIONS:
            state["model_args"].fusion_features = features
            state["model_args"].fusion_objective = objective
            weights = RANKER_RECIPE.fit_fusion(model, state["collator"], data_args, 64)
            metrics = evaluate_ranker(RANKER_RECIPE, examples, data_args, vocabulary)
            rows[f"ranker — {name}"] = metrics_row(metrics, seconds, model_mb=size, fusion=weights)
        rows["ranker (recipe evaluation, full model)"] = metrics_row(result["metrics"], seconds, model_mb=size)
    return rows


def run_million_label_check(log, num_labels: int = 1_000_000, hidden: int = 384, batch: int = 64) -> dict:
    """A ShortlistRanker with 1M labels (random weights, a 1-layer encoder of MiniLM's width): top-5 of a batch,
    scored chunk by chunk; reports seconds and the resident-memory growth over the model's own size."""
    import gc

    from transformers import BertConfig

    from hf_xmc.models.shortlist_ranker import ShortlistRanker, ShortlistRankerConfig

    encoder = BertConfig(vocab_size=1000, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=6,
                         intermediate_size=4 * hidden)  # fmt: skip
    config = ShortlistRankerConfig(encoder=encoder.to_dict(), num_labels=num_labels)
    model = ShortlistRanker(config).eval()
    gc.collect()
    before = peak_rss_mb()
    input_ids = torch.randint(5, 1000, (batch, 64))
    candidates = torch.randint(0, num_labels, (batch, 100))
    start = time.perf_counter()
    with torch.no_grad():
        output = model(input_ids=input_ids, candidate_ids=candidates, candidate_scores=torch.rand(batch, 100))
    seconds = time.perf_counter() - start
    dense_mb = batch * num_labels * 4 / 2**20
    row = {"num_labels": num_labels, "batch": batch, "seconds": round(seconds, 2), "model_mb": round(model_mb(model)),
           "peak_rss_growth_mb": round(peak_rss_mb() - before), "dense_score_matrix_would_be_mb": round(dense_mb),
           "top_k_shape": list(output.top_k_ids.shape)}  # fmt: skip
    log(f"1M-label ranker: {row}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="Training budget per deep model (minutes).")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="Data set folder (default: deps-dev).")
    parser.add_argument("--max_train_samples", type=int, default=None)
    parser.add_argument("--max_eval_samples", type=int, default=None)
    parser.add_argument("--max_length", type=int, default=64)
    parser.add_argument(
        "--rows",
        default=",".join(DEFAULT_ROWS),
        help=f"Comma-separated subset of {', '.join(ROWS)} (million: a "
        "synthetic 1M-label ranker's prediction time and memory).",
    )
    parser.add_argument("--sparse_model", default="omikuji-bonsai", choices=sorted(PEERS))
    parser.add_argument("--ranker_epochs", type=float, default=10.0)
    parser.add_argument("--label_embeddings_cache", default=None, help="A .pt file for the encoded label texts.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default=None, help="JSON path (default: benchmarks/results/scale_<name>.json).")
    args = parser.parse_args()
    rows_wanted = [row.strip() for row in args.rows.split(",") if row.strip()]
    unknown = [row for row in rows_wanted if row not in ROWS]
    if unknown:
        parser.error(f"--rows: unknown {unknown}; choose from {', '.join(ROWS)}")

    def log(message: str) -> None:
        print(f"[bench_scale {time.strftime('%H:%M:%S')}] {message}", flush=True)

    xmc = load_xmc_dataset(args.dataset)
    # the recipes' own selection (seeded), so every row sees the same training and evaluation documents
    selection = argparse.Namespace(
        decision_validation_size=0, max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples, eval_split="test",
    )  # fmt: skip
    examples = select_examples(xmc, selection, args.seed)
    log(f"{args.dataset}: {len(examples['train']):,} training / {len(examples['eval']):,} test documents, "
        f"{len(xmc.vocabulary):,} labels; rows {rows_wanted}")  # fmt: skip
    rows: dict[str, dict] = {}
    if "peers" in rows_wanted:
        rows.update(run_peers(examples, xmc.vocabulary, log))
    if "aplc" in rows_wanted:
        rows["MiniLM + APLC (as today)"] = run_method(args, "aplc", label_text=False, log=log)
    if "aplc_label_text" in rows_wanted:
        rows["MiniLM + APLC + label-text init"] = run_method(args, "aplc", label_text=True, log=log)
    if "gudn" in rows_wanted:
        rows["MiniLM + GUDN (shortlist)"] = run_method(args, "gudn", label_text=False, log=log)
    if "gudn_label_text" in rows_wanted:
        rows["MiniLM + GUDN (shortlist) + label-text init"] = run_method(args, "gudn", label_text=True, log=log)
    if "ranker" in rows_wanted:
        rows.update(run_ranker(args, examples, xmc.vocabulary, log))
    million = run_million_label_check(log) if "million" in rows_wanted else None
    rows_measured = list(rows)
    for name, row in rows.items():
        log(f"{name:<70} " + " ".join(f"{key} {row[key]:6.2f}" for key in REPORTED if key in row)
            + f"  {row['train_seconds']:.0f} s")  # fmt: skip

    output = Path(args.output) if args.output else RESULTS / f"scale_{Path(args.dataset).name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(output.read_text()) if output.is_file() else None
    same_documents = previous is not None and (previous["num_train_docs"], previous["num_eval_docs"]) == (
        len(examples["train"]),
        len(examples["eval"]),
    )
    if same_documents:  # rows of earlier runs on the same documents stay (re-measured rows are replaced)
        rows = {**{name: row for name, row in previous["rows"].items() if name not in rows}, **rows}
    runs = (previous.get("runs", []) if same_documents else []) + [
        {"settings": {key: value for key, value in vars(args).items() if key != "output"},
         "rows": sorted(rows_measured), "finished": time.strftime("%Y-%m-%d %H:%M")}
    ]  # fmt: skip
    report = {
        "benchmark": "bench_scale",
        "dataset": args.dataset,
        "num_train_docs": len(examples["train"]),
        "num_eval_docs": len(examples["eval"]),
        "num_labels": len(xmc.vocabulary),
        # the first run's threads; a row of a run with other threads records its own (`torch_threads`)
        "machine": previous["machine"]
        if same_documents
        else {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
        "rows": rows,
        "runs": runs,
        "million_label_check": million if million is not None else (previous or {}).get("million_label_check"),
    }
    output.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
    log(f"wrote {output}")


if __name__ == "__main__":
    main()
