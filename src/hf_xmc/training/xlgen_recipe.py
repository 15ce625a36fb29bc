"""XLGen's recipe spec: a T5 fine-tuned to generate label sequences (base / BCL / MCG), through the shared recipe.

`hf-xmc train xlgen --variant {base,bcl,mcg} --model_name_or_path T5_FOLDER` and `examples/train_xlgen.py` run it.
The T5 comes from `hf-xmc pretrain-t5` (no checkpoint can be downloaded here) or is any T5 checkpoint (`t5-base`).
Steps beyond the shared flow: label clusters (PIFA over TF-IDF of the training texts, seeded K-means, saved as
`label_clusters.json`), XLGen's special tokens added to the tokenizer, `Seq2SeqTrainer` on `XLGenDataCollator`
batches, and an evaluation by generation: micro/macro/tail F1 of the generated sets, strict P@k/PSP@k from the label
scores, the share of valid labels. The ranked labels the shared recipe asks for afterwards (decision thresholds,
sample text) reuse the evaluation's generations for the same texts, so nothing is generated twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, Seq2SeqTrainer, Seq2SeqTrainingArguments

from ..data import LabelVocabulary, XMCInputError, load_xmc_dataset
from ..generation import (
    DECODING_STRATEGIES,
    ENSEMBLE_JOINS,
    LABEL_ORDERS,
    LabelCodec,
    XLGenDataCollator,
    XLGenTokens,
    check_label_clusters,
    check_num_clusters,
    evaluate_generated_labels,
)
from ..generation.ranking import rank_generated_labels
from ..models.cg_t5 import VARIANTS, T5ForClusterGuidedLabelGeneration
from . import recipe_steps as steps
from .arguments import RecipeTrainingOptions, XMCDataArguments, XMCModelArguments, check_training_arguments
from .recipe import MethodRecipe, run_recipe
from .xlgen_clusters import (
    ClusterLossAnnealingCallback,
    compute_label_clusters,
    load_label_clusters,
    save_label_clusters,
)

XLGEN_MODEL_TYPES = ("cg_t5",)


@dataclass
class XLGenDataArguments(XMCDataArguments):
    """Data, targets, clusters and decoding."""

    max_length: int = field(default=128, metadata={"help": "Input tokens per text (task token and EOS included)."})
    max_target_length: int = field(default=64, metadata={"help": "Target tokens (whole labels, one EOS)."})
    max_train_samples: int | None = field(default=8000, metadata={"help": "Training subset size (0: all)."})
    max_eval_samples: int | None = field(default=1000, metadata={"help": "Evaluation subset size (0: all)."})
    decision_validation_size: float = field(
        default=500, metadata={"help": "Documents held out of train to tune the decision thresholds on (0: none)."}
    )
    label_order: str = field(
        default="frequency", metadata={"help": f"Target label order: {', '.join(LABEL_ORDERS)} (paper: frequency)."}
    )
    label_separator: str = field(default=";", metadata={"help": "String between labels; no label may contain it."})
    num_clusters: int = field(default=30, metadata={"help": "Label clusters (K-means on PIFA) for bcl / mcg."})
    cluster_seed: int = field(default=0, metadata={"help": "K-means seed."})
    decoding: str = field(
        default="beam",
        metadata={"help": f"{', '.join(DECODING_STRATEGIES)} or ensemble (beam + top_k_p + temperature)."},
    )
    num_beams: int = field(default=5, metadata={"help": "Beam width of beam decoding."})
    constrained_decoding: bool = field(
        default=False, metadata={"help": "Generate vocabulary labels only (label trie); off in the paper's setting."}
    )
    ensemble_join: str = field(default="union", metadata={"help": "Decoding ensemble join: union or intersection."})
    max_new_tokens: int = field(default=64, metadata={"help": "Generated tokens per text at most."})
    generation_batch_size: int = field(default=32, metadata={"help": "Texts per generate call."})

    def __post_init__(self):
        super().__post_init__()
        if self.label_order not in LABEL_ORDERS:
            raise ValueError(f"--label_order must be one of {LABEL_ORDERS}, got {self.label_order!r}")
        if self.decoding not in (*DECODING_STRATEGIES, "ensemble"):
            raise ValueError(f"--decoding must be one of {[*DECODING_STRATEGIES, 'ensemble']}, got {self.decoding!r}")
        if self.ensemble_join not in ENSEMBLE_JOINS:
            raise ValueError(f"--ensemble_join must be one of {ENSEMBLE_JOINS}, got {self.ensemble_join!r}")
        for name in ("max_target_length", "num_clusters", "num_beams", "max_new_tokens", "generation_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.max_length < 3:
            raise ValueError(f"--max_length must be >= 3 (task token, text, EOS), got {self.max_length}")


@dataclass
class XLGenModelArguments(XMCModelArguments):
    """The T5 to start from and the XLGen variant."""

    variant: str = field(
        default="base", metadata={"help": "base, bcl (cluster layer, eq. 1) or mcg (cluster generation)."}
    )
    cluster_loss_weight: float = field(
        default=1.0, metadata={"help": "λ of eq. 1 (bcl) / weight of the cluster task (mcg)."}
    )
    anneal_cluster_loss: bool = field(default=False, metadata={"help": "λ = cluster_loss_weight / epoch (paper A.2)."})
    condition_on_clusters: bool | None = field(
        default=None,
        metadata={
            "help": "bcl: also append clusters to the input (reference code; gold in training, predicted after)."
        },
    )
    cluster_threshold: float = field(
        default=0.5, metadata={"help": "bcl conditioning: clusters above this probability."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.variant not in VARIANTS:
            raise ValueError(f"--variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.cluster_loss_weight < 0:
            raise ValueError(f"--cluster_loss_weight must be >= 0, got {self.cluster_loss_weight}")
        if not 0 < self.cluster_threshold < 1:
            raise ValueError(f"--cluster_threshold must be in (0, 1), got {self.cluster_threshold}")


@dataclass
class XLGenTrainingArguments(Seq2SeqTrainingArguments, RecipeTrainingOptions):
    """`Seq2SeqTrainingArguments` sized for a small T5 on 2 CPU cores, plus the recipe's budget options."""

    output_dir: str | None = field(default="hf-xmc-xlgen-debtags", metadata={"help": "Where the model goes."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Training epochs."})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Batch size per device (train)."})
    per_device_eval_batch_size: int = field(default=32, metadata={"help": "Batch size per device (eval loss)."})
    learning_rate: float = field(default=5e-4, metadata={"help": "AdamW learning rate (paper: 2e-4 for t5-base)."})
    warmup_steps: float = field(default=0.05, metadata={"help": "Warm-up steps, or a fraction below 1."})
    logging_steps: float = field(default=20, metadata={"help": "Log every this many steps."})
    save_strategy: str = field(default="no", metadata={"help": "Checkpoint strategy (no, steps, epoch)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep the columns the collator reads."})
    dataloader_pin_memory: bool = field(default=torch.cuda.is_available(), metadata={"help": "Pin batches (CUDA)."})
    seed: int = field(default=42, metadata={"help": "Random seed."})

    def __post_init__(self):
        check_training_arguments(self)
        super().__post_init__()


