"""Save, push and load complete hf-xmc checkpoints: weights + config with `auto_map` + model code + tokenizer +
label vocabulary + model card (+ tuned decision thresholds, when there are some), in one folder or Hub repository.

Every problem a user can fix (a repo id that does not exist, the checkpoint of another method, a repository without
its label vocabulary, ...) raises `XMCCheckpointError` with one sentence naming it; no Hub or transformers traceback
leaks out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from ..data.vocabulary import LABEL_VOCABULARY_FILE, LabelVocabulary
from ..decision import DECISION_THRESHOLDS_FILE, DecisionThresholds
from .inference import RankedLabel, model_max_length, rank_labels
from .model_card import write_model_card

CONFIG_FILE = "config.json"
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")
WEIGHT_SUFFIXES = (".safetensors",)
REQUIRED_AUTO_CLASSES = ("AutoConfig", "AutoModel")
# What a checkpoint needs; Trainer leftovers (optimizer state, rng, checkpoints) stay local.
DOWNLOAD_PATTERNS = [
    "*.json", "*.safetensors", "*.py", "*.model", "*.txt", "*.faiss", "README.md",
    "sparse_shortlist/*",  # a shortlist ranker's TF-IDF tree model (hf_xmc.shortlist.sparse)
]  # fmt: skip
UPLOAD_IGNORE_PATTERNS = [
    "checkpoint-*", "runs/*", "_*", "training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state*.pth", "*.lock",
]  # fmt: skip


# The id given to a generated label outside the vocabulary when deciding: not padding, held to the global threshold.
_OUTSIDE_VOCABULARY = np.iinfo(np.int64).max


class XMCCheckpointError(ValueError):
    """A checkpoint folder or Hub repository that hf-xmc cannot use, with the reason."""


def hf_xmc_model_types() -> dict[str, str]:
    """`{model_type: method}` for every hf-xmc config registered with `AutoConfig` (`{"xlnet_aplc": "aplc", ...}`)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    import hf_xmc  # noqa: F401  (registers the Auto classes)
    import hf_xmc.models
    from hf_xmc.methods import method_of_model_type

    register = getattr(hf_xmc.models, "register_auto_classes", None)
    if register is not None:  # idempotent; covers an `hf_xmc/__init__` that does not register yet
        register()
    types = {}
    for model_type, config_class in getattr(CONFIG_MAPPING, "_extra_content", {}).items():
        module = getattr(config_class, "__module__", "")
        if module.startswith("hf_xmc.models."):  # the registry's method name, else the model folder's name
            types[model_type] = method_of_model_type(model_type) or module.split(".")[2]
    return types


def _read_config(folder: Path, source: str) -> dict:
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise XMCCheckpointError(f"{source} has no {CONFIG_FILE}: it is not a saved model.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise XMCCheckpointError(f"{source}: {CONFIG_FILE} is not valid JSON ({error}).") from error


def check_xmc_config(config: dict, source: str, method: str | None = None) -> str:
    """Check that a `config.json` dict is an hf-xmc model (of `method`, when given); returns its method."""
    model_type = config.get("model_type")
    known = hf_xmc_model_types()
    if model_type not in known:
        expected = sorted(t for t, m in known.items() if method is None or m == method)
        raise XMCCheckpointError(
            f"{source} is a {model_type!r} checkpoint, not an hf-xmc model"
            f"{f' of method {method!r}' if method else ''} (expected model_type in {expected})."
        )
    if method is not None and known[model_type] != method:
        raise XMCCheckpointError(
            f"{source} is an hf-xmc {known[model_type]!r} model ({model_type!r}), not a {method!r} model."
        )
    return known[model_type]


def check_checkpoint_folder(folder: str | os.PathLike, method: str | None = None, source: str | None = None) -> str:
    """Check that `folder` holds everything a checkpoint needs; returns the method. Raises `XMCCheckpointError`."""
    folder = Path(folder)
    source = source or str(folder)
    if (folder / "maclr.json").is_file():  # a MACLR sentence encoder + label index (`hf_xmc.maclr.checkpoint`)
        from ..maclr.checkpoint import check_maclr_folder

        return check_maclr_folder(folder, method, source)
    config = _read_config(folder, source)
    found_method = check_xmc_config(config, source, method)
    auto_map = config.get("auto_map") or {}
    missing = [name for name in REQUIRED_AUTO_CLASSES if name not in auto_map]
    if missing:
        raise XMCCheckpointError(
            f"{source}: config.json auto_map lacks {missing}; trust_remote_code users cannot load it."
        )
    for reference in auto_map.values():
        module_file = f"{reference.split('--')[-1].rsplit('.', 1)[0]}.py"
        if not (folder / module_file).is_file():
            raise XMCCheckpointError(f"{source}: auto_map names {module_file}, which is not in the checkpoint.")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir()):
        raise XMCCheckpointError(f"{source} has no *.safetensors weights.")
    if not (folder / LABEL_VOCABULARY_FILE).is_file():
        raise XMCCheckpointError(
            f"{source} has no {LABEL_VOCABULARY_FILE}: the model's label ids cannot be mapped to labels. "
            "Save it with `vocabulary.save_pretrained(folder)` or `push_xmc_model(..., vocabulary=vocabulary)`."
        )
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise XMCCheckpointError(f"{source} has no tokenizer files ({' or '.join(TOKENIZER_FILES)}).")
    return found_method


