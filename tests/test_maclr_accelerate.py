"""MACLR stage I under `accelerate launch --multi_gpu --num_processes 2` (DDP over gloo on CPU): the adaptive
clustering is computed on process 0 and broadcast, so both processes train on the same clusters (equal assignment
checksums at every re-clustering) and the run finishes with a saved checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from maclr_fixtures import _tiny_bert_folder
from test_accelerate import launch_two_processes
from tiny_checkpoints import write_tiny_lf_dataset

SCRIPT = Path(__file__).resolve().parent / "maclr_ddp_script.py"


def test_clusters_are_shared_by_both_processes(tmp_path):
    data = write_tiny_lf_dataset(tmp_path / "data", num_train=48, num_test=8)
    output_dir = tmp_path / "out"
    launch_two_processes(
        SCRIPT,
        [
            "--stage",
            "pretrain",
            "--dataset_name_or_path",
            str(data),
            "--model_name_or_path",
            _tiny_bert_folder(),
            "--projection_dim",
            "16",
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "4",
            "--per_device_train_batch_size",
            "4",
            "--max_length",
            "24",
            "--initial_clusters",
            "2",
            "--double_every",
            "1",
            "--update_every",
            "1",
            "--num_negatives",
            "4",
            "--use_cpu",
            "--disable_tqdm",
            "true",
            "--logging_steps",
            "1",
            "--seed",
            "0",
            "--remove_title_probability",
            "0",
        ],  # fmt: skip
        cwd=tmp_path,
    )
    ranks = [json.loads((output_dir / f"clustering_rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["history"] == ranks[1]["history"]  # same steps, K and assignments on both processes
    history = ranks[0]["history"]
    assert [h["clusters"] for h in history if not h["instance_level"]] == [2, 4]  # K0 at step 0, doubled at 1
    assert history[-1]["instance_level"] and history[-1]["step"] == 2
    assert len(ranks[0]["losses"]) == 4
    assert (output_dir / "maclr.json").is_file() and (output_dir / "label_index" / "label_index.json").is_file()
