"""The shared training recipe: one flow for every method, a small typed interface each method fills in.

data set -> seeded subsets (+ held-out documents for the decision thresholds) -> tokenise -> trainer (with
`make_compute_metrics` and the model-card callback) -> train (optionally within a wall-clock budget) -> evaluate ->
save (weights, tokenizer, label vocabulary, `xmc_metrics.json`, card, `decision_thresholds.json`) -> reload and
compare outputs -> tune thresholds, F1 at the tuned threshold and at 0.5 -> predict the sample text -> print the
table (and the TF-IDF peers' rows) -> optional push -> remove leftover `checkpoint-*` folders.

A method subclasses `MethodRecipe` (see `docs/architecture.md`, "The shared recipe") and registers it in
`hf_xmc.methods`; `hf-xmc train <method>`, `examples/train_<method>.py` and `benchmarks/bench_quality.py` then run it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from abc import ABC, abstractmethod
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, Trainer, TrainerCallback, set_seed

from ..data import LabelVocabulary, XMCInputError, load_xmc_dataset
from ..hub import ModelCardCallback, RankedLabel, push_xmc_model
from ..hub.inference import rank_labels
from ..hub.run_description import training_command
from ..metrics import make_compute_metrics, make_preprocess_logits_for_metrics
from ..models import register_auto_classes
from . import recipe_steps as steps
from .arguments import (
    RecipeTrainingArguments,
    XMCDataArguments,
    XMCModelArguments,
    check_training_arguments,
    default_encoder_path,
)
from .budget import TimeBudgetCallback, run_first
from .collators import XMCDataCollator
from .progress import EvaluationProgressCallback, StepTimeEstimateCallback
from .recipe_parser import MethodArgumentParser


class MethodRecipe(ABC):
    """What a method implements to run through the shared recipe; everything not abstract has a default that suits
    a `Trainer`-trained classifier over `XMCDataCollator` batches.

    Class attributes:
        name (`str`): the registry name (`"aplc"`), also the model-card template unless `card_method` is set.
        help (`str`): one line for `hf-xmc train --help`.
        data_arguments, model_arguments, training_arguments (`type`): the method's dataclasses, subclasses of
            `XMCDataArguments`, `XMCModelArguments` and a `TrainingArguments` with `RecipeTrainingOptions`.
        trainer_class (`type`, *optional*): `Trainer` (default), `Seq2SeqTrainer`, `SentenceTransformerTrainer`, ...
        model_types (`tuple[str, ...]`): the `config.model_type`s the method's checkpoints have.
    """

    name: str = ""
    help: str = ""
    card_method: str | None = None
    data_arguments: type = XMCDataArguments
    model_arguments: type = XMCModelArguments
    training_arguments: type = RecipeTrainingArguments
    trainer_class: type | None = None
    model_types: tuple[str, ...] = ()
    default_base_model_name: str = "sentence-transformers/all-MiniLM-L6-v2"

    # ------------------------------------------------------------------------------------------- command line
    def argument_dataclasses(self) -> tuple[type, type, type]:
        """The dataclasses of the recipe's parser, in parse order (data, model, training)."""
        return self.data_arguments, self.model_arguments, self.training_arguments

    def parser(self, **kwargs) -> MethodArgumentParser:
        kwargs.setdefault("prog", f"hf-xmc train {self.name}")
        kwargs.setdefault("description", self.help)
        return MethodArgumentParser(self.argument_dataclasses(), **kwargs)

    def parse_args(self, argv: list[str] | None = None) -> tuple:
        """Flags, or one `.json` file holding them, -> `(data_args, model_args, training_args)`."""
        argv = sys.argv[1:] if argv is None else argv
        parser = self.parser()
        if len(argv) == 1 and argv[0].endswith(".json"):
            return parser.parse_json_file(argv[0])
        return parser.parse_args_into_dataclasses(argv)

    def main(self, argv: list[str] | None = None) -> int:
        """`examples/train_<method>.py`: parse, run; a mistake the user can fix is one line and exit code 2."""
        try:
            self.run(*self.parse_args(argv))
        except (ValueError, FileNotFoundError) as error:  # XMCInputError, XMCCheckpointError are ValueErrors
            print(f"{self.parser().prog}: error: {error}", file=sys.stderr)
            return 2
        return 0

    def run(self, data_args, model_args, training_args, callbacks: list[TrainerCallback] | None = None) -> dict:
        return run_recipe(self, data_args, model_args, training_args, callbacks)

    # ----------------------------------------------------------------------------------------------- the model
    def base_model_path(self, model_args) -> str:
        """Where the weights (and the tokenizer) start from."""
        return model_args.model_name_or_path or default_encoder_path()

    @abstractmethod
    def build_model(self, model_args, vocabulary: LabelVocabulary, data_args):
        """A new model for this label space on top of pretrained weights, or one continued from a checkpoint of the
        same method; another method's checkpoint (or another label space) is an `XMCInputError` naming it."""

    def load_tokenizer(self, model_args, model):
        tokenizer = AutoTokenizer.from_pretrained(self.base_model_path(model_args))
        if getattr(model, "config", None) is not None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return tokenizer

    def check_vocabulary(self, vocabulary: LabelVocabulary) -> None:
        """Reject a label space the method cannot train on (e.g. ids not in frequency order); accepts any here."""
        return None

    # ------------------------------------------------------------------------------------------------ the data
    def preprocess(self, split, tokenizer, data_args, training_args):
        """The split as the collator eats it: here token ids + `labels` (other columns dropped)."""

        def tokenize(batch):
            return tokenizer(batch["text"], truncation=True, max_length=data_args.max_length)

        drop = [column for column in split.column_names if column != "labels"]
        with training_args.main_process_first(desc="tokenising"):
            return split.map(tokenize, batched=True, remove_columns=drop, desc="Tokenising")

    def build_collator(self, tokenizer, vocabulary: LabelVocabulary, data_args, model_args):
        return XMCDataCollator(tokenizer, num_labels=len(vocabulary), max_length=data_args.max_length)

    # -------------------------------------------------------------------------------------------- the training
    def build_trainer(
        self, *, model, tokenizer, collator, train_dataset, eval_dataset, vocabulary, data_args, training_args,
        callbacks, exclude=None,
    ):  # fmt: skip
        """The trainer. `exclude` (CSR `(len(eval_dataset), L)` or `None`): the filter pairs of the evaluated
        documents, rows aligned with `eval_dataset`, which the evaluation leaves out (`make_compute_metrics`)."""
        trainer_class = self.trainer_class or Trainer
        return trainer_class(
            model=model,
            args=training_args,
            data_collator=collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            compute_metrics=make_compute_metrics(
                k=(1, 3, 5),
                label_counts=vocabulary.counts,
                num_train_docs=vocabulary.num_train_docs,
                propensity=data_args.propensity,
                label_format="ids",
                exclude=exclude,
            ),
            preprocess_logits_for_metrics=self.preprocess_logits_for_metrics(exclude),
            callbacks=callbacks,
        )

    def preprocess_logits_for_metrics(self, exclude=None):
        """What the evaluation keeps of each batch's outputs: the top-5 label ids of the dense logits (the filter
        pairs in `exclude` left out). A method whose model returns its own top-k ids overrides this."""
        return make_preprocess_logits_for_metrics(k=5, exclude=exclude)

    def train_and_evaluate(self, trainer, data_args, training_args) -> tuple[object, dict[str, float]]:
        """Train, then evaluate on the evaluation subset; returns `(TrainOutput, metrics without key prefix)`."""
        train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        steps.log(f"evaluating on {len(trainer.eval_dataset):,} {data_args.eval_split} documents ...")
        metrics = trainer.evaluate(metric_key_prefix=data_args.eval_split)
        return train_result, {key.removeprefix(f"{data_args.eval_split}_"): value for key, value in metrics.items()}

    # ------------------------------------------------------------------------------------------ after training
    def rank_labels(
        self, model, tokenizer, vocabulary, texts: list[str], k: int, max_length: int | None = None,
        truncation: bool = True,
    ) -> list[list[RankedLabel]]:  # fmt: skip
        """The `k` best labels of each text, best first. `score` is what decision thresholds are tuned on and what
        `load_xmc_model(...).predict` reports (a probability for classifiers). `max_length`: tokens read (default:
        the model's limit); `truncation=False` raises `TextTooLongError` for a longer text instead of cutting it."""
        return rank_labels(model, tokenizer, vocabulary, texts, k=k, truncation=truncation, max_length=max_length)

    def load_saved(self, output_dir: Path):
        """The saved model, loaded the way users load it."""
        return AutoModel.from_pretrained(output_dir).eval()

    def reload_difference(self, model, reloaded, batch: dict) -> float:
        """Largest output difference between the trained and the reloaded model on one collated batch."""
        with torch.no_grad():
            before = model(**{key: value.to(model.device) for key, value in batch.items()}).logits.cpu()
            after = reloaded(**batch).logits
        return float((before.float() - after.float()).abs().max())

    def card_callback(self, data_args, model_args, training_args, vocabulary, examples) -> ModelCardCallback:
        """The model-card callback, told what the run used: the examples trained and evaluated on, the size of the
        split evaluated on, the training documents held out for the thresholds, and the command line."""
        return ModelCardCallback(
            self.card_method or self.name,
            dataset_name=data_args.dataset_name_or_path,
            dataset_split=data_args.eval_split,
            vocabulary=vocabulary,
            base_model=model_args.model_name_or_path or self.default_base_model_name,
            model_name=training_args.hub_model_id,
            num_train_examples=len(examples["train"]),
            num_eval_examples=len(examples["eval"]),
            num_eval_split_docs=len(examples["eval_pool"]) if "eval_pool" in examples else None,
            num_decision_examples=(vocabulary.num_train_docs - len(examples["train_pool"])) or None,
            command_line=training_command(self.name, data_args, model_args, training_args),
        )


