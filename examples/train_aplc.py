"""Train APLC (MiniLM or XLNet + adaptive probabilistic label clusters) with the hf-xmc recipe.

Same flags as `hf-xmc train aplc`; runs unchanged under `accelerate launch`:

    python examples/train_aplc.py --max_train_samples 2000 --output_dir aplc-debtags
    accelerate launch examples/train_aplc.py --num_train_epochs 3 --max_train_samples None
    python examples/train_aplc.py args.json        # all arguments from a JSON file
    python examples/train_aplc.py --help           # APLC's flags and the common training ones (--help-all: all)

APLC-XLNet as in the paper (Table 3, EURLex settings; any XLNet checkpoint works unchanged: its tokenizer pads on
the left and puts `<cls>` last, where `XLNetWithAPLC` reads it):

    python examples/train_aplc.py --model_name_or_path xlnet/xlnet-base-cased --max_length 512 \
        --learning_rate 5e-5 --learning_rate_hidden 1e-4 --learning_rate_aplc 2e-3 --warmup_steps 0 \
        --per_device_train_batch_size 12 --num_train_epochs 8 --max_train_samples 0 --max_eval_samples 0
"""

from __future__ import annotations

import sys

from hf_xmc.methods import get_recipe


def main() -> None:
    code = get_recipe("aplc").main()  # the shared recipe (hf_xmc.training.recipe) with APLC's spec
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
