"""Train GUDN (a BERT-family encoder with the guide network and label reinforcement) with the hf-xmc recipe.

Same flags as `hf-xmc train gudn`; runs unchanged under `accelerate launch`:

    python examples/train_gudn.py --max_train_samples 2000 --output_dir gudn-debtags
    accelerate launch examples/train_gudn.py --num_train_epochs 3 --max_train_samples 0
    python examples/train_gudn.py args.json        # all arguments from a JSON file

The paper's ablations (Table 6, Fig. 5) are flags: `--feature_loss_weight 0 --link_loss_weight 0` (plain BERT),
`--link_loss_weight 0` (+ feature guide), `--feature_loss_weight 0` (+ link guide); `--label_reinforcement none`,
`ordered` or `disordered`. The paper's EURLex setting on BERT-base:

    python examples/train_gudn.py --model_name_or_path google-bert/bert-base-uncased --max_length 512 \
        --max_label_length 512 --learning_rate 5e-5 --learning_rate_head 5e-5 --per_device_train_batch_size 8 \
        --num_train_epochs 40 --max_train_samples 0 --max_eval_samples 0
"""

from __future__ import annotations

import sys

from hf_xmc.training.gudn_recipe import GUDN_RECIPE

if __name__ == "__main__":
    sys.exit(GUDN_RECIPE.main())