def _build_model(recipe: MethodRecipe, model_args, vocabulary, data_args):
    try:
        return recipe.build_model(model_args, vocabulary, data_args)
    except OSError as error:  # transformers/huggingface_hub: no such folder, repo, file or connection
        reason = " ".join(str(error).split())
        raise ValueError(f"--model_name_or_path {model_args.model_name_or_path}: cannot load it ({reason})") from error


def _keep_checkpoints(training_args) -> bool:
    keep = getattr(training_args, "keep_checkpoints", None)
    if keep is not None:
        return bool(keep)
    default = type(training_args).__dataclass_fields__["save_strategy"].default
    return str(training_args.save_strategy).split(".")[-1].lower() != str(default).lower()


def run_recipe(recipe: MethodRecipe, data_args, model_args, training_args, callbacks=None) -> dict:
    """Trains, evaluates, saves, reloads and applies a model of `recipe`'s method; returns what it measured.

    Returns:
        `dict` with `metrics` (evaluation metrics, decision F1s included), `output_dir`, `train_metrics`,
        `global_step`, `reload_max_abs_diff`, `predictions` (the sample text's labels), `num_train_examples`,
        `num_eval_examples`, `eval_docs_per_second`, `decision` (threshold summary), `budget` (when
        `--max_train_minutes`), `peers` (when compared) and `removed_checkpoints`.
    """
    register_auto_classes()  # idempotent
    check_training_arguments(training_args)
    set_seed(training_args.seed)
    validation_size = data_args.validation_size
    if validation_size is not None and validation_size >= 1:
        validation_size = int(validation_size)  # a count of examples, not a fraction
    xmc = load_xmc_dataset(data_args.dataset_name_or_path, validation_size=validation_size, seed=training_args.seed)
    vocabulary = xmc.vocabulary
    recipe.check_vocabulary(vocabulary)
    if data_args.eval_split not in xmc.splits:
        raise XMCInputError(
            f"no {data_args.eval_split!r} split in {data_args.dataset_name_or_path}: it has {sorted(xmc.splits)}"
        )
    if not steps.stream_is_terminal():
        steps.disable_progress_bars()  # before tokenising and loading weights, which draw bars too
    examples = steps.select_examples(xmc, data_args, training_args.seed)
    exclusions = steps.evaluation_exclusions(xmc, examples, getattr(data_args, "apply_filter_labels", True))
    output_dir = Path(training_args.output_dir)
    main_process = training_args.process_index == 0
    if main_process:
        steps.log(
            steps.describe_plan(
                recipe.name, data_args, examples, xmc, output_dir, training_args, training_args.world_size
            )
        )
        filter_line = steps.describe_filter_pairs(xmc, data_args, exclusions["eval"])
        if filter_line:
            steps.log(filter_line)
    model = _build_model(recipe, model_args, vocabulary, data_args)
    tokenizer = recipe.load_tokenizer(model_args, model)
    datasets = {
        name: recipe.preprocess(examples[name], tokenizer, data_args, training_args) for name in ("train", "eval")
    }
    collator = recipe.build_collator(tokenizer, vocabulary, data_args, model_args)

    callbacks = list(callbacks or [])
    if not any(isinstance(callback, ModelCardCallback) for callback in callbacks):
        callbacks.append(recipe.card_callback(data_args, model_args, training_args, vocabulary, examples))
    # The recipe pushes the finished checkpoint itself (`push_xmc_model`, below): Trainer's own pushes would upload
    # its generic model card over the method's one, and checkpoints without the label vocabulary.
    overrides = {"push_to_hub": False}
    if not steps.stream_is_terminal():
        # progress bars redraw with carriage returns: noise in a log file (progress is printed as lines instead)
        overrides["disable_tqdm"] = True
    budget = None
    if getattr(training_args, "max_train_minutes", None):
        budget = TimeBudgetCallback(training_args.max_train_minutes * 60)
        callbacks.insert(0, budget)
    callbacks += [StepTimeEstimateCallback(), EvaluationProgressCallback()]
    trainer = recipe.build_trainer(
        model=model,
        tokenizer=tokenizer,
        collator=collator,
        train_dataset=datasets["train"],
        eval_dataset=datasets["eval"],
        vocabulary=vocabulary,
        data_args=data_args,
        training_args=dataclasses.replace(training_args, **overrides),
        callbacks=callbacks,
        exclude=exclusions["eval"],
    )
    if budget is not None:
        run_first(trainer, budget)
    train_result, metrics = recipe.train_and_evaluate(trainer, data_args, training_args)
    trainer.save_model(str(output_dir))
    result = {
        "metrics": metrics,
        "output_dir": str(output_dir),
        "train_metrics": train_result.metrics,
        "global_step": train_result.global_step,
        "num_train_examples": len(examples["train"]),
        "num_eval_examples": len(examples["eval"]),
        "excluded_filter_pairs": 0 if exclusions["eval"] is None else int(exclusions["eval"].nnz),
    }
    if budget is not None:
        result["budget"] = budget.report()
    if trainer.is_world_process_zero():
        vocabulary.save_pretrained(output_dir)
        _finish_on_main_process(recipe, trainer, collator, datasets, examples, vocabulary, data_args, model_args,
                                output_dir, result, exclusions)  # fmt: skip
    if training_args.push_to_hub and trainer.is_world_process_zero():
        # Not `trainer.push_to_hub()`: it would replace the method's model card with Trainer's generic one.
        repo_id = training_args.hub_model_id or output_dir.name
        result["hub_commit_url"] = push_xmc_model(output_dir, repo_id, token=training_args.hub_token).commit_url
        steps.log(f"pushed to the Hub: {result['hub_commit_url']}")
    if trainer.is_world_process_zero():
        result["removed_checkpoints"] = steps.remove_checkpoints(output_dir, keep=_keep_checkpoints(training_args))
    return result