class XLGenRecipe(MethodRecipe):
    """XLGen through the shared recipe (`Seq2SeqTrainer`; evaluation by generation)."""

    name = "xlgen"
    help = "XLGen: a T5 generates the labels (--variant base, bcl or mcg); start from `hf-xmc pretrain-t5`."
    data_arguments = XLGenDataArguments
    model_arguments = XLGenModelArguments
    training_arguments = XLGenTrainingArguments
    trainer_class = Seq2SeqTrainer
    model_types = XLGEN_MODEL_TYPES
    default_base_model_name = "a T5 from `hf-xmc pretrain-t5`"

    def __init__(self):
        self._reset()

    def _reset(self):
        self.label_clusters = None
        self.data_args = None
        self.vocabulary = None
        self.model_config = None
        self.anneal = False
        self.generated: dict[str, list] = {}

    def run(self, data_args, model_args, training_args, callbacks=None) -> dict:
        self._reset()
        self.data_args = data_args
        try:
            return run_recipe(self, data_args, model_args, training_args, callbacks)
        finally:
            self.generated = {}

    # ---------------------------------------------------------------------------------------------- the model
    def base_model_path(self, model_args) -> str:
        if not model_args.model_name_or_path:
            raise ValueError(
                "--model_name_or_path is required: a T5 checkpoint (`hf-xmc pretrain-t5 --output_dir DIR` makes a "
                "small one here; `t5-base` where it can be downloaded) or an XLGen checkpoint to continue"
            )
        return model_args.model_name_or_path

    def build_model(self, model_args, vocabulary: LabelVocabulary, data_args):
        path = self.base_model_path(model_args)
        self.anneal = model_args.anneal_cluster_loss
        config = AutoConfig.from_pretrained(path)
        if config.model_type in XLGEN_MODEL_TYPES:
            if config.variant != model_args.variant:
                raise XMCInputError(
                    f"{path} is an XLGen-{config.variant} checkpoint; it cannot be trained or used as "
                    f"--variant {model_args.variant} (its inputs and outputs differ): pass --variant {config.variant}"
                )
            if (Path(path) / "label_vocabulary.json").is_file() and LabelVocabulary.from_pretrained(path).labels != (
                vocabulary.labels
            ):
                raise XMCInputError(f"{path} was trained on another label vocabulary")
            if config.variant != "base":
                self.label_clusters = check_label_clusters(
                    load_label_clusters(path), len(vocabulary), config.num_clusters
                )
            return AutoModelForSeq2SeqLM.from_pretrained(path)
        if config.model_type not in ("t5", "mt5"):
            raise XMCInputError(
                f"{path} is a {config.model_type!r} checkpoint; XLGen starts from a T5 (`hf-xmc pretrain-t5`)"
            )
        if model_args.variant != "base":
            check_num_clusters(data_args.num_clusters, len(vocabulary))
            xmc = load_xmc_dataset(data_args.dataset_name_or_path)
            steps.log(f"clustering {len(vocabulary):,} labels into {data_args.num_clusters} clusters (PIFA, K-means)")
            self.label_clusters = compute_label_clusters(xmc, data_args.num_clusters, data_args.cluster_seed)
        return T5ForClusterGuidedLabelGeneration.from_t5_pretrained(
            path,
            variant=model_args.variant,
            num_clusters=data_args.num_clusters,
            cluster_loss_weight=model_args.cluster_loss_weight,
            condition_on_clusters=model_args.condition_on_clusters,
            cluster_threshold=model_args.cluster_threshold,
            label_separator=data_args.label_separator,
            num_labels=len(vocabulary),
        )

    def load_tokenizer(self, model_args, model):
        self.model_config = model.config
        tokenizer = AutoTokenizer.from_pretrained(self.base_model_path(model_args))
        num_clusters = model.config.num_clusters if model.config.variant != "base" else 0
        if model.config.label_task_token_id is None:
            XLGenTokens.add_to(tokenizer, model, num_clusters)
        else:
            XLGenTokens.for_model(tokenizer, model.config)
        if self.data_args is not None:
            model.generation_config.num_beams = self.data_args.num_beams
            model.generation_config.max_new_tokens = self.data_args.max_new_tokens
        return tokenizer

    # ----------------------------------------------------------------------------------------------- the data
    def preprocess(self, split, tokenizer, data_args, training_args):
        tokens = XLGenTokens.from_tokenizer(tokenizer)

        def encode(batch):
            return {"input_ids": tokens.encode_texts(tokenizer, batch["text"], data_args.max_length)}

        drop = [column for column in split.column_names if column not in ("labels", "text")]
        with training_args.main_process_first(desc="tokenising"):
            return split.map(encode, batched=True, remove_columns=drop, desc="Tokenising")

    def build_collator(self, tokenizer, vocabulary, data_args, model_args):
        """Batches as the model's config says (a continued checkpoint keeps its own variant and conditioning)."""
        config = self.model_config
        self.vocabulary = vocabulary
        num_clusters = config.num_clusters if config.variant != "base" else 0
        return XLGenDataCollator(
            tokens=XLGenTokens.from_tokenizer(tokenizer, num_clusters),
            codec=LabelCodec(tokenizer, vocabulary.labels, config.label_separator),
            variant=config.variant,
            label_clusters=self.label_clusters,
            condition_on_clusters=bool(config.condition_on_clusters),
            label_order=data_args.label_order,
            max_target_length=data_args.max_target_length,
        )

    def build_trainer(self, *, model, tokenizer, collator, train_dataset, eval_dataset, vocabulary, data_args,
                      training_args, callbacks, exclude=None):  # fmt: skip
        self.eval_exclude = exclude  # the evaluated documents' filter pairs, left out by `train_and_evaluate`
        callbacks = list(callbacks)
        if model.config.variant != "base" and self.anneal:
            callbacks.append(ClusterLossAnnealingCallback(model.config.cluster_loss_weight))
        return Seq2SeqTrainer(
            model=model,
            args=training_args,
            data_collator=collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    def train_and_evaluate(self, trainer, data_args, training_args):
        """Train; the held-out generation loss; then generate the evaluation texts' labels and score them."""
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        metrics = {
            "loss": trainer.evaluate(metric_key_prefix=data_args.eval_split).get(f"{data_args.eval_split}_loss")
        }
        output_dir = Path(training_args.output_dir)
        if self.label_clusters is not None and trainer.is_world_process_zero():
            save_label_clusters(output_dir, self.label_clusters)
        eval_dataset = trainer.eval_dataset
        texts, references = list(eval_dataset["text"]), [list(row) for row in eval_dataset["labels"]]
        vocabulary = self.vocabulary
        steps.log(
            f"generating the labels of {len(texts):,} {data_args.eval_split} documents ({data_args.decoding}) ..."
        )
        ranked = self._generate(trainer.model, trainer.processing_class, vocabulary, texts)
        metrics.update(
            evaluate_generated_labels(
                ranked, references, vocabulary, propensity=data_args.propensity,
                exclude=getattr(self, "eval_exclude", None),
            )
        )  # fmt: skip
        return train_result, metrics

    def _generate(self, model, tokenizer, vocabulary, texts: list[str]) -> list:
        """Generated labels of `texts` (all of them, by score), remembered per text for `rank_labels`."""
        missing = [text for text in dict.fromkeys(texts) if text not in self.generated]
        args = self.data_args
        for start in range(0, len(missing), 256):
            chunk = missing[start : start + 256]
            ranked = rank_generated_labels(
                model, tokenizer, vocabulary, chunk, k=10**6,
                strategy=args.decoding, constrained=args.constrained_decoding,
                max_source_length=args.max_length, max_new_tokens=args.max_new_tokens,
                batch_size=args.generation_batch_size,
            )  # fmt: skip
            self.generated.update(zip(chunk, ranked))
            if len(missing) > 256:
                steps.log(f"  generated {min(start + 256, len(missing)):,}/{len(missing):,}")
        return [self.generated[text] for text in texts]

    # ------------------------------------------------------------------------------------------ after training
    def rank_labels(self, model, tokenizer, vocabulary, texts, k, max_length=None, truncation=True):
        """Generated labels by decreasing probability (`exp` of the summed token log-probabilities), at most `k`;
        new labels have `label_id=None`, `seen=False`. T5 reads any length: texts are cut at `max_length` tokens
        (default 512) whatever `truncation` says."""
        if self.data_args is None:
            return rank_generated_labels(model, tokenizer, vocabulary, texts, k=k, max_source_length=max_length)
        evaluated = all(text in self.generated for text in texts)  # the evaluation documents, generated already
        ranked = [row[:k] for row in self._generate(model, tokenizer, vocabulary, list(texts))]
        if not evaluated and len(texts) > 1 and not any(label.label_id is not None for row in ranked for label in row):
            # the threshold-tuning documents: the thresholds would have nothing to choose from, say why
            raise XMCInputError(
                f"the model generated no vocabulary label for any of {len(texts)} threshold-tuning documents "
                "(under-trained?): train longer, pass --constrained_decoding true (always at least one vocabulary "
                "label), or --decision_validation_size 0 (no decision thresholds)"
            )
        return ranked

    def load_saved(self, output_dir: Path):
        return AutoModelForSeq2SeqLM.from_pretrained(output_dir).eval()

    def reload_difference(self, model, reloaded, batch: dict) -> float:
        """Largest difference of the first decoding step's logits (and cluster logits) on one collated batch."""
        inputs = {key: batch[key] for key in ("input_ids", "attention_mask")}
        start = torch.full((inputs["input_ids"].shape[0], 1), model.config.decoder_start_token_id, dtype=torch.long)
        with torch.no_grad():
            before = model(
                **{k: v.to(model.device) for k, v in inputs.items()}, decoder_input_ids=start.to(model.device)
            )
            after = reloaded(**inputs, decoder_input_ids=start)
        difference = float((before.logits.cpu().float() - after.logits.float()).abs().max())
        if before.cluster_logits is not None:
            difference = max(difference, float((before.cluster_logits.cpu() - after.cluster_logits).abs().max()))
        return difference


XLGEN_RECIPE = XLGenRecipe()


def run_xlgen_recipe(data_args, model_args, training_args, callbacks=None) -> dict:
    """Trains, evaluates (by generation), saves, reloads and applies an XLGen model."""
    return XLGEN_RECIPE.run(data_args, model_args, training_args, callbacks)


__all__ = [
    "XLGEN_RECIPE",
    "XLGenDataArguments",
    "XLGenModelArguments",
    "XLGenRecipe",
    "XLGenTrainingArguments",
    "run_xlgen_recipe",
]
