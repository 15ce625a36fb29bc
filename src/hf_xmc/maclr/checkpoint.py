"""A MACLR checkpoint: a normal sentence-transformers folder plus the label side, so it ranks labels by itself.

```
model/                      # SentenceTransformer.save_pretrained: modules.json, config.json, weights, tokenizer, ...
  maclr.json                # the marker: method, training stage, the losses' configs, the index folder
  label_vocabulary.json     # the label space (LabelVocabulary)
  label_index/              # LabelIndex.save_pretrained: label embeddings (+ the faiss index when approximate)
  README.md                 # the MACLR model card (template model_cards/maclr.md), losses' config included
```

`SentenceTransformer("model")` loads the encoder as any other; `load_maclr_model("model")` (and
`hf_xmc.hub.load_xmc_model(..., method="maclr")`) returns a `MACLRCheckpoint` whose `predict` ranks the stored labels
like the classifiers' checkpoints do, and whose `add_labels` embeds new labels without retraining.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..hub.checkpoint import XMCCheckpoint
from ..hub.inference import RankedLabel, check_text_lengths

MACLR_MARKER_FILE = "maclr.json"
LABEL_INDEX_DIR = "label_index"


def is_maclr_folder(folder: str | os.PathLike) -> bool:
    """Whether `folder` is a MACLR checkpoint (it has `maclr.json`)."""
    return (Path(folder) / MACLR_MARKER_FILE).is_file()


def check_maclr_folder(folder: str | os.PathLike, method: str | None = None, source: str | None = None) -> str:
    """Check that a MACLR folder is complete; returns `"maclr"`. Raises `XMCCheckpointError` naming what is missing."""
    from ..data.vocabulary import LABEL_VOCABULARY_FILE
    from ..hub.checkpoint import XMCCheckpointError
    from .retrieval import LABEL_EMBEDDINGS_FILE, LABEL_INDEX_CONFIG

    folder = Path(folder)
    source = source or str(folder)
    if method is not None and method != "maclr":
        raise XMCCheckpointError(f"{source} is an hf-xmc 'maclr' model (a sentence encoder), not a {method!r} model.")
    required = {
        "modules.json": "it is not a sentence-transformers model",
        LABEL_VOCABULARY_FILE: "its label ids cannot be mapped to labels",
        f"{LABEL_INDEX_DIR}/{LABEL_INDEX_CONFIG}": "its label index is missing",
        f"{LABEL_INDEX_DIR}/{LABEL_EMBEDDINGS_FILE}": "its label embeddings are missing",
    }
    for name, consequence in required.items():
        if not (folder / name).is_file():
            raise XMCCheckpointError(f"{source} has no {name}: {consequence}.")
    if not any(folder.glob("*.safetensors")):
        raise XMCCheckpointError(f"{source} has no *.safetensors weights.")
    return "maclr"


def losses_markdown(losses: dict[str, Any] | None) -> str:
    """The losses' classes and `get_config_dict()` as markdown (for the model card)."""
    if not losses:
        return ""
    blocks = []
    for name, config in losses.items():
        blocks.append(f"#### {name}\n\n```json\n{json.dumps(config, indent=2, default=str)}\n```")
    return "\n\n".join(blocks)


def loss_configs(loss) -> dict[str, Any]:
    """`{class name: get_config_dict()}` of a loss (and its sub-losses, through `MACLRLoss`'s own config)."""
    if loss is None:
        return {}
    return {type(loss).__name__: loss.get_config_dict() if hasattr(loss, "get_config_dict") else {}}


def save_maclr_model(
    save_directory: str | os.PathLike,
    encoder,
    vocabulary,
    index=None,
    loss=None,
    stage: str | None = None,
    model_name: str | None = None,
    label_texts: list[str] | None = None,
    **card_kwargs,
) -> Path:
    """Write a complete MACLR checkpoint.

    Args:
        save_directory: the folder.
        encoder (`SentenceTransformer`): the trained encoder.
        vocabulary (`LabelVocabulary`): the label space; its texts are embedded when `index` is not given.
        index (`LabelIndex`, *optional*): the label index to store (default: built from the vocabulary's texts).
        loss (*optional*): the training loss; its configuration goes into `maclr.json` and the card.
        stage (`str`, *optional*): `"pretrain"`, `"self-train"` or `"few-shot"`.
        model_name (`str`, *optional*): the card's model id (default: the folder name).
        label_texts (`list[str]`, *optional*): the texts to embed instead of `vocabulary.label_texts()`.
        card_kwargs: passed to `build_model_card` (`metrics`, `dataset_name`, `hyperparameters`, ...).
    """
    from ..hub.model_card import build_model_card
    from .retrieval import LabelIndex

    folder = Path(save_directory)
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(str(folder))
    vocabulary.save_pretrained(folder)
    if index is None:
        index = LabelIndex.build(encoder, label_texts or vocabulary.label_texts(), labels=vocabulary.labels)
    index.save_pretrained(folder / LABEL_INDEX_DIR)
    losses = loss_configs(loss)
    marker = {"method": "maclr", "stage": stage, "label_index": LABEL_INDEX_DIR, "losses": losses}
    (folder / MACLR_MARKER_FILE).write_text(json.dumps(marker, indent=2, default=str), encoding="utf-8")
    card_kwargs.setdefault("num_labels", len(index))
    card_kwargs.setdefault("num_train_docs", vocabulary.num_train_docs)
    card_kwargs.setdefault("library_name", "sentence-transformers")
    details = {"embedding_dimension": index.dim, "label_index_backend": index.backend, "stage": stage}
    card_kwargs["model_details"] = {**details, **(card_kwargs.get("model_details") or {})}
    card = build_model_card("maclr", model_name or folder.name, losses_section=losses_markdown(losses), **card_kwargs)
    card.save(folder / "README.md")
    check_maclr_folder(folder)
    return folder