def _finish_on_main_process(
    recipe, trainer, collator, datasets, examples, vocabulary, data_args, model_args, output_dir: Path, result: dict,
    exclusions: dict,
) -> None:  # fmt: skip
    """Reload check, decision thresholds, sample prediction, `xmc_metrics.json`, printed tables. `exclusions`: the
    filter pairs of the evaluated and the decision documents (`recipe_steps.evaluation_exclusions`)."""
    reloaded = recipe.load_saved(output_dir)
    reloaded_tokenizer = AutoTokenizer.from_pretrained(output_dir)
    reloaded_vocabulary = LabelVocabulary.from_pretrained(output_dir)
    check = collator([datasets["eval"][i] for i in range(min(8, len(datasets["eval"])))])
    check.pop("labels", None)
    result["reload_max_abs_diff"] = recipe.reload_difference(trainer.model.eval(), reloaded, check)
    if result["reload_max_abs_diff"] > 1e-4:
        raise RuntimeError(
            f"the reloaded model's outputs differ by {result['reload_max_abs_diff']:.3g} from the trained model's: "
            f"{output_dir} was not saved faithfully"
        )

    def rank(texts, k):
        return recipe.rank_labels(reloaded, reloaded_tokenizer, reloaded_vocabulary, texts, k, data_args.max_length)

    metrics = result["metrics"]
    k = min(steps.DECISION_TOP_K, len(vocabulary))
    eval_texts, eval_references = list(examples["eval"]["text"]), [list(r) for r in examples["eval"]["labels"]]
    # A second pass over the evaluated documents, on purpose: `train_and_evaluate` scored the in-memory model
    # through the Trainer (distributed, feeding the card's `on_evaluate`, overridden by generation/retrieval
    # methods), while the thresholds must be tuned on, and docs/second must time, what `predict` serves: the saved
    # model through the method's own `rank_labels` (its scores, its pruned or fused top-k).
    eval_ids, eval_scores, seconds = steps.rank_in_chunks(rank, eval_texts, k, f"ranking {data_args.eval_split}")
    result["eval_docs_per_second"] = len(eval_texts) / seconds if seconds > 0 else None
    result["eval_top_k"] = (eval_ids, eval_scores)
    if examples["decision"] is not None:
        decision_ids, decision_scores, _ = steps.rank_in_chunks(
            rank, list(examples["decision"]["text"]), k, "ranking the threshold-tuning documents"
        )
        decision_references = [list(r) for r in examples["decision"]["labels"]]
        thresholds, decision = steps.tune_decisions(
            decision_ids, decision_scores, decision_references, eval_ids, eval_scores, eval_references, len(vocabulary),
            decision_exclude=exclusions["decision"], eval_exclude=exclusions["eval"],
            per_label=data_args.decision_per_label,
        )  # fmt: skip
        thresholds.save_pretrained(output_dir)
        metrics.update({key: value for key, value in decision.items() if "f1" in key})
        result["decision"] = {**decision, "num_validation_docs": len(decision_references), "top_k": k}
    with open(output_dir / "xmc_metrics.json", "w", encoding="utf-8") as handle:
        json.dump(
            {"split": data_args.eval_split, "num_examples": len(datasets["eval"]),
             "excluded_filter_pairs": result["excluded_filter_pairs"], **metrics},
            handle, indent=2,
        )  # fmt: skip

    result["predictions"] = [
        {"id": label.label_id, "label": label.label, "text": label.text, "probability": label.score}
        for label in rank([data_args.sample_text], model_args.top_k)[0]
    ]
    title = f"{data_args.dataset_name_or_path} {data_args.eval_split} ({len(datasets['eval'])} examples), percent:"
    steps.log(steps.format_metrics_table(metrics, title))
    if getattr(data_args, "compare_with_peers", False):
        result["peers"] = steps.compare_with_peers(
            examples, vocabulary, data_args, metrics, recipe.name, exclude=exclusions["eval"]
        )
    steps.log(
        f"saved to {output_dir}; reloaded with {type(reloaded).__name__}, "
        f"max |output difference| = {result['reload_max_abs_diff']:.3g}"
    )
    steps.log(f"sample text: {data_args.sample_text}")
    for position, prediction in enumerate(result["predictions"], start=1):
        text = f" ({prediction['text']})" if prediction["text"] else ""
        steps.log(f"  {position}. {prediction['label']}{text}  p={prediction['probability']:.3f}")


__all__ = ["MethodRecipe", "RankedLabel", "run_recipe"]
