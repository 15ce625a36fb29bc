#!/usr/bin/env python
"""Convert the real data sets shared beside the checkout (`../shared/data`) as worked examples.

Writes `dataset_scripts/outputs/{debtags,bibtex,amazon-670k-small}/` (git-ignored): one per layout hf-xmc reads
from the Extreme Classification Repository (LF raw text, BoW, AttentionXML). Each is checked by reading it back with
`datasets.load_dataset`. Pass `--push_to_hub_namespace me` to upload them as `me/<name>`.

    python dataset_scripts/convert_shared_examples.py [--shared_data ../shared/data] [--push_to_hub_namespace me]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convert_xmc_dataset import build_parser, convert

HERE = Path(__file__).resolve().parent
EXAMPLES = {  # output name: (folder under shared data, layout, card description)
    "debtags": ("debtags", "lf", "Debian packages tagged with debtags facets (LF raw-text layout, label texts)."),
    "bibtex": ("xmc-repo/Bibtex", "bow", "BibSonomy BibTeX entries as bag-of-words features (XMC repository BoW)."),
    "amazon-670k-small": (
        "xmc-repo/Amazon-670K-small",
        "attentionxml",
        "A 200/200-document slice of Amazon-670K (AttentionXML layout).",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared_data", type=Path, default=HERE.parents[1] / "shared" / "data")
    parser.add_argument("--output_root", type=Path, default=HERE / "outputs")
    parser.add_argument("--push_to_hub_namespace", default=None)
    args = parser.parse_args(argv)
    for name, (folder, layout, description) in EXAMPLES.items():
        source = args.shared_data / folder
        if not source.exists():
            print(f"skipping {name}: {source} does not exist")
            continue
        convert_args = [str(source), str(args.output_root / name), "--layout", layout, "--name", name,
                        "--description", description]  # fmt: skip
        if args.push_to_hub_namespace:
            convert_args += ["--push_to_hub", f"{args.push_to_hub_namespace}/{name}"]
        convert(build_parser().parse_args(convert_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