def push_maclr_model(encoder, repo_id: str, vocabulary, index=None, loss=None, stage=None, **kwargs):
    """Save a complete MACLR checkpoint into a temporary folder and push it with `hf_xmc.hub.push_xmc_model`."""
    from ..hub.push import push_xmc_model

    push_kwargs = {key: kwargs.pop(key) for key in ("private", "token", "revision", "commit_message") if key in kwargs}
    with tempfile.TemporaryDirectory(prefix="hf_xmc_maclr_push_") as staging:
        save_maclr_model(staging, encoder, vocabulary, index, loss, stage, model_name=repo_id, **kwargs)
        return push_xmc_model(staging, repo_id, **push_kwargs)


def load_maclr_model(folder: str | os.PathLike, source: str | None = None, device: str | None = None, **kwargs):
    """Load a MACLR checkpoint folder as a `MACLRCheckpoint` (the encoder in eval mode, the stored label index)."""
    from sentence_transformers import SentenceTransformer

    from ..data.vocabulary import LabelVocabulary
    from .retrieval import LabelIndex

    folder = Path(folder)
    check_maclr_folder(folder, source=source)
    encoder = SentenceTransformer(str(folder), device=device, **kwargs).eval()
    vocabulary = LabelVocabulary.from_pretrained(folder)
    marker = json.loads((folder / MACLR_MARKER_FILE).read_text(encoding="utf-8"))
    index = LabelIndex.from_pretrained(folder / marker.get("label_index", LABEL_INDEX_DIR), encoder=encoder)
    return MACLRCheckpoint(
        model=encoder, tokenizer=encoder.tokenizer, vocabulary=vocabulary, method="maclr",
        source=source or str(folder), folder=folder, index=index,
    )  # fmt: skip


@dataclass
class MACLRCheckpoint(XMCCheckpoint):
    """A loaded MACLR checkpoint: `model` is the `SentenceTransformer`, `index` the `LabelIndex` it ranks."""

    index: Any = None

    @property
    def max_length(self) -> int | None:
        return getattr(self.model, "max_seq_length", None)

    def predict(
        self, texts, k: int = 5, threshold=None, truncation: bool = False, min_labels: int = 0, exclude=None
    ) -> list[list[RankedLabel]]:
        """The `k` labels of each text with the highest embedding inner product, best first (`RankedLabel.score`
        is the raw similarity, not a probability). `k`, `threshold`, `min_labels` as `XMCCheckpoint.predict` (on
        the similarity; with a threshold, at most `k` labels from the thresholds' tuning depth); `exclude` as
        `LabelIndex.search` (label ids to leave out, per text)."""
        from ..hub.checkpoint import decide_ranked, decision_depth

        if isinstance(texts, str):
            texts = [texts]
        if not 1 <= k <= len(self.index):
            raise ValueError(f"k must be between 1 and the number of labels ({len(self.index)}), got {k}")
        if not truncation:
            check_text_lengths(list(texts), self.tokenizer, self.max_length)
        decision = None if threshold is None else self.decision_thresholds(threshold)
        depth = decision_depth(k, decision, len(self.index))
        ids, scores = self.index.search_texts(list(texts), depth, exclude=exclude)
        label_texts = self.index.texts
        ranked = [
            [
                RankedLabel(
                    label=self.index.labels[i],
                    score=float(s),
                    label_id=int(i),
                    text=label_texts[i] if label_texts is not None else None,
                )
                for i, s in zip(row_ids.tolist(), row_scores.tolist())
                if i >= 0
            ]
            for row_ids, row_scores in zip(ids, scores)
        ]
        if decision is None:
            return ranked
        return decide_ranked(ranked, decision, k, min_labels)

    def add_labels(self, texts: list[str], labels: list[str] | None = None) -> np.ndarray:
        """Embed new labels and add them to the index (no retraining); returns their ids."""
        return self.index.add(texts, labels=labels)
