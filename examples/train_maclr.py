"""Train a MACLR encoder (extreme zero-/few-shot XMC) with the hf-xmc recipe; same flags as `hf-xmc train maclr`.

Stage I, then stage II from the stage-I checkpoint, then few-shot fine-tuning (1% of the labels):

    python examples/train_maclr.py --stage pretrain --output_dir maclr-stage1 --max_train_minutes 55
    python examples/train_maclr.py --stage self-train --model_name_or_path maclr-stage1 --output_dir maclr-stage2
    python examples/train_maclr.py --stage few-shot --few_shot_ratio 0.01 --model_name_or_path maclr-stage2 \
        --output_dir maclr-fs1

On deps-dev, where documents are themselves labels, a document's own id is left out of its ranking (BEIR-style;
`--exclude_own_id auto`). The paper's large global batch in bounded memory: `--per_device_train_batch_size 128
--mini_batch_size 16` (gradient caching). Runs unchanged under `accelerate launch` (the clustering is computed on
process 0 and broadcast).
"""

from __future__ import annotations

import sys

from hf_xmc.methods import get_recipe


def main() -> None:
    code = get_recipe("maclr").main()  # hf_xmc.maclr.recipe through the shared recipe's interface
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
