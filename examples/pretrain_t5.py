"""Pre-train a small T5 on a data set (a Unigram tokenizer with the labels kept whole, then T5 span corruption within
a time budget); the output is an ordinary T5 folder that XLGen and XDA start from. Same flags as `hf-xmc pretrain-t5`:

    python examples/pretrain_t5.py --dataset_name_or_path debtags --output_dir outputs/t5-small-debtags --minutes 30
    python examples/pretrain_t5.py --model_name_or_path t5-base --tokenizer_name_or_path t5-base --minutes 60
"""

from __future__ import annotations

import sys

from hf_xmc.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["pretrain-t5", *sys.argv[1:]]))
