"""`examples/train_aplc.py` runs unchanged under `accelerate launch --multi_gpu --num_processes 2` (real DDP over gloo
on a CPU-only machine) and gives the training loss and metrics of one process.

Specification: with the same global batch (2 x 4 = 1 x 8) and seed, the per-step training losses of the 2-process
run match the 1-process run within 2 %, and the test metrics (gathered over both processes) match within one
ranking flip. The control proves the comparison catches the known trap: a stock `BertForSequenceClassification`,
whose `forward(**kwargs)` makes Trainer scale the batch-mean loss by the world size, logs (and back-propagates) twice
the loss under 2-process DDP; `accepts_loss_kwargs = False` (set on every hf-xmc model) prevents it.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_checkpoints import save_tiny_bert, write_tiny_lf_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = REPO_ROOT / "examples" / "train_aplc.py"
TRAP_SCRIPT = Path(__file__).resolve().parent / "ddp_loss_trap.py"
NUM_TEST = 16
MAX_STEPS = 3
LOSS_RTOL = 0.02


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_two_processes(script: Path, args: list[str], cwd: Path) -> None:
    """`accelerate launch --multi_gpu --num_processes 2 script args` on this machine (gloo on CPU)."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
        "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        str(script), *args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=540)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]


def same_training(one_process: list[float], two_processes: list[float], rtol: float = LOSS_RTOL) -> bool:
    """Whether two runs logged the same per-step training losses (what the DDP check asserts)."""
    return len(one_process) == len(two_processes) > 0 and all(
        abs(a - b) <= rtol * abs(a) for a, b in zip(one_process, two_processes)
    )


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("accelerate")
    data = write_tiny_lf_dataset(root / "data", num_train=64, num_test=NUM_TEST)
    encoder = save_tiny_bert(root / "bert")
    return root, data, encoder


def _recipe_args(data: Path, encoder: Path, output_dir: Path, per_device_batch: int) -> list[str]:
    return [
        "--dataset_name_or_path", str(data), "--model_name_or_path", str(encoder), "--output_dir", str(output_dir),
        "--max_steps", str(MAX_STEPS), "--per_device_train_batch_size", str(per_device_batch), "--logging_steps", "1",
        "--save_strategy", "steps", "--save_steps", str(MAX_STEPS), "--use_cpu", "--report_to", "none",
        "--max_length", "32", "--disable_tqdm", "true", "--seed", "7",
    ]  # fmt: skip


def _run_losses_and_metrics(output_dir: Path) -> tuple[list[float], dict]:
    state = json.loads((output_dir / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    return losses, json.loads((output_dir / "xmc_metrics.json").read_text())


def test_train_aplc_script_gives_the_same_loss_and_metrics_on_two_ddp_processes(tiny_setup, monkeypatch):
    root, data, encoder = tiny_setup
    # one process: the same script, run in this interpreter (what `accelerate launch --num_processes 1` runs)
    monkeypatch.setattr(sys, "argv", [str(TRAIN_SCRIPT), *_recipe_args(data, encoder, root / "one", 8)])
    runpy.run_path(str(TRAIN_SCRIPT), run_name="__main__")
    launch_two_processes(TRAIN_SCRIPT, _recipe_args(data, encoder, root / "two", 4), cwd=root)

    one_losses, one_metrics = _run_losses_and_metrics(root / "one")
    two_losses, two_metrics = _run_losses_and_metrics(root / "two")
    assert len(one_losses) == MAX_STEPS
    assert same_training(one_losses, two_losses), (one_losses, two_losses)
    assert two_metrics["num_examples"] == one_metrics["num_examples"] == NUM_TEST  # gathered, no duplicates
    for name in ("P@1", "P@3", "P@5", "nDCG@5", "PSP@5"):
        assert two_metrics[name] == pytest.approx(one_metrics[name], abs=1 / NUM_TEST + 1e-9), name


def test_control_a_stock_model_without_the_flag_doubles_its_loss_and_is_caught(tiny_setup):
    sys.path.insert(0, str(TRAP_SCRIPT.parent))
    import ddp_loss_trap

    root, data, encoder = tiny_setup
    one_losses = ddp_loss_trap.train(data, encoder, root / "trap_one.json", per_device_train_batch_size=8)
    fixed_losses = ddp_loss_trap.train(data, encoder, root / "fixed_one.json", 8, no_loss_kwargs=True)
    assert one_losses == pytest.approx(fixed_losses)  # on one process the flag changes nothing
    launch_two_processes(TRAP_SCRIPT, [str(data), str(encoder), str(root / "trap_two.json"),
                                       "--per_device_train_batch_size", "4"], cwd=root)  # fmt: skip
    result = json.loads((root / "trap_two.json").read_text())
    assert result["world_size"] == 2
    assert not same_training(one_losses, result["losses"])  # the DDP check above would fail on this model
    for single, doubled in zip(one_losses, result["losses"]):
        assert doubled / single == pytest.approx(2.0, rel=LOSS_RTOL)  # exactly the world-size factor
