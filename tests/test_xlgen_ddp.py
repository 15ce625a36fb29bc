"""`examples/train_xlgen.py` under `accelerate launch --multi_gpu --num_processes 2` (gloo on CPU) trains like one
process with the same global batch: the per-step losses agree (within 10 %: each process averages over its own target
tokens), far from the doubled loss of the DDP loss-scaling trap (`accepts_loss_kwargs = False` on the model)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest
from test_accelerate import launch_two_processes
from xlgen_fixtures import tiny_t5_folder

TRAIN_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "train_xlgen.py"
MAX_STEPS = 3


def _args(output_dir: Path, per_device_batch: int) -> list[str]:
    return [
        "--model_name_or_path", str(tiny_t5_folder()), "--variant", "mcg", "--num_clusters", "4",
        "--output_dir", str(output_dir), "--max_steps", str(MAX_STEPS), "--per_device_train_batch_size",
        str(per_device_batch), "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", str(MAX_STEPS),
        "--use_cpu", "--report_to", "none", "--max_length", "32", "--disable_tqdm", "true", "--seed", "7",
        "--max_train_samples", "64", "--max_eval_samples", "8", "--decision_validation_size", "0",
        "--max_new_tokens", "4", "--num_beams", "1", "--constrained_decoding", "true",
    ]  # fmt: skip


def _losses(output_dir: Path) -> list[float]:
    state = json.loads((output_dir / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


@pytest.mark.slow
def test_two_ddp_processes_train_like_one(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(TRAIN_SCRIPT), *_args(tmp_path / "one", 8)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(TRAIN_SCRIPT), run_name="__main__")
    assert exit_info.value.code == 0
    launch_two_processes(TRAIN_SCRIPT, _args(tmp_path / "two", 4), cwd=tmp_path)
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == MAX_STEPS
    for single, distributed in zip(one, two):
        assert distributed == pytest.approx(single, rel=0.1)  # the trap would log 2x