def save_xmc_checkpoint(
    save_directory: str | os.PathLike,
    model,
    tokenizer,
    vocabulary: LabelVocabulary,
    model_card=None,
    thresholds: DecisionThresholds | None = None,
    **card_kwargs,
) -> Path:
    """Write a complete checkpoint folder and check it.

    Args:
        save_directory (`str` or `os.PathLike`): the folder (created if needed).
        model (`PreTrainedModel`): an hf-xmc model.
        tokenizer: its tokenizer.
        vocabulary (`LabelVocabulary`): the label space, one entry per output of the model.
        model_card (`ModelCard`, *optional*): written as `README.md`; by default the method's template is filled
            with the label-space size (pass `card_kwargs` such as `metrics=` and `dataset_name=` for more).
        thresholds (`DecisionThresholds`, *optional*): tuned decision thresholds, written as
            `decision_thresholds.json` (`load_xmc_model(...).predict(texts, threshold="tuned")` uses them).
    """
    method = check_xmc_config(model.config.to_dict(), type(model).__name__)
    num_labels = getattr(model.config, "num_labels", None)
    if num_labels is not None and num_labels != len(vocabulary):
        raise XMCCheckpointError(
            f"the model has {num_labels} labels but the vocabulary has {len(vocabulary)}: they do not belong together."
        )
    folder = Path(save_directory)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    vocabulary.save_pretrained(folder)
    if thresholds is not None:
        check_thresholds_fit(thresholds, len(vocabulary), type(model).__name__)
        thresholds.save_pretrained(folder)
    if model_card is None and not (folder / "README.md").is_file():
        card_kwargs.setdefault("num_labels", len(vocabulary))
        card_kwargs.setdefault("num_train_docs", vocabulary.num_train_docs)
        repo_id = card_kwargs.pop("model_name", None)  # a push names the repository; a local save the folder
        card_kwargs.setdefault("model_path", repo_id or str(folder))
        write_model_card(folder, method, repo_id or folder.name, **card_kwargs)
    elif model_card is not None:
        model_card.save(folder / "README.md")
    check_checkpoint_folder(folder, method)
    return folder


def check_thresholds_fit(thresholds: DecisionThresholds, num_labels: int, source: str) -> None:
    if thresholds.num_labels is not None and thresholds.num_labels != num_labels:
        raise XMCCheckpointError(
            f"{source}: the decision thresholds are for {thresholds.num_labels} labels but the label vocabulary has "
            f"{num_labels}: they do not belong together."
        )


def _load_thresholds(folder: Path, num_labels: int, source: str) -> DecisionThresholds | None:
    try:
        thresholds = DecisionThresholds.from_pretrained(folder, missing_ok=True)
    except ValueError as error:
        raise XMCCheckpointError(f"{source}: {DECISION_THRESHOLDS_FILE} cannot be used ({error}).") from error
    if thresholds is not None:
        check_thresholds_fit(thresholds, num_labels, source)
    return thresholds


