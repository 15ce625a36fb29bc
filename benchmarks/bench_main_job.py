"""The main job as a new user meets it: `hf-xmc train aplc` with its defaults, timed from interpreter start to exit.

Records what the README's set-up section promises: how long the default run takes on this machine, what it reaches
(P@k, PSP@k, decision F1 on its 3,000 test documents), the budget it used, and the TF-IDF peers' rows it prints
(trained on the same documents). Writes `benchmarks/results/main_job.json`; `benchmarks/report.py` renders it.

    python benchmarks/bench_main_job.py          # about as long as the main job itself (10-15 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# Exactly what `hf-xmc train aplc --output_dir DIR` runs (the CLI parses the same dataclasses), plus a JSON dump.
RUN = (
    "import json, sys; from hf_xmc.methods import get_recipe; recipe = get_recipe('aplc'); "
    "result = recipe.run(*recipe.parse_args(['--output_dir', sys.argv[1]])); result.pop('eval_top_k', None); "
    "json.dump(result, open(sys.argv[2], 'w'), default=str)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=RESULTS / "main_job.json")
    parser.add_argument("--keep_model", type=Path, default=None, help="Copy the trained model here (bench_decision).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="main_job_") as workdir:
        result_file = Path(workdir) / "result.json"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", RUN, str(Path(workdir) / "model"), str(result_file)], check=True)
        wall = time.perf_counter() - start
        result = json.loads(result_file.read_text())
        if args.keep_model is not None:
            shutil.copytree(Path(workdir) / "model", args.keep_model, dirs_exist_ok=True)
    import torch

    record = {
        "command": "hf-xmc train aplc",
        "wall_seconds": wall,
        "metrics": result["metrics"],
        "num_train_examples": result["num_train_examples"],
        "num_eval_examples": result["num_eval_examples"],
        "global_step": result["global_step"],
        "budget": result.get("budget"),
        "decision": result.get("decision"),
        "peers": {name: peer for name, peer in (result.get("peers") or {}).items() if "metrics" in peer},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2))
    print(f"main job: {wall / 60:.1f} min, P@1 {100 * result['metrics']['P@1']:.2f}; wrote {args.output}")


if __name__ == "__main__":
    main()
