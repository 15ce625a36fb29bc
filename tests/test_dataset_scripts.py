"""`dataset_scripts/`: any XMC layout -> parquet shards + `labels` config + dataset card.

Specification: the converted folder loads with `datasets.load_dataset(folder)` (same splits, same label ids) and
`load_dataset(folder, "labels")` (the vocabulary in id order); `--push_to_hub` makes the same true for the repo id on
the Hub; bad input is one `error:` line and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard
from tiny_checkpoints import write_tiny_lf_dataset

from hf_xmc.data import load_xmc_dataset

pytest_plugins = ["hub_fixtures"]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dataset_scripts"))
import convert_xmc_dataset  # noqa: E402


def _assert_same_data(folder_or_repo: str, xmc, cache_dir) -> None:
    splits = datasets.load_dataset(folder_or_repo, cache_dir=str(cache_dir))
    assert set(splits) == set(xmc.splits)
    for name, split in xmc.splits.items():
        assert splits[name]["labels"] == split["labels"]
        assert splits[name].features["labels"] == datasets.List(datasets.Value("int64"))
    table = datasets.load_dataset(folder_or_repo, "labels", cache_dir=str(cache_dir))["train"]
    assert table["label"] == xmc.vocabulary.labels and table["id"] == list(range(len(xmc.vocabulary)))
    assert table["count"] == xmc.vocabulary.counts.tolist()


def test_lf_folder_converts_and_loads_with_load_dataset(tmp_path, capsys):
    source = write_tiny_lf_dataset(tmp_path / "lf")
    assert convert_xmc_dataset.main([str(source), str(tmp_path / "out"), "--name", "tiny-lf", "--license", "mit"]) == 0
    assert "verified" in capsys.readouterr().out
    original = load_xmc_dataset(source)
    _assert_same_data(str(tmp_path / "out"), original, tmp_path / "cache")
    assert (
        datasets.load_dataset(str(tmp_path / "out"), "labels", cache_dir=str(tmp_path / "cache"))["train"]["text"]
        == original.vocabulary.texts
    )
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.pretty_name == "tiny-lf" and card.data.license == "mit"
    assert {c["config_name"] for c in card.data.configs} == {"default", "labels"}
    roundtrip = load_xmc_dataset(tmp_path / "out")  # and back into hf-xmc with the same vocabulary
    assert roundtrip.vocabulary.labels == original.vocabulary.labels
    assert roundtrip["train"]["text"] == original["train"]["text"]


def test_bow_folder_keeps_its_features_and_gets_a_validation_split(tmp_path):
    source = tmp_path / "bow"
    source.mkdir()
    (source / "tiny_train.txt").write_text("4 5 3\n0,1 0:1.0 3:0.5\n1 1:2.0\n2 4:1.0\n0 0:0.5 2:1.5\n")
    (source / "tiny_test.txt").write_text("2 5 3\n1 1:1.0\n0,2 0:1.0 4:1.0\n")
    assert convert_xmc_dataset.main([str(source), str(tmp_path / "out"), "--validation_size", "1"]) == 0
    converted = load_xmc_dataset(tmp_path / "out")
    assert {name: len(split) for name, split in converted.splits.items()} == {"train": 3, "validation": 1, "test": 2}
    assert converted.features["test"].shape == (2, 5)
    _assert_same_data(str(tmp_path / "out"), converted, tmp_path / "cache")


def test_push_to_hub_then_load_dataset_by_repo_id(tmp_path, fake_hub, unique_repo_id):
    source = write_tiny_lf_dataset(tmp_path / "lf", num_train=20, num_test=6)
    assert convert_xmc_dataset.main([str(source), str(tmp_path / "out"), "--push_to_hub", unique_repo_id]) == 0
    repo = fake_hub.repos[("dataset", unique_repo_id)].resolve("main")
    assert {"README.md", "labels/train-00000-of-00001.parquet"} <= set(repo.files)
    assert all(stored.lfs for path, stored in repo.files.items() if path.endswith(".parquet"))
    original = load_xmc_dataset(source)
    _assert_same_data(unique_repo_id, original, tmp_path / "cache")
    assert load_xmc_dataset(unique_repo_id).vocabulary.labels == original.vocabulary.labels


def test_bad_input_is_one_error_line(tmp_path, capsys):
    assert convert_xmc_dataset.main([str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("convert_xmc_dataset: error:") and error.count("\n") == 1 and "missing" in error
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.md").write_text("nothing here")
    assert convert_xmc_dataset.main([str(tmp_path / "junk"), str(tmp_path / "out")]) == 2
    assert "cannot tell the layout" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.real_data
def test_shared_attentionxml_slice_converts(xmc_repo_dir, tmp_path):
    source = xmc_repo_dir / "Amazon-670K-small"
    assert convert_xmc_dataset.main([str(source), str(tmp_path / "amazon"), "--layout", "attentionxml"]) == 0
    _assert_same_data(str(tmp_path / "amazon"), load_xmc_dataset(source), tmp_path / "cache")
