"""The hf-xmc parquet layout: what `dataset_scripts/` writes and the Hub serves, readable by `datasets.load_dataset`.

```
README.md                               dataset card; YAML `configs`: "default" (the splits) and "labels"
data/{split}-00000-of-00001.parquet     text columns + `labels` (List(int64), vocabulary ids)
labels/train-00000-of-00001.parquet     `id`, `label`, `count` (training docs), `text` / `description` if any
features/{split}.npz                    optional sparse features (scipy `save_npz`)
filters/{split}.npz                     optional evaluation filter pairs (`XMCDataset.filter_pairs`, a CSR mask)
```
`load_dataset(directory)` gives the splits, `load_dataset(directory, "labels")` the vocabulary table;
`load_xmc_dataset(directory)` gives the `XMCDataset` back with the same ids.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from .assembly import RawSplit, assemble_xmc_dataset
from .dataset import XMCDataset, labels_column_arrays
from .errors import XMCInputError

DATA_DIR, LABELS_DIR, FEATURES_DIR, FILTERS_DIR = "data", "labels", "features", "filters"


def _size_category(num_docs: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if num_docs < limit:
            return name
    return "1M<n<10M" if num_docs < 10_000_000 else "10M<n<100M"


def dataset_card(
    xmc: XMCDataset, pretty_name: str | None = None, license: str | None = None, description: str = ""
) -> str:
    """The README.md (YAML configs + statistics table) of a parquet-layout data set."""
    from huggingface_hub import DatasetCardData

    data_files = [{"split": split, "path": f"{DATA_DIR}/{split}-*.parquet"} for split in xmc.splits]
    card_data = DatasetCardData(
        pretty_name=pretty_name or xmc.name or None,
        license=license,
        task_categories=["text-classification"],
        task_ids=["multi-label-classification"],
        size_categories=[_size_category(sum(len(split) for split in xmc.splits.values()))],
        tags=["extreme-multi-label-classification", "hf-xmc"],
        configs=[
            {"config_name": "default", "default": True, "data_files": data_files},
            {"config_name": "labels", "data_files": [{"split": "train", "path": f"{LABELS_DIR}/train-*.parquet"}]},
        ],
    )
    rows = "\n".join(
        f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |"
        for key, value in xmc.describe().items()
    )
    return (
        f"---\n{card_data.to_yaml()}\n---\n\n# {pretty_name or xmc.name or 'XMC data set'}\n\n{description}\n\n"
        "Extreme multi-label classification data in the hf-xmc parquet layout: `labels` holds label ids of the "
        "`labels` config (ids in decreasing training frequency). Load it with `hf_xmc.data.load_xmc_dataset(path)` "
        'or `datasets.load_dataset(path)` / `load_dataset(path, "labels")`.\n\n'
        f"| statistic | value |\n| --- | --- |\n{rows}\n"
    )


def save_xmc_dataset_parquet(
    xmc: XMCDataset,
    directory: str | os.PathLike,
    pretty_name: str | None = None,
    license: str | None = None,
    description: str = "",
) -> Path:
    """Write `xmc` in the parquet layout (see the module docstring), card included; returns the directory.

    Args:
        xmc (`XMCDataset`): the data set.
        directory: the output folder (created; existing shards of the same names are overwritten).
        pretty_name, license, description: for the dataset card.
    """
    directory = Path(directory)
    for sub in (DATA_DIR, LABELS_DIR):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    for split_name, split in xmc.splits.items():
        split.to_parquet(str(directory / DATA_DIR / f"{split_name}-00000-of-00001.parquet"))
    vocabulary = xmc.vocabulary
    columns = {
        "id": pa.array(np.arange(len(vocabulary), dtype=np.int64)),
        "label": pa.array(vocabulary.labels),
        "count": pa.array(vocabulary.counts),
    }
    if vocabulary.texts is not None:
        columns["text"] = pa.array(vocabulary.texts, type=pa.string())
    if vocabulary.descriptions is not None:
        columns["description"] = pa.array(vocabulary.descriptions, type=pa.string())
    pq.write_table(pa.table(columns), directory / LABELS_DIR / "train-00000-of-00001.parquet")
    if xmc.features:
        (directory / FEATURES_DIR).mkdir(exist_ok=True)
        for split_name, matrix in xmc.features.items():
            sp.save_npz(directory / FEATURES_DIR / f"{split_name}.npz", sp.csr_matrix(matrix))
    if xmc.filter_pairs:
        (directory / FILTERS_DIR).mkdir(exist_ok=True)
        for split_name, mask in xmc.filter_pairs.items():
            sp.save_npz(directory / FILTERS_DIR / f"{split_name}.npz", sp.csr_matrix(mask))
    (directory / "README.md").write_text(dataset_card(xmc, pretty_name, license, description), encoding="utf-8")
    return directory


def _read_shards(paths: list[Path]) -> pa.Table:
    try:
        return pa.concat_tables([pq.read_table(path) for path in paths], promote_options="default")
    except (pa.ArrowInvalid, OSError) as error:
        raise XMCInputError(f"cannot read the parquet shards: {error}", str(paths[0])) from error


def load_parquet_dataset(
    directory,
    validation_size: float | int | None = None,
    seed: int = 0,
    name: str | None = None,
) -> XMCDataset:
    """Load a folder written by `save_xmc_dataset_parquet` (or any `data/{split}-*.parquet` with a `labels` column).

    Args:
        directory: the folder.
        validation_size (`float` or `int`, *optional*): carve a seeded validation split out of train.
        seed (`int`): seed of the validation carving.
        name (`str`, *optional*): display name.
    """
    from datasets import Dataset  # imported on first use: `import hf_xmc.data` stays fast

    directory = Path(directory)
    shards: dict[str, list[Path]] = {}
    for path in sorted((directory / DATA_DIR).glob("*.parquet")):
        shards.setdefault(path.name.split("-")[0].split(".")[0], []).append(path)
    if "train" not in shards:
        raise XMCInputError(f"no {DATA_DIR}/train-*.parquet shard (parquet layout)", str(directory))
    label_paths = sorted((directory / LABELS_DIR).glob("*.parquet"))
    texts = descriptions = None
    if label_paths:
        table = _read_shards(label_paths)
        if "label" not in table.column_names:
            raise XMCInputError("the labels table has no 'label' column", str(label_paths[0]))
        order = np.argsort(table.column("id").to_numpy()) if "id" in table.column_names else None
        if order is not None:
            table = table.take(pa.array(order))
            if not np.array_equal(table.column("id").to_numpy(), np.arange(table.num_rows)):
                raise XMCInputError("the labels table's ids are not 0..L-1", str(label_paths[0]))
        label_names = [str(label) for label in table.column("label").to_pylist()]
        if "text" in table.column_names:
            texts = table.column("text").to_pylist()
        if "description" in table.column_names:
            descriptions = table.column("description").to_pylist()
    else:
        label_names = None
    raw_splits = {}
    for split, paths in shards.items():
        table = _read_shards(paths)
        if "labels" not in table.column_names:
            raise XMCInputError("the split has no 'labels' column", str(paths[0]))
        dataset = Dataset(table)
        indptr, indices = labels_column_arrays(dataset)
        columns = {
            column: table.column(column).combine_chunks() for column in table.column_names if column != "labels"
        }
        features = None
        if (directory / FEATURES_DIR / f"{split}.npz").is_file():
            features = sp.csr_matrix(sp.load_npz(directory / FEATURES_DIR / f"{split}.npz"))
        raw_splits[split] = RawSplit(indptr, indices, columns, features, str(paths[0]))
        filter_path = directory / FILTERS_DIR / f"{split}.npz"
        if filter_path.is_file():
            mask = sp.csr_matrix(sp.load_npz(filter_path))
            if mask.shape[0] != len(indptr) - 1:
                raise XMCInputError(f"{mask.shape[0]} filter rows but {len(indptr) - 1} documents", str(filter_path))
            mask.sum_duplicates()
            raw_splits[split].filter_pairs = (mask.indptr.astype(np.int64), mask.indices.astype(np.int64))
    if label_names is None:
        num_labels = max(
            (int(raw.label_indices.max()) + 1 for raw in raw_splits.values() if len(raw.label_indices)), default=0
        )
        label_names = [str(index) for index in range(num_labels)]
    return assemble_xmc_dataset(
        raw_splits,
        label_names,
        texts,
        descriptions,
        name=name or directory.name,
        validation_size=validation_size,
        seed=seed,
    )
