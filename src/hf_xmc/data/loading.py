"""`load_xmc_dataset`: one entry point for every supported layout, built-in name, single file or `datasets` object.

Layout detection from file names (first match wins):

| files in the folder | layout | reader |
| --- | --- | --- |
| `trn.json[.gz]` + `lbl.json[.gz]` | LF raw text | `hf_xmc.data.lf` |
| `data/*.parquet` | hf-xmc parquet (what `save_xmc_dataset_parquet` writes) | `hf_xmc.data.parquet` |
| `X.trn.txt` + `Y.trn.npz` or `Y.trn.txt` | PECOS | `hf_xmc.data.pecos` |
| `train_labels.txt` + `train_raw_texts.txt` or `train_texts.txt` | AttentionXML | `hf_xmc.data.attentionxml` |
| `*_data.txt` + `*trSplit.txt` / `*tstSplit.txt` | XMC repository BoW with split files | `hf_xmc.data.bow` |
| `*train*.txt` + `*test*.txt` with a `N D L` header | XMC repository BoW, two files | `hf_xmc.data.bow` |
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from .dataset import XMCDataset
from .errors import XMCInputError

BUILTIN_DATASETS = {"debtags": "resources/debtags"}
LAYOUTS = ("lf", "parquet", "pecos", "attentionxml", "bow")


def builtin_dataset_path(name: str) -> Path:
    """The folder of a data set shipped inside the package (`"debtags"`)."""
    if name not in BUILTIN_DATASETS:
        raise ValueError(f"{name!r} is not a built-in data set; built-in: {sorted(BUILTIN_DATASETS)}.")
    return Path(str(importlib.resources.files("hf_xmc").joinpath(BUILTIN_DATASETS[name])))


def _lower_names(directory: Path) -> dict[str, Path]:
    return {path.name.lower(): path for path in directory.iterdir()}


def detect_layout(directory: str | os.PathLike) -> str:
    """Name the layout of a folder from its file names (one of `LAYOUTS`); raises `XMCInputError` if none fits."""
    directory = Path(directory)
    names = _lower_names(directory)
    if any(stem + ext in names for stem in ("trn",) for ext in (".json.gz", ".json")) and any(
        "lbl" + ext in names for ext in (".json.gz", ".json")
    ):
        return "lf"
    if (directory / "data").is_dir() and any((directory / "data").glob("*.parquet")):
        return "parquet"
    if "x.trn.txt" in names and ("y.trn.npz" in names or "y.trn.txt" in names):
        return "pecos"
    if "train_labels.txt" in names and ("train_raw_texts.txt" in names or "train_texts.txt" in names):
        return "attentionxml"
    if any(name.endswith("_data.txt") for name in names) or (
        any("train" in name and name.endswith(".txt") for name in names)
        and any("test" in name and name.endswith(".txt") for name in names)
    ):
        return "bow"
    raise XMCInputError(
        f"cannot tell the layout of this folder from its file names ({sorted(names)[:12]}); expected one of: "
        "LF (trn.json.gz + lbl.json.gz), parquet (data/*.parquet), PECOS (X.trn.txt + Y.trn.npz), "
        "AttentionXML (train_raw_texts.txt + train_labels.txt), BoW (*_data.txt + split files, or *train*.txt + "
        "*test*.txt)",
        path=str(directory),
    )


def _looks_like_repo_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~")) and "\\" not in name


def load_xmc_dataset(
    name_or_path,
    validation_size: float | int | None = None,
    seed: int = 0,
    layout: str | None = None,
    **kwargs,
) -> XMCDataset:
    """Load an XMC data set as an `XMCDataset` (`labels` column of frequency-sorted vocabulary ids).

    Args:
        name_or_path: a built-in name (`"debtags"`), a folder in any supported layout (detected from its file names,
            or forced with `layout`), a single BoW file, a Hub dataset repo id in the parquet layout (downloaded with
            `huggingface_hub.snapshot_download`), or a `datasets.Dataset` / `datasets.DatasetDict` with a text column
            and a label-list column.
        validation_size (`float` or `int`, *optional*): carve a `validation` split out of train (fraction or count).
        seed (`int`): seed of the validation carving.
        layout (`str`, *optional*): force a layout, one of `LAYOUTS`.
        kwargs: passed to the layout's reader, e.g. `split_column` / `split_files` / `num_features` / `num_labels`
            (BoW), `text_column` / `label_column` / `label_names` (`datasets` objects), `allow_empty_text`.
    """
    import datasets

    if isinstance(name_or_path, (datasets.Dataset, datasets.DatasetDict)):
        from .hf_dataset import xmc_dataset_from_hf

        return xmc_dataset_from_hf(name_or_path, validation_size=validation_size, seed=seed, **kwargs)
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_DATASETS and not Path(name_or_path).exists():
        kwargs.setdefault("name", name_or_path)
        path = builtin_dataset_path(name_or_path)
    else:
        path = Path(name_or_path)
    if not path.exists() and isinstance(name_or_path, str) and _looks_like_repo_id(name_or_path):
        from huggingface_hub import snapshot_download

        kwargs.setdefault("name", name_or_path)
        revision = kwargs.pop("revision", None)
        try:
            path = Path(snapshot_download(name_or_path, repo_type="dataset", revision=revision))
        except Exception as error:  # offline, unknown repo, no access: say what was tried
            raise FileNotFoundError(
                f"{name_or_path} is neither a built-in data set ({sorted(BUILTIN_DATASETS)}), nor an existing file or "
                f"folder, nor a downloadable Hub dataset repo ({type(error).__name__}: {error})."
            ) from error
        layout = layout or "parquet"
    if not path.exists():
        raise FileNotFoundError(
            f"{name_or_path} is neither a built-in data set ({sorted(BUILTIN_DATASETS)}) nor an existing file or folder."
        )
    if path.is_file():
        from .bow import load_bow_dataset

        return load_bow_dataset(path, validation_size=validation_size, seed=seed, **kwargs)
    layout = layout or detect_layout(path)
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not one of {LAYOUTS}.")
    reader = importlib.import_module(f"hf_xmc.data.{layout}")
    return getattr(reader, f"load_{layout}_dataset")(path, validation_size=validation_size, seed=seed, **kwargs)
