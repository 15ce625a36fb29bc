"""The shortlist-ranker recipe (`hf-xmc train ranker`): sparse shortlist + label-text classifier + fusion.

1. a TF-IDF tree model (`--sparse_model`, from `hf_xmc.baselines`) is fitted on the training documents minus a
   held-out fusion split, and shortlists `--sparse_shortlist_size` labels for every document;
2. `ShortlistRanker` is built on the encoder; its classifier starts from the encoded label texts
   (`--init_from_label_text`), its frozen label-text embeddings give the dense similarity;
3. training is BCE over each document's shortlist (sparse + classifier + label-text candidates, gold labels added
   back): hard negatives instead of all-label BCE. With `--freeze_encoder` (default) the documents are encoded once
   and the classifier trains on the cached embeddings (seconds per epoch);
4. the fusion (classifier logit, label-text similarity, sparse score, in-sparse flag, log prior) is fitted on the
   held-out split; then evaluation, save (the sparse model in `sparse_shortlist/` of the checkpoint), reload check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, Trainer

from ..baselines import PEERS
from ..data import LabelVocabulary, XMCInputError
from ..hub.inference import RankedLabel
from ..models.shortlist_ranker import FUSION_FEATURES, ShortlistRanker
from ..shortlist.collator import CANDIDATE_IDS, CANDIDATE_SCORES, DOCUMENT_EMBEDDINGS, ShortlistRankerCollator
from ..shortlist.fusion import FUSION_OBJECTIVES, collect_candidate_features, fit_fusion
from ..shortlist.label_text import embed_texts, init_ranker_from_label_text
from ..shortlist.sparse import SPARSE_SHORTLIST_FOLDER, SparseShortlister
from .arguments import RecipeTrainingArguments, XMCDataArguments, XMCModelArguments
from .recipe import MethodRecipe
from .recipe_steps import log

logger = logging.getLogger(__name__)
RANKER_MODEL_TYPES = ("shortlist_ranker",)


@dataclass
class RankerDataArguments(XMCDataArguments):
    """Which data, how texts and label texts are tokenised, and the split the fusion is fitted on."""

    label_max_length: int = field(default=32, metadata={"help": "Tokens per label text (label texts are short)."})
    fusion_validation_size: float = field(
        default=0.1,
        metadata={"help": "Training documents held out (seeded; fraction < 1 or a count) to fit the fusion on."},
    )
    label_embeddings_cache: str | None = field(
        default=None,
        metadata={"help": "A .pt file for the encoded label texts: read when it matches, written otherwise."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.fusion_validation_size <= 0:
            raise ValueError(f"--fusion_validation_size must be > 0, got {self.fusion_validation_size:g}")
        if self.label_max_length < 3:
            raise ValueError(f"--label_max_length must be >= 3 tokens, got {self.label_max_length}")


@dataclass
class RankerModelArguments(XMCModelArguments):
    """The shortlist sources, the classifier's start, and what the fusion uses."""

    sparse_model: str = field(
        default="omikuji-bonsai",
        metadata={"help": f"Sparse shortlister: {', '.join(PEERS)} or none (Bonsai: the best peer on deps-dev)."},
    )
    sparse_shortlist_size: int = field(default=100, metadata={"help": "Labels the sparse model shortlists."})
    classifier_shortlist_size: int = field(default=50, metadata={"help": "Labels the classifier shortlists."})
    dense_shortlist_size: int = field(default=50, metadata={"help": "Labels the label-text similarity shortlists."})
    init_from_label_text: bool = field(
        default=True, metadata={"help": "Start the classifier from the encoded label texts (else random)."}
    )
    freeze_encoder: bool = field(
        default=True, metadata={"help": "Keep the encoder frozen and train the classifier on cached embeddings."}
    )
    fusion_objective: str = field(
        default="pointwise",
        metadata={
            "help": "pointwise (logistic regression over all candidates; the better P@k on deps-dev) or listwise "
            "(each document's gold labels against its shortlist; more tail labels, lower P@1)."
        },
    )
    fusion_features: str = field(
        default="all", metadata={"help": f"Comma-separated subset of {', '.join(FUSION_FEATURES)}, or all."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.sparse_model != "none" and self.sparse_model not in PEERS:
            raise ValueError(f"--sparse_model must be one of {', '.join(PEERS)} or none, got {self.sparse_model!r}")
        for name in ("sparse_shortlist_size", "classifier_shortlist_size", "dense_shortlist_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.sparse_model == "none" and not (self.classifier_shortlist_size or self.dense_shortlist_size):
            raise ValueError(
                "no shortlist source: set --sparse_model or a positive --classifier/--dense_shortlist_size"
            )
        if self.fusion_objective not in FUSION_OBJECTIVES:
            raise ValueError(f"--fusion_objective must be one of {FUSION_OBJECTIVES}, got {self.fusion_objective!r}")
        names = self.fusion_feature_names()
        unknown = [name for name in names if name not in FUSION_FEATURES]
        if unknown or not names:
            raise ValueError(f"--fusion_features: unknown {unknown}; choose from {', '.join(FUSION_FEATURES)}")

    def fusion_feature_names(self) -> list[str]:
        if self.fusion_features == "all":
            return list(FUSION_FEATURES)
        return [name.strip() for name in self.fusion_features.split(",") if name.strip()]


@dataclass
class RankerTrainingArguments(RecipeTrainingArguments):
    """Training defaults for the classifier on cached embeddings (2 CPU cores)."""

    output_dir: str | None = field(default="hf-xmc-ranker-debtags", metadata={"help": "Where the model goes."})
    num_train_epochs: float = field(default=10.0, metadata={"help": "Training epochs."})
    per_device_train_batch_size: int = field(default=128, metadata={"help": "Batch size per device (train)."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Batch size per device (eval)."})
    learning_rate: float = field(default=2e-5, metadata={"help": "Learning rate of the encoder (when trained)."})
    learning_rate_classifier: float = field(default=1e-2, metadata={"help": "Learning rate of the classifier."})
    warmup_steps: float = field(default=0.05, metadata={"help": "Warm-up steps, or a fraction below 1."})
    logging_steps: float = field(default=20, metadata={"help": "Log every this many steps."})
    save_strategy: str = field(default="no", metadata={"help": "Checkpoint strategy (no, steps, epoch)."})
    seed: int = field(default=42, metadata={"help": "Random seed."})


class RankerTrainer(Trainer):
    """`Trainer` with two learning rates (encoder, classifier) and no weight decay on the label weights, which
    would pull the label-text start of labels outside every shortlist towards zero."""

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            classifier = [p for p in model.classifier.parameters() if p.requires_grad]
            others = [
                p for name, p in model.named_parameters() if p.requires_grad and not name.startswith("classifier.")
            ]
            groups = [{"params": classifier, "lr": self.args.learning_rate_classifier, "weight_decay": 0.0}]
            if others:
                groups.append(
                    {"params": others, "lr": self.args.learning_rate, "weight_decay": self.args.weight_decay}
                )
            self.optimizer = torch.optim.AdamW(groups, lr=self.args.learning_rate)
        return self.optimizer


def keep_top_k_ids(outputs, labels):
    """`preprocess_logits_for_metrics` for the ranker: its top-k ids (it has no dense logits)."""
    return outputs[1] if isinstance(outputs, (tuple, list)) else outputs.top_k_ids


class RankerRecipe(MethodRecipe):
    """See the module docstring. Holds the state of one run (the sparse model, the fusion split)."""

    name = "ranker"
    help = (
        "Shortlist + rank: TF-IDF tree shortlist, label-text-initialised classifier, fusion fitted on held-out docs."
    )
    data_arguments = RankerDataArguments
    model_arguments = RankerModelArguments
    training_arguments = RankerTrainingArguments
    model_types = RANKER_MODEL_TYPES
    trainer_class = RankerTrainer

    def run(self, data_args, model_args, training_args, callbacks=None) -> dict:
        self.state = {"data_args": data_args, "model_args": model_args, "splits_seen": 0}
        result = super().run(data_args, model_args, training_args, callbacks)
        result["ranker"] = {key: self.state[key] for key in ("shortlist", "fusion", "label_text") if key in self.state}
        return result

    # ----------------------------------------------------------------------------------------------- the model
    def build_model(self, model_args, vocabulary: LabelVocabulary, data_args):
        path = self.base_model_path(model_args)
        config = AutoConfig.from_pretrained(path)
        self.state["vocabulary"] = vocabulary
        if config.model_type in RANKER_MODEL_TYPES:
            if config.num_labels != len(vocabulary):
                raise XMCInputError(
                    f"checkpoint {path} was trained for {config.num_labels} labels but the data has {len(vocabulary)}"
                )
            self.state["model"] = AutoModel.from_pretrained(path)
            return self.state["model"]
        model = ShortlistRanker.from_encoder_pretrained(
            path,
            num_labels=len(vocabulary),
            classifier_shortlist_size=model_args.classifier_shortlist_size,
            dense_shortlist_size=model_args.dense_shortlist_size,
            sparse_shortlist_folder=SPARSE_SHORTLIST_FOLDER if model_args.sparse_model != "none" else None,
        )
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        info = init_ranker_from_label_text(
            model,
            tokenizer,
            vocabulary,
            max_length=data_args.label_max_length,
            cache_file=data_args.label_embeddings_cache,
            encoder_name=str(path),
        )
        if not model_args.init_from_label_text:  # the label texts still give the dense similarity
            model.classifier.weight.data.normal_(0.0, model.config.initializer_range)
            model.classifier.bias.data.zero_()
        self.state["label_text"] = {"num_text_fallbacks": info["num_text_fallbacks"]}
        if model_args.freeze_encoder:
            model.encoder.requires_grad_(False)
        self.state["model"] = model
        return model

    # ------------------------------------------------------------------------------------------------ the data
    def preprocess(self, split, tokenizer, data_args, training_args):
        """`run_recipe` preprocesses the training split first: the fusion split is held out of it and the sparse
        model fitted on the rest; every split gets its sparse shortlist."""
        model_args, state = self.state["model_args"], self.state
        state["splits_seen"] += 1
        if state["splits_seen"] == 1:
            size = data_args.fusion_validation_size
            count = int(round(size * len(split))) if size < 1 else int(size)
            if not 1 <= count < len(split):
                raise ValueError(f"--fusion_validation_size {size:g} leaves no training documents of {len(split)}")
            shuffled = split.shuffle(seed=training_args.seed)
            state["fusion_split"], split = shuffled.select(range(count)), shuffled.select(range(count, len(shuffled)))
            state["tokenizer"] = tokenizer
            if model_args.sparse_model != "none":
                log(f"fitting the sparse shortlist ({model_args.sparse_model}) on {len(split):,} documents ...")
                state["sparse"] = SparseShortlister.fit(
                    list(split["text"]),
                    [list(labels) for labels in split["labels"]],
                    state["vocabulary"],
                    algorithm=model_args.sparse_model,
                    seed=training_args.seed,
                    shortlist_size=model_args.sparse_shortlist_size,
                )
            state["train_split"] = split
            return self._model_inputs(split, tokenizer, data_args, embed=model_args.freeze_encoder, count=True)
        return self._model_inputs(split, tokenizer, data_args, embed=False)

    def _model_inputs(self, split, tokenizer, data_args, embed: bool, count: bool = False):
        texts = list(split["text"])
        columns = {"labels": [list(labels) for labels in split["labels"]]}
        sparse = self.state.get("sparse")
        if sparse is not None:
            ids, scores = sparse.top_k(texts, self.state["model_args"].sparse_shortlist_size)
            columns[CANDIDATE_IDS] = [row[row >= 0].tolist() for row in ids]
            columns[CANDIDATE_SCORES] = [row[: int((i >= 0).sum())].tolist() for row, i in zip(scores, ids)]
            if count:
                self.state["shortlist"] = sparse_shortlist_recall(ids, columns["labels"])
                log(describe_recall(self.state["shortlist"]))
        if embed:
            model = self.state["model"]
            columns[DOCUMENT_EMBEDDINGS] = embed_texts(
                model.encode, tokenizer, texts, data_args.max_length, 64, "Encoding training documents"
            ).tolist()
        else:
            columns.update(tokenizer(texts, truncation=True, max_length=data_args.max_length))
        from datasets import Dataset

        return Dataset.from_dict(dict(columns))

    def build_collator(self, tokenizer, vocabulary, data_args, model_args):
        return ShortlistRankerCollator(tokenizer, num_labels=len(vocabulary), max_length=data_args.max_length)

    # -------------------------------------------------------------------------------------------- the training
    def preprocess_logits_for_metrics(self, exclude=None):
        # the ranker returns its own top-k ids (no dense logits); `exclude` (the evaluated documents' filter
        # pairs) has nothing to remove from candidates that are its own top-k
        return keep_top_k_ids

    def train_and_evaluate(self, trainer, data_args, training_args):
        model = trainer.model
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        stats = dict(model.shortlist_stats)
        if stats["documents"]:
            log(
                f"training shortlists missed every gold label of {stats['documents_without_shortlisted_positive']:,} "
                f"of {stats['documents']:,} document passes; {stats['positives_added']:,} gold labels were added back"
            )
        self.state.setdefault("shortlist", {})["training_passes"] = stats
        self.fit_fusion(model, trainer.data_collator, data_args, training_args.per_device_eval_batch_size)
        output_dir = Path(training_args.output_dir)
        if self.state.get("sparse") is not None and training_args.process_index == 0:
            self.state["sparse"].save_pretrained(output_dir / SPARSE_SHORTLIST_FOLDER)
        log(f"evaluating on {len(trainer.eval_dataset):,} {data_args.eval_split} documents ...")
        metrics = trainer.evaluate(metric_key_prefix=data_args.eval_split)
        return train_result, {key.removeprefix(f"{data_args.eval_split}_"): value for key, value in metrics.items()}

    def fit_fusion(self, model, collator, data_args, batch_size: int) -> dict:
        """Fits the fusion on the held-out split; returns the weights (also kept in `state["fusion"]`)."""
        split = self.state["fusion_split"]
        if "fusion_candidates" not in self.state:  # features of a fixed model: refits (other feature sets) reuse them
            inputs = self._model_inputs(
                split, self.state["tokenizer"], data_args, embed=self.state["model_args"].freeze_encoder
            )
            batches = (collator([inputs[i] for i in range(start, min(start + batch_size, len(inputs)))])
                       for start in range(0, len(inputs), batch_size))  # fmt: skip
            self.state["fusion_candidates"] = collect_candidate_features(model, batches)
        features, targets, documents = self.state["fusion_candidates"]
        model_args = self.state["model_args"]
        weights = fit_fusion(
            model, features, targets, model_args.fusion_feature_names(), documents, model_args.fusion_objective
        )
        self.state["fusion"] = {"weights": weights, "num_docs": len(split), "num_candidates": int(len(targets))}
        log(
            f"fusion fitted on {len(split):,} held-out documents: "
            + ", ".join(f"{k} {v:+.3g}" for k, v in weights.items())
        )
        return weights

    # ------------------------------------------------------------------------------------------ after training
    def load_saved(self, output_dir: Path):
        model = AutoModel.from_pretrained(output_dir).eval()
        folder = Path(output_dir) / SPARSE_SHORTLIST_FOLDER
        if folder.is_dir():
            model.sparse_shortlister = SparseShortlister.from_pretrained(folder, self.state.get("vocabulary"))
        return model

    def reload_difference(self, model, reloaded, batch: dict) -> float:
        with torch.no_grad():
            before = model(**{key: value.to(model.device) for key, value in batch.items()})
            after = reloaded(**batch)
        if not torch.equal(before.top_k_ids.cpu(), after.top_k_ids):
            return float("inf")
        finite = torch.isfinite(after.top_k_scores)
        return float((before.top_k_scores.cpu() - after.top_k_scores)[finite].abs().max())

    def rank_labels(self, model, tokenizer, vocabulary, texts, k, max_length=None, truncation=True) -> list:
        from ..hub.inference import rank_labels

        return rank_labels(model, tokenizer, vocabulary, texts, k=k, truncation=truncation, max_length=max_length)


def sparse_shortlist_recall(ids: np.ndarray, label_lists: list[list[int]]) -> dict:
    """How much of the gold the sparse shortlist holds: recall, and documents whose every gold label it missed."""
    found = total = missed_docs = docs = 0
    for row, labels in zip(ids, label_lists):
        if not labels:
            continue
        hits = len(set(labels) & set(row[row >= 0].tolist()))
        found, total, docs = found + hits, total + len(labels), docs + 1
        missed_docs += hits == 0
    return {"recall": found / max(total, 1), "documents": docs, "documents_without_shortlisted_positive": missed_docs}


def describe_recall(stats: dict) -> str:
    return (
        f"sparse shortlist on its training documents: recall {100 * stats['recall']:.1f}%, every gold label missed for "
        f"{stats['documents_without_shortlisted_positive']:,} of {stats['documents']:,} documents (their gold labels "
        "are added back during training)"
    )


RANKER_RECIPE = RankerRecipe()

__all__ = ["RANKER_RECIPE", "RankedLabel", "RankerDataArguments", "RankerModelArguments", "RankerRecipe",
           "RankerTrainingArguments"]  # fmt: skip
