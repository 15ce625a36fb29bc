"""Push a complete hf-xmc checkpoint (a model with its tokenizer and label vocabulary, or a checkpoint folder) to the
Hub, its model card rendered for the target repository."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from huggingface_hub import create_repo, upload_folder
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..data.vocabulary import LabelVocabulary
from ..decision import DecisionThresholds
from .checkpoint import (
    UPLOAD_IGNORE_PATTERNS,
    XMCCheckpointError,
    check_checkpoint_folder,
    check_thresholds_fit,
    save_xmc_checkpoint,
)
from .model_card import MODEL_CARD_INPUTS_FILE, rerender_model_card


def push_xmc_model(
    model_or_folder,
    repo_id: str,
    tokenizer=None,
    vocabulary: LabelVocabulary | None = None,
    model_card=None,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload hf-xmc model",
    create_pr: bool = False,
    thresholds: DecisionThresholds | None = None,
    **card_kwargs,
):
    """Push a complete checkpoint to the Hub; returns the `CommitInfo`.

    Args:
        model_or_folder: an hf-xmc `PreTrainedModel` (then `tokenizer` and `vocabulary` are required), or a folder
            written by `save_xmc_checkpoint` / a Trainer run (checked before anything is uploaded; Trainer leftovers
            such as `checkpoint-*` and optimizer state are not uploaded).
        repo_id (`str`): the target repository (created if missing).
        model_card (`ModelCard`, *optional*): overrides the card. By default a folder's card written by hf-xmc (it
            has `model_card.json`) is rendered again for `repo_id`, so the pushed card names the repository, not the
            local folder; a model gets the method's template filled with `model_name=repo_id` and `card_kwargs`.
        private, token, revision, commit_message, create_pr: as in `huggingface_hub.upload_folder`.
        thresholds (`DecisionThresholds`, *optional*): tuned decision thresholds to upload with a model (a folder's
            own `decision_thresholds.json` is uploaded with the rest of the folder).
    """
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise XMCCheckpointError(f"{repo_id!r} is not a valid Hub repo id: {error}") from error
    with tempfile.TemporaryDirectory(prefix="hf_xmc_push_") as staging:
        if isinstance(model_or_folder, (str, os.PathLike)):
            folder = Path(model_or_folder)
            if not folder.is_dir():
                raise XMCCheckpointError(f"{folder} is not a folder.")
            check_checkpoint_folder(folder)
            rerender = model_card is None and (folder / MODEL_CARD_INPUTS_FILE).is_file()
            if model_card is not None or thresholds is not None or rerender:
                folder = Path(staging)
                _copy_tree(Path(model_or_folder), folder)
                if model_card is not None:
                    model_card.save(folder / "README.md")
                elif rerender:  # the card (and its inputs) rendered again for the repo id, in the staged copy only
                    rerender_model_card(folder, repo_id)
                if thresholds is not None:
                    check_thresholds_fit(
                        thresholds, len(LabelVocabulary.from_pretrained(folder)), str(model_or_folder)
                    )
                    thresholds.save_pretrained(folder)
        else:
            if tokenizer is None or vocabulary is None:
                raise XMCCheckpointError("push_xmc_model needs the tokenizer and the label vocabulary with a model.")
            card_kwargs.setdefault("model_name", repo_id)
            folder = save_xmc_checkpoint(
                staging, model_or_folder, tokenizer, vocabulary, model_card, thresholds=thresholds, **card_kwargs
            )
        create_repo(repo_id, private=private, token=token, exist_ok=True)
        return upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message,
            token=token,
            revision=revision,
            create_pr=create_pr,
            ignore_patterns=UPLOAD_IGNORE_PATTERNS,
        )


def _copy_tree(source: Path, target: Path) -> None:
    import shutil

    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*UPLOAD_IGNORE_PATTERNS))