def resolve_checkpoint(name_or_path: str | os.PathLike, revision: str | None = None, token=None) -> Path:
    """A local folder for a folder path or a Hub repo id (downloaded into the cache), or `XMCCheckpointError`."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    name = str(name_or_path)
    try:
        validate_repo_id(name)
    except HFValidationError as error:
        raise XMCCheckpointError(f"{name!r} is neither a local folder nor a valid Hub repo id.") from error
    try:
        return Path(
            snapshot_download(
                name,
                revision=revision,
                token=token,
                allow_patterns=DOWNLOAD_PATTERNS,
                ignore_patterns=["checkpoint-*"],
            )
        )
    except RepositoryNotFoundError as error:
        raise XMCCheckpointError(
            f"{name!r} is not a local folder and no model repository {name!r} exists on {constants.ENDPOINT} "
            "(if it is private, log in with `hf auth login` or set HF_TOKEN)."
        ) from error
    except GatedRepoError as error:
        raise XMCCheckpointError(f"{name!r} is gated on {constants.ENDPOINT}: request access first.") from error
    except RevisionNotFoundError as error:
        raise XMCCheckpointError(f"{name!r} has no revision {revision!r}.") from error
    except LocalEntryNotFoundError as error:
        raise XMCCheckpointError(
            f"cannot reach {constants.ENDPOINT} to download {name!r}, and it is not in the local cache."
        ) from error
    except OSError as error:  # connection failures surface as OSError subclasses in httpx / huggingface_hub
        reason = " ".join(str(error).split())  # Hub errors are multi-line; keep the message on one line
        raise XMCCheckpointError(f"cannot download {name!r} from {constants.ENDPOINT}: {reason}") from error


@dataclass
class XMCCheckpoint:
    """A loaded checkpoint: the model, its tokenizer, its label vocabulary and its tuned thresholds (if any).

    Args:
        model (`PreTrainedModel`): in eval mode.
        tokenizer: its tokenizer.
        vocabulary (`LabelVocabulary`): maps the model's label ids to labels.
        method (`str`): the hf-xmc method (`"aplc"`, ...).
        source (`str`): the folder or repo id it came from.
        thresholds (`DecisionThresholds`, *optional*): the decision thresholds tuned on validation and saved with
            the checkpoint (`decision_thresholds.json`); `None` when it has none.
    """

    model: object
    tokenizer: object
    vocabulary: LabelVocabulary
    method: str
    source: str
    folder: Path = field(repr=False, default=None)
    thresholds: DecisionThresholds | None = None

    @property
    def max_length(self) -> int | None:
        """The most tokens the model reads (texts longer than this are rejected unless truncated)."""
        return model_max_length(self.model, self.tokenizer)

    def decision_thresholds(self, threshold: float | str | DecisionThresholds) -> DecisionThresholds:
        """`threshold` as `DecisionThresholds`: a number (one threshold for every label), `"tuned"` (the saved ones;
        `XMCCheckpointError` when the checkpoint has none) or `DecisionThresholds` as they are."""
        if isinstance(threshold, DecisionThresholds):
            return threshold
        if isinstance(threshold, str):
            if threshold != "tuned":
                raise ValueError(f'threshold must be None, a number or "tuned", got {threshold!r}.')
            if self.thresholds is None:
                raise XMCCheckpointError(
                    f"{self.source} has no tuned thresholds ({DECISION_THRESHOLDS_FILE}): use threshold=None for the "
                    "ranking or a number such as threshold=0.5, or tune them with `hf_xmc.decision.tune_thresholds`."
                )
            return self.thresholds
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ValueError(f'threshold must be None, a number or "tuned", got {threshold!r}.')
        return DecisionThresholds.fixed(threshold)

    def predict(
        self,
        texts: list[str] | str,
        k: int = 5,
        threshold: float | str | DecisionThresholds | None = None,
        truncation: bool = False,
        min_labels: int = 0,
    ) -> list[list[RankedLabel]]:
        """The `k` best labels of each text, best first (see `hf_xmc.hub.inference.rank_labels`), or with a
        threshold, the labels the model decides for, at most `k` of them.

        Args:
            texts (`list[str]` or `str`): the documents.
            k (`int`): without a threshold, the labels ranked per text; with one, the most labels returned per text.
            threshold (`float`, `"tuned"` or `DecisionThresholds`, *optional*): `None` returns the whole top-`k`;
                otherwise only the labels whose score reaches the threshold are kept, in ranking order: a number
                applies to every label (on the scores reported, sigmoid probabilities for classifiers), `"tuned"`
                applies the thresholds tuned on validation and saved with the checkpoint (per label when tuned so).
                The candidates are then ranked `max(k, thresholds.top_k)` deep (the depth the thresholds were tuned
                on, 20 for the recipe's): with per-label thresholds a label ranked below `k` may pass while a better
                ranked one does not, and it is returned when fewer than `k` better-ranked labels pass.
            truncation (`bool`): cut texts at the model's maximum length instead of raising `TextTooLongError`.
            min_labels (`int`): with a threshold, keep at least this many of the best labels of each text (0 or 1).
        """
        decision = None if threshold is None else self.decision_thresholds(threshold)
        ranked = method_ranker(self.method)(
            self.model, self.tokenizer, self.vocabulary, texts, k=decision_depth(k, decision, len(self.vocabulary)),
            truncation=truncation,
        )  # fmt: skip
        if decision is None:
            return ranked
        return decide_ranked(ranked, decision, k, min_labels)


def decision_depth(k: int, decision: DecisionThresholds | None, num_labels: int) -> int:
    """How deep `predict(k=k, threshold=...)` ranks: `k` without a decision, else at least the depth the thresholds
    were tuned on (`decision.top_k`), at most `num_labels` (a `k` beyond it is left for the ranker to refuse)."""
    if decision is None or not decision.top_k or k >= num_labels:
        return k
    return min(max(k, int(decision.top_k)), num_labels)


def decide_ranked(
    ranked: list[list[RankedLabel]], decision: DecisionThresholds, k: int, min_labels: int = 0
) -> list[list[RankedLabel]]:
    """Per text, the ranked labels that pass `decision` (`min_labels` as in `DecisionThresholds.decide`), in
    ranking order, at most `k`."""
    return [
        [label for label, passes in zip(labels, decision_mask(labels, decision, min_labels)) if passes][:k]
        for labels in ranked
    ]


def method_ranker(method: str):
    """The ranking function of a registered method's recipe (`MethodRecipe.rank_labels`: how that method ranks
    labels for a text); `rank_labels` (top-k of a classifier's scores) for a method without a recipe."""
    from ..methods import METHODS, get_recipe

    if method in METHODS:
        return get_recipe(method).rank_labels
    return rank_labels


def load_xmc_model(
    name_or_path: str | os.PathLike,
    method: str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    **model_kwargs,
) -> XMCCheckpoint:
    """Load an hf-xmc checkpoint from a folder or a Hub repo id.

    Args:
        name_or_path (`str` or `os.PathLike`): a checkpoint folder or a Hub repo id.
        method (`str`, *optional*): require this method (`"aplc"`); a checkpoint of another method is an error.
        revision, token: for Hub repositories.
        model_kwargs: passed to `AutoModel.from_pretrained` (e.g. `dtype=`).

    Raises:
        `XMCCheckpointError`: the path/repo does not exist, is not an hf-xmc model (of `method`), or lacks its label
            vocabulary, tokenizer or weights.
    """
    from transformers import AutoModel, AutoTokenizer

    source = str(name_or_path)
    folder = resolve_checkpoint(name_or_path, revision=revision, token=token)
    found_method = check_checkpoint_folder(folder, method, source=source)
    if found_method == "maclr":  # a sentence-transformers encoder ranking its stored label index
        from ..maclr.checkpoint import load_maclr_model

        return load_maclr_model(folder, source=source)
    vocabulary = LabelVocabulary.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, **model_kwargs).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    num_labels = getattr(model.config, "num_labels", None)
    if num_labels is not None and num_labels != len(vocabulary):
        raise XMCCheckpointError(
            f"{source}: the model has {num_labels} labels but {LABEL_VOCABULARY_FILE} has {len(vocabulary)}."
        )
    thresholds = _load_thresholds(folder, len(vocabulary), source)
    sparse_folder = getattr(model.config, "sparse_shortlist_folder", None)  # shortlist-and-rank models
    if sparse_folder and (folder / sparse_folder).is_dir():
        from ..shortlist.sparse import SparseShortlister

        model.sparse_shortlister = SparseShortlister.from_pretrained(folder / sparse_folder, vocabulary)
    return XMCCheckpoint(model, tokenizer, vocabulary, found_method, source, folder, thresholds)


def decision_mask(ranked: list[RankedLabel], thresholds: DecisionThresholds, min_labels: int = 0) -> list[bool]:
    """Whether each ranked label of one text passes `thresholds` (a generated label without an id is held to the
    global threshold); `min_labels` as in `DecisionThresholds.decide`."""
    if not ranked:
        return []
    ids = [[_OUTSIDE_VOCABULARY if label.label_id is None else label.label_id for label in ranked]]
    return thresholds.passes(ids, [[label.score for label in ranked]], min_labels=min_labels)[0].tolist()
