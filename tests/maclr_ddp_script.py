"""Run by `test_maclr_accelerate.py` under `accelerate launch`: one MACLR stage-I run, then every process writes
the clustering history it saw (with the assignments' checksums) to `<output_dir>/clustering_rank<r>.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hf_xmc.methods import get_recipe

if __name__ == "__main__":
    recipe = get_recipe("maclr")
    data_args, model_args, training_args = recipe.parse_args(sys.argv[1:])
    result = recipe.run(data_args, model_args, training_args)
    rank = training_args.process_index
    path = Path(training_args.output_dir) / f"clustering_rank{rank}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    history = [{k: v for k, v in entry.items() if k != "seconds"} for entry in result["clustering"]]
    path.write_text(json.dumps({"history": history, "losses": result["train_loss_history"]}))
