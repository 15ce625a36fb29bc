"""Reader of the AttentionXML / LightXML layout.

Files: `{train,test}_raw_texts.txt` (or the tokenised `{train,test}_texts.txt`) with `{train,test}_labels.txt`
(space-separated label strings, line i = document i), optionally the headerless BoW rows `{train,test}_v1.txt`
(features of the same documents). Label strings are taken as they are (AttentionXML treats ids as strings); the
label space is the training labels in first-seen order, then the labels that only occur in test.
"""

from __future__ import annotations

from pathlib import Path

from .assembly import RawSplit, assemble_xmc_dataset
from .bow import read_bow_file
from .dataset import XMCDataset
from .errors import XMCInputError
from .text_lines import check_aligned, encode_label_lists, read_label_lines, read_texts

TEXT_SUFFIXES = {"raw_texts": "_raw_texts.txt", "texts": "_texts.txt"}


def load_attentionxml_dataset(
    directory,
    validation_size: float | int | None = None,
    seed: int = 0,
    text_file: str | None = None,
    num_features: int | None = None,
    allow_empty_text: bool = False,
    name: str | None = None,
) -> XMCDataset:
    """Load an AttentionXML-layout folder.

    Args:
        directory: the folder.
        validation_size (`float` or `int`, *optional*): carve a seeded validation split out of train.
        seed (`int`): seed of the validation carving.
        text_file (`str`, *optional*): `"raw_texts"` or `"texts"` (tokenised); default: raw texts when present.
        num_features (`int`, *optional*): feature dimension of the `*_v1.txt` BoW files (default: max id + 1).
        allow_empty_text (`bool`): keep documents with an empty text line instead of raising.
        name (`str`, *optional*): display name.
    """
    directory = Path(directory)
    if text_file is not None and text_file not in TEXT_SUFFIXES:
        raise ValueError(f"text_file={text_file!r} must be one of {sorted(TEXT_SUFFIXES)}.")
    label_to_source: dict[str, int] = {}
    raw_splits = {}
    bow_files = {}
    for split in ("train", "test"):
        label_path = directory / f"{split}_labels.txt"
        kinds = [text_file] if text_file else ["raw_texts", "texts"]
        text_path = next(
            (
                directory / f"{split}{TEXT_SUFFIXES[k]}"
                for k in kinds
                if (directory / f"{split}{TEXT_SUFFIXES[k]}").is_file()
            ),
            None,
        )
        if text_path is None or not label_path.is_file():
            if split == "train":
                raise XMCInputError(
                    f"missing {split}{TEXT_SUFFIXES[kinds[0]]} or {split}_labels.txt (AttentionXML layout)",
                    str(directory),
                )
            continue
        texts = read_texts(text_path, allow_empty_text)
        label_lists = read_label_lines(label_path)
        check_aligned(texts, label_lists, text_path, label_path)
        indptr, indices = encode_label_lists(label_lists, label_to_source, label_path)
        raw_splits[split] = RawSplit(indptr, indices, {"text": texts}, source=str(label_path))
        bow_path = directory / f"{split}_v1.txt"
        if bow_path.is_file():
            bow_files[split] = read_bow_file(bow_path, num_features=num_features)
            if bow_files[split].num_rows != len(texts):
                raise XMCInputError(
                    f"{bow_files[split].num_rows} BoW rows but {len(texts)} documents in {text_path}", str(bow_path)
                )
    if bow_files:
        dimension = max(bow.features.shape[1] for bow in bow_files.values())
        for split, bow in bow_files.items():
            bow.features.resize((bow.num_rows, dimension))
            raw_splits[split].features = bow.features
    return assemble_xmc_dataset(
        raw_splits, list(label_to_source), name=name or directory.name, validation_size=validation_size, seed=seed
    )
