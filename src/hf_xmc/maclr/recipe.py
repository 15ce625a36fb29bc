"""MACLR's recipe: `hf-xmc train maclr --stage pretrain|self-train|few-shot` and `examples/train_maclr.py`.

MACLR plugs into the shared recipe's interface (`MethodRecipe`: its flags are dataclasses extending the shared ones,
the registry finds it, `rank_labels` serves `XMCCheckpoint.predict` and the Space) but overrides `run`: it trains a
sentence encoder with `SentenceTransformerTrainer` on *pairs* built from raw text, not a classifier on tokenised
label ids, and it evaluates by retrieving label texts, so the classifier steps (collator, Trainer evaluation, decision
thresholds) do not apply. The flow per stage:

- `pretrain` (stage I): ICT (context, title) pairs from the training documents; eq. 5 (`MACLRLoss`) with the label
  regularization over the label texts; `AdaptiveClusteringCallback` (Algorithm 1). No label assignment is read.
- `self-train` (stage II): pseudo pairs from the encoder's and TF-IDF's top-k labels of every training document;
  eq. 3 with a document's pseudo labels as its positives. No label assignment is read.
- `few-shot`: the (document, label text) pairs of a seeded `--few_shot_ratio` of the labels
  (`few_shot_label_subset`); eq. 3. With a ratio of 0.8 this is the generalized zero-shot set-up: the other 20% of
  the labels are never trained on, and the evaluation reports `seen/` and `unseen/` labels apart.

Then every stage encodes the label texts into a `LabelIndex`, evaluates on the evaluation split (top-100, own id
excluded where documents are themselves labels), saves a MACLR checkpoint (sentence-transformers folder + label
index + vocabulary + card), reloads it and checks the embeddings, predicts the sample text, and pushes on request.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformerTrainer
from transformers import set_seed

from ..data import load_xmc_dataset
from ..data.simulate import few_shot_label_subset
from ..hub.inference import RankedLabel
from ..training import recipe_steps as steps
from ..training.budget import TimeBudgetCallback, budget_upper_bound_steps
from ..training.recipe import MethodRecipe
from .adaptive_clustering import AdaptiveClusteringCallback
from .arguments import MACLRDataArguments, MACLRModelArguments, MACLRTrainingArguments
from .checkpoint import load_maclr_model, save_maclr_model
from .encoder import default_encoder_path, load_encoder, normalizes_embeddings
from .evaluation import RETRIEVAL_K, evaluate_label_retrieval
from .losses import ClusterContrastiveLoss, LabelRegularizationLoss, MACLRLoss
from .pairs import ict_pairs_from_split
from .retrieval import LabelIndex, encode_texts, own_label_ids
from .self_training import build_self_training_pairs

TABLE_KEYS = ("P@1", "P@3", "P@5", "PSP@5_norm", "R@10", "R@100")


def label_texts_of(vocabulary, mode: str) -> list[str]:
    """The text each label is embedded from: its title, or title and description. A label whose text is empty is
    embedded from its label string (documented fallback; an embedding of nothing would match at random)."""
    titles = vocabulary.label_texts()
    if mode != "title" and vocabulary.descriptions is not None:
        titles = [f"{title} {description}".strip() for title, description in zip(titles, vocabulary.descriptions)]
    texts = [text if text and text.strip() else label for text, label in zip(titles, vocabulary.labels)]
    missing = sum(1 for text in titles if not (text and text.strip()))
    if missing:
        steps.log(f"MACLR: {missing} labels have no text; their label string is embedded instead")
    return texts


def own_id_exclusion(split, vocabulary, mode: str):
    """Per document of `split`, its own label id when documents are themselves labels (BEIR's ignore_identical_ids);
    `None` when excluded by `mode` (`"no"`), or when no document uid is a label (`"auto"`)."""
    if mode == "no" or "uid" not in split.column_names:
        return None
    exclude = own_label_ids(split["uid"], vocabulary.labels)
    if mode == "auto" and not any(exclude):
        return None
    return exclude


class MACLRRecipe(MethodRecipe):
    name = "maclr"
    help = "MACLR: zero-/few-shot XMC by contrastive pre-training of a sentence encoder (--stage pretrain|self-train|few-shot)."
    data_arguments = MACLRDataArguments
    model_arguments = MACLRModelArguments
    training_arguments = MACLRTrainingArguments
    trainer_class = SentenceTransformerTrainer

    def base_model_path(self, model_args) -> str:
        return model_args.model_name_or_path or default_encoder_path()

    def build_model(self, model_args, vocabulary=None, data_args=None):
        encoder = load_encoder(
            self.base_model_path(model_args), pooling=model_args.pooling, projection_dim=model_args.projection_dim
        )
        if data_args is not None:
            encoder.max_seq_length = data_args.max_length
        return encoder

    def load_saved(self, output_dir: Path):
        return load_maclr_model(output_dir)

    def rank_labels(self, model, tokenizer, vocabulary, texts, k, max_length=None, truncation=True):
        """Top-k labels by embedding similarity; `model` is the encoder (its label index is built once, cached)."""
        index = getattr(model, "maclr_label_index", None)
        if index is None or len(index) != len(vocabulary):
            index = LabelIndex.build(model, vocabulary.label_texts(), labels=vocabulary.labels)
            model.maclr_label_index = index
        ids, scores = index.search(encode_texts(model, list(texts)), k)
        texts_of = vocabulary.texts
        return [
            [
                RankedLabel(vocabulary.labels[i], float(s), int(i), texts_of[i] if texts_of is not None else None)
                for i, s in zip(row_ids.tolist(), row_scores.tolist())
                if i >= 0
            ]
            for row_ids, row_scores in zip(ids, scores)
        ]

    def run(self, data_args, model_args, training_args, callbacks=None) -> dict:
        return run_maclr(self, data_args, model_args, training_args, callbacks)


def _training_pairs(stage, xmc, encoder, label_texts, data_args, training_args, exclude_train):
    """The stage's training dataset (text columns then `label`) and what it counted."""
    train = steps.sample_split(xmc.splits["train"], data_args.max_train_samples, training_args.seed)
    if stage == "pretrain":
        pairs, stats = ict_pairs_from_split(
            train, remove_title_probability=data_args.remove_title_probability, seed=training_args.seed
        )
        stats.pop("document_positions")
        return pairs, stats
    if stage == "self-train":
        exclude = None
        if exclude_train is not None:
            exclude = own_id_exclusion(train, xmc.vocabulary, data_args.exclude_own_id)
        views = {view.strip() for view in data_args.pseudo_views.split(",")}
        pairs, stats = build_self_training_pairs(
            encoder, train["text"], label_texts, k=data_args.pseudo_k, encoder_min_score=data_args.encoder_min_score,
            tfidf_k=data_args.tfidf_k, tfidf_min_score=data_args.tfidf_min_score, use_encoder="encoder" in views,
            use_tfidf="tfidf" in views, exclude=exclude, merge=data_args.pseudo_merge,
        )  # fmt: skip
        stats.pop("label_ids")
        return pairs, stats
    documents, texts, rows = [], [], []  # few-shot: every (document, true label) pair of the sampled labels
    for row, (text, labels) in enumerate(zip(train["text"], train["labels"])):
        for label in labels:
            documents.append(text)
            texts.append(label_texts[label])
            rows.append(row)
    from datasets import Dataset

    pairs = Dataset.from_dict({"document": documents, "label_text": texts, "label": rows})
    return pairs, {
        "pairs": len(pairs),
        "documents": len(train),
        "labels_trained": int((xmc.vocabulary.counts > 0).sum()),
    }


def _hub_base_model(name_or_path: str | None) -> str | None:
    """The card's `base_model`: a Hub id (the shipped MiniLM's by default); a local folder is not one."""
    if name_or_path is None:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return None if Path(name_or_path).exists() else name_or_path


def _scale(model_args, encoder) -> float:
    if model_args.scale is not None:
        return model_args.scale
    return 20.0 if normalizes_embeddings(encoder) else 1.0


def few_shot_data(xmc, ratio: float, seed: int):
    """The few-shot training set (`few_shot_label_subset`) and the full training split's `(label_counts,
    num_train_docs)` in the subset's label order (its vocabulary is re-sorted by its own counts), for PSP@k."""
    full = xmc.vocabulary
    subset = few_shot_label_subset(xmc, ratio, seed=seed)
    return subset, (full.counts[full.encode(subset.vocabulary.labels)], full.num_train_docs)


def run_maclr(recipe, data_args, model_args, training_args, callbacks=None) -> dict:
    """Train one MACLR stage, evaluate it by label retrieval, save, reload, predict; returns what it measured."""
    set_seed(training_args.seed)
    validation_size = data_args.validation_size
    if validation_size is not None and validation_size >= 1:
        validation_size = int(validation_size)
    xmc = load_xmc_dataset(data_args.dataset_name_or_path, validation_size=validation_size, seed=training_args.seed)
    if data_args.eval_split not in xmc.splits:
        raise ValueError(
            f"--eval_split {data_args.eval_split}: {data_args.dataset_name_or_path} has {sorted(xmc.splits)}"
        )
    propensity_counts = None  # the propensities of PSP@k come from the full training split, never the subset
    if data_args.stage == "few-shot":
        xmc, propensity_counts = few_shot_data(xmc, data_args.few_shot_ratio, training_args.seed)
    vocabulary = xmc.vocabulary
    label_texts = label_texts_of(vocabulary, data_args.label_text)
    encoder = recipe.build_model(model_args, vocabulary, data_args)
    scale = _scale(model_args, encoder)
    exclude_train = own_id_exclusion(xmc.splits["train"], vocabulary, data_args.exclude_own_id)
    pairs, pair_stats = _training_pairs(
        data_args.stage, xmc, encoder, label_texts, data_args, training_args, exclude_train
    )
    steps.log(f"MACLR {data_args.stage}: {pair_stats} (scale {scale:g})")
    cluster_loss = ClusterContrastiveLoss(encoder, scale=scale, mini_batch_size=model_args.mini_batch_size)
    callbacks = list(callbacks or [])
    loss = cluster_loss
    if data_args.stage == "pretrain":
        regularization = None
        if data_args.num_negatives > 0 and data_args.regularization_weight > 0:
            regularization = LabelRegularizationLoss(
                encoder, label_texts, data_args.num_negatives, scale=scale, mini_batch_size=model_args.mini_batch_size,
                seed=training_args.seed,
            )  # fmt: skip
        loss = MACLRLoss(encoder, cluster_loss, regularization, data_args.regularization_weight)
        initial = data_args.initial_clusters or max(2, len(pairs) // 128)
        callbacks.append(
            AdaptiveClusteringCallback(
                loss,
                pairs["context"],
                initial,
                data_args.double_every,
                data_args.update_every,
                num_updates=data_args.num_updates,
                max_seq_length=data_args.cluster_max_length,
                seed=training_args.seed,
            )  # fmt: skip
        )
    overrides = {}
    budget = None
    if training_args.max_train_minutes:
        budget = TimeBudgetCallback(training_args.max_train_minutes * 60)
        overrides["max_steps"] = budget_upper_bound_steps(budget.seconds)
        callbacks.insert(0, budget)
    args = dataclasses.replace(training_args, push_to_hub=False, **overrides)
    trainer = SentenceTransformerTrainer(model=encoder, args=args, train_dataset=pairs, loss=loss, callbacks=callbacks)
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    result = {
        "stage": data_args.stage,
        "pairs": pair_stats,
        "global_step": train_result.global_step,
        "train_metrics": train_result.metrics,
        "train_loss_history": [e["loss"] for e in trainer.state.log_history if "loss" in e],
        "output_dir": training_args.output_dir,
    }
    if budget is not None:
        result["budget"] = budget.report()
    clustering = next((c for c in callbacks if isinstance(c, AdaptiveClusteringCallback)), None)
    if clustering is not None:
        result["clustering"] = clustering.history
    if not trainer.is_world_process_zero():
        return result
    encoder.eval()
    index = LabelIndex.build(encoder, label_texts, labels=vocabulary.labels, backend=model_args.label_index_backend)
    metrics = evaluate_split(encoder, index, xmc, data_args, training_args.seed, propensity_counts)
    result["metrics"] = metrics
    output_dir = Path(training_args.output_dir)
    hyperparameters = {
        "stage": data_args.stage, "learning_rate": args.learning_rate, "per_device_train_batch_size":
        args.per_device_train_batch_size, "max_length": data_args.max_length, "scale": scale, "global_steps":
        train_result.global_step, "seed": args.seed,
    }  # fmt: skip
    save_maclr_model(
        output_dir, encoder, vocabulary, index, loss, data_args.stage, model_name=training_args.hub_model_id,
        metrics={k: v for k, v in metrics.items() if "/" not in k and not k.startswith("num_")},
        dataset_name=data_args.dataset_name_or_path, dataset_split=data_args.eval_split,
        base_model=_hub_base_model(model_args.model_name_or_path),
        hyperparameters=hyperparameters,
    )  # fmt: skip
    with open(output_dir / "xmc_metrics.json", "w", encoding="utf-8") as handle:
        json.dump({"split": data_args.eval_split, **metrics}, handle, indent=2)
    reloaded = load_maclr_model(output_dir)
    probe = list(xmc.splits[data_args.eval_split]["text"][:8])
    before = encode_texts(encoder, probe)
    result["reload_max_abs_diff"] = float(np.abs(before - encode_texts(reloaded.model, probe)).max())
    if result["reload_max_abs_diff"] > 1e-4:
        raise RuntimeError(
            f"the reloaded encoder differs by {result['reload_max_abs_diff']:.3g}: not saved faithfully"
        )
    result["predictions"] = [
        {"id": r.label_id, "label": r.label, "text": r.text, "score": r.score}
        for r in reloaded.predict([data_args.sample_text], k=model_args.top_k, truncation=True)[0]
    ]
    steps.log(
        format_table(metrics, f"{data_args.dataset_name_or_path} {data_args.eval_split}, MACLR {data_args.stage}")
    )
    if training_args.push_to_hub:
        repo_id = training_args.hub_model_id or output_dir.name
        from ..hub.push import push_xmc_model

        result["hub_commit_url"] = push_xmc_model(output_dir, repo_id, token=training_args.hub_token).commit_url
    result["removed_checkpoints"] = steps.remove_checkpoints(output_dir, keep=bool(training_args.keep_checkpoints))
    return result


def evaluate_split(encoder, index, xmc, data_args, seed: int, propensity_counts=None) -> dict:
    """Zero-shot metrics of `encoder` on the evaluation split (seen and unseen labels apart when both exist). With
    `--apply_filter_labels` (default), the split's filter pairs (an LF set's `filter_labels_test.txt`) are left out
    of the rankings and of the references, as `compute_xmc_metrics(..., exclude=...)` does.

    `propensity_counts` (`(label_counts, num_train_docs)`, *optional*): the counts PSP@k's propensities come from; by
    default `xmc`'s. A few-shot run passes the full training split's, so that its PSP@k weighs labels as every other
    row does (the subset's counts would make every label left out of it look infinitely rare). Seen and unseen labels
    are always told apart by `xmc`'s own counts."""
    pool = xmc.splits[data_args.eval_split]
    rows = steps.sample_rows(len(pool), data_args.max_eval_samples, seed)
    split = steps.sample_split(pool, data_args.max_eval_samples, seed)
    vocabulary = xmc.vocabulary
    own_ids = exclude = own_id_exclusion(split, vocabulary, data_args.exclude_own_id)
    references = [list(r) for r in split["labels"]]
    filter_pairs = xmc.filter_pairs.get(data_args.eval_split) if data_args.apply_filter_labels else None
    if filter_pairs is not None:
        filter_pairs = filter_pairs[rows]
        filtered = [set(filter_pairs[row].indices.tolist()) for row in range(len(references))]
        references = [[label for label in row if label not in drop] for row, drop in zip(references, filtered)]
        exclude = [sorted(set(row) | drop) for row, drop in zip(own_ids or [[]] * len(references), filtered)]
    queries = encode_texts(encoder, split["text"])
    seen = np.flatnonzero(vocabulary.counts > 0)
    unseen = np.flatnonzero(vocabulary.counts == 0)
    subsets = {"seen": seen, "unseen": unseen} if len(seen) and len(unseen) else None
    label_counts, num_train_docs = propensity_counts or (vocabulary.counts, vocabulary.num_train_docs)
    metrics = evaluate_label_retrieval(
        queries, index, references, label_counts, num_train_docs,
        k=RETRIEVAL_K, exclude=exclude, label_subsets=subsets,
    )  # fmt: skip
    metrics["num_eval_documents"] = float(len(split))
    metrics["own_id_excluded"] = float(own_ids is not None)
    metrics["num_excluded_filter_pairs"] = float(0 if filter_pairs is None else filter_pairs.nnz)
    return metrics


def format_table(metrics: dict, title: str) -> str:
    rows = [f"{title} (percent):", " | ".join(f"{key:>10}" for key in TABLE_KEYS)]
    rows.append(" | ".join(f"{100 * metrics.get(key, float('nan')):10.2f}" for key in TABLE_KEYS))
    for prefix in ("seen/", "unseen/"):
        if f"{prefix}P@1" in metrics:
            rows.append(
                f"{prefix:<8}"
                + " ".join(
                    f"{key}={100 * metrics[prefix + key]:.2f}"
                    for key in ("P@1", "P@5", "R@10")
                    if prefix + key in metrics
                )
            )
    return "\n".join(rows)


MACLR_RECIPE = MACLRRecipe()
