"""Train XLGen (a T5 that generates the labels; base, BCL or MCG cluster guidance) with the hf-xmc recipe.

Same flags as `hf-xmc train xlgen`. XLGen starts from a T5: make a small one on the data set first (no T5 checkpoint
can be downloaded here), or pass `t5-base` where it can be:

    hf-xmc pretrain-t5 --output_dir outputs/t5-small-debtags --minutes 30
    python examples/train_xlgen.py --model_name_or_path outputs/t5-small-debtags --variant bcl \
        --output_dir xlgen-bcl-debtags --max_train_minutes 55 --max_train_samples 0
    python examples/train_xlgen.py --model_name_or_path outputs/t5-small-debtags --variant mcg --num_clusters 20 \
        --decoding ensemble --ensemble_join union      # the paper's PU-setting decoding
    python examples/train_xlgen.py args.json           # all arguments from a JSON file

The paper's settings on T5-base (A.2): `--model_name_or_path t5-base --max_length 500 --max_target_length 165
--learning_rate 2e-4 --per_device_train_batch_size 1 --num_train_epochs 5 --num_clusters 60` (BCL;
`--anneal_cluster_loss true` for λ = 1/epoch) or `--num_clusters 20` (MCG). `--constrained_decoding true` generates
vocabulary labels only (beyond the paper); `--label_order inverse|shuffle|given` are the ablations of §5.1.
"""

from __future__ import annotations

import sys

from hf_xmc.training.xlgen_recipe import XLGEN_RECIPE

if __name__ == "__main__":
    sys.exit(XLGEN_RECIPE.main())
