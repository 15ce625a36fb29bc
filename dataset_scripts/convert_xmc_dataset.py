#!/usr/bin/env python
"""Convert an XMC data set from any layout hf-xmc reads into the parquet layout the Hub serves.

datasets 5 runs no loading scripts, so a Hub dataset repository must hold data files: this tool writes parquet shards
(`data/{split}-*.parquet`, label ids in a `labels` column), the label vocabulary as a second config
(`labels/train-*.parquet`: id, label, training count, label text) and a dataset card whose YAML declares both
configs. The result loads with `datasets.load_dataset(folder)` / `load_dataset(folder, "labels")` and
`hf_xmc.data.load_xmc_dataset(folder)`, and `--push_to_hub user/name` uploads it.

Layouts (detected from the file names, or forced with `--layout`):
    lf            Extreme Classification Repository raw text: trn.json[.gz], tst.json[.gz], lbl.json[.gz]
    bow           XMC repository bag of words: <name>_data.txt + <name>_trSplit.txt / _tstSplit.txt,
                  or train/test BoW files (`--split_column`, `--num_features`, `--num_labels`)
    attentionxml  {train,test}_raw_texts.txt / _texts.txt + {train,test}_labels.txt (+ *_v1.txt BoW)
    pecos         X.trn.txt / X.tst.txt + Y.trn.npz|txt / Y.tst.npz|txt (+ label names)
    parquet       an hf-xmc parquet folder (re-written, e.g. with a validation split added)

Examples:
    python dataset_scripts/convert_xmc_dataset.py ../shared/data/debtags dataset_scripts/outputs/debtags
    python dataset_scripts/convert_xmc_dataset.py ../shared/data/xmc-repo/Bibtex outputs/bibtex --layout bow
    python dataset_scripts/convert_xmc_dataset.py DIR OUT --validation_size 0.1 --push_to_hub me/my-xmc-set
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hf_xmc.data import load_xmc_dataset
from hf_xmc.data.loading import LAYOUTS
from hf_xmc.data.parquet import save_xmc_dataset_parquet


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Convert an XMC data set (LF, BoW, AttentionXML, PECOS, parquet) to parquet shards + a `labels` "
        "config + a dataset card, loadable with datasets.load_dataset(folder).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("source", help="Folder (or single BoW file) of the data set, or a built-in name (debtags).")
    parser.add_argument("output_dir", help="Folder to write the parquet layout into.")
    parser.add_argument("--layout", choices=LAYOUTS, default=None, help="Force a layout instead of detecting it.")
    parser.add_argument("--name", default=None, help="Pretty name for the dataset card (default: the folder name).")
    parser.add_argument("--license", default=None, help="License of the data, for the card (e.g. cc-by-4.0).")
    parser.add_argument("--description", default="", help="A paragraph for the dataset card.")
    parser.add_argument(
        "--validation_size",
        type=float,
        default=None,
        help="Carve a validation split out of train: a fraction (<1) or a count of documents.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the validation split.")
    parser.add_argument("--split_column", type=int, default=None, help="BoW: which column of the split files.")
    parser.add_argument("--num_features", type=int, default=None, help="BoW/AttentionXML: feature dimension.")
    parser.add_argument("--num_labels", type=int, default=None, help="BoW: label-space size of headerless files.")
    parser.add_argument(
        "--text_file", choices=("raw_texts", "texts"), default=None, help="AttentionXML: raw or tokenised texts."
    )
    parser.add_argument(
        "--no_verify", action="store_true", help="Skip re-reading the output with datasets.load_dataset to check it."
    )
    parser.add_argument(
        "--push_to_hub", metavar="REPO_ID", default=None, help="Upload the folder to this dataset repo."
    )
    parser.add_argument("--private", action="store_true", help="Create the Hub repo as private.")
    return parser  # fmt: skip


def reader_kwargs(args: argparse.Namespace) -> dict:
    """The layout-specific options the user set (only those: every reader rejects options it does not know)."""
    options = {"split_column": args.split_column, "num_features": args.num_features, "num_labels": args.num_labels,
               "text_file": args.text_file}  # fmt: skip
    return {key: value for key, value in options.items() if value is not None}


def verify_parquet_folder(folder: Path, xmc) -> dict[str, int]:
    """Re-read `folder` with `datasets.load_dataset` and check that every split and the label table match `xmc`."""
    import tempfile

    import datasets

    # A fresh cache: `datasets` keys the cache of a local folder with a YAML `configs` card by the folder's name and
    # the card, not by the files' paths, so an older conversion into a same-named folder would be read back instead.
    with tempfile.TemporaryDirectory(prefix="hf_xmc_verify_") as cache_dir:
        splits = datasets.load_dataset(str(folder), cache_dir=cache_dir, keep_in_memory=True)
        labels = datasets.load_dataset(str(folder), "labels", cache_dir=cache_dir, keep_in_memory=True)["train"]
    if set(splits) != set(xmc.splits):
        raise ValueError(f"{folder}: load_dataset gives splits {sorted(splits)}, expected {sorted(xmc.splits)}")
    for name, split in xmc.splits.items():
        if splits[name]["labels"] != split["labels"]:
            raise ValueError(f"{folder}: the labels of split {name!r} changed in the conversion")
    if labels["label"] != xmc.vocabulary.labels:
        raise ValueError(f"{folder}: the `labels` config does not list the vocabulary in id order")
    return {name: len(split) for name, split in splits.items()}


def convert(args: argparse.Namespace) -> Path:
    validation_size = args.validation_size
    if validation_size is not None and validation_size >= 1:
        validation_size = int(validation_size)
    print(f"reading {args.source} ...", flush=True)
    xmc = load_xmc_dataset(args.source, validation_size=validation_size, seed=args.seed, layout=args.layout,
                           **reader_kwargs(args))  # fmt: skip
    name = args.name or xmc.name or Path(args.source).name
    output_dir = save_xmc_dataset_parquet(xmc, args.output_dir, pretty_name=name, license=args.license,
                                          description=args.description)  # fmt: skip
    sizes = {split: len(data) for split, data in xmc.splits.items()}
    print(f"wrote {output_dir}: {len(xmc.vocabulary)} labels, splits {sizes}")
    if not args.no_verify:
        verify_parquet_folder(output_dir, xmc)
        print(f"verified: datasets.load_dataset({str(output_dir)!r}) gives the same splits and label ids")
    if args.push_to_hub:
        from huggingface_hub import create_repo, upload_folder

        create_repo(args.push_to_hub, repo_type="dataset", private=args.private or None, exist_ok=True)
        commit = upload_folder(repo_id=args.push_to_hub, repo_type="dataset", folder_path=output_dir,
                               commit_message=f"Upload {name} (hf-xmc parquet layout)")  # fmt: skip
        print(f"pushed to {commit.commit_url.rsplit('/commit/', 1)[0]}")
    return output_dir


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        convert(args)
    except (OSError, ValueError) as error:  # XMCInputError, missing files, Hub errors: one line, no traceback
        print(f"convert_xmc_dataset: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
