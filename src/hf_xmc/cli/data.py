"""`hf-xmc data ...`: inspect XMC data sets (`describe` prints their statistics; `--plot PATH` writes a label-frequency
plot)."""

from __future__ import annotations

import argparse
import json


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_statistics(stats: dict, fmt: str = "table") -> str:
    """Render `XMCDataset.describe()` as an aligned text table, a markdown table or JSON."""
    if fmt == "json":
        return json.dumps(stats, indent=2)
    rows = [(key.replace("_", " "), _format_value(value)) for key, value in stats.items()]
    if fmt == "markdown":
        return "\n".join(["| statistic | value |", "| --- | ---: |"] + [f"| {k} | {v} |" for k, v in rows])
    width = max(len(key) for key, _ in rows)
    value_width = max(len(value) for _, value in rows)
    return "\n".join(f"{key:<{width}}  {value:>{value_width}}" for key, value in rows)


def describe(args: argparse.Namespace) -> int:
    from hf_xmc.data import load_xmc_dataset

    kwargs = {}
    for option in ("layout", "split_column", "num_features", "num_labels", "text_file"):
        if getattr(args, option, None) is not None:
            kwargs[option] = getattr(args, option)
    xmc = load_xmc_dataset(args.name_or_path, validation_size=args.validation_size, seed=args.seed, **kwargs)
    print(format_statistics(xmc.describe(), args.format))
    if args.plot:  # only when asked: describing a data set writes nothing
        from hf_xmc.data.plot import plot_label_frequencies

        plot_label_frequencies(xmc, args.plot)
        if args.format != "json":
            print(f"\nlabel-frequency plot written to {args.plot}")
    return 0


def register(subparsers) -> None:
    """Add `hf-xmc data` and its sub-commands."""
    parser = subparsers.add_parser("data", help="Inspect XMC data sets.", description="Inspect XMC data sets.")
    commands = parser.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    describe_parser = commands.add_parser(
        "describe",
        help="Print the statistics of a data set (and, with --plot, its label-frequency plot).",
        description="Print the statistics of a data set (docs, labels, labels a doc, docs a label, head/tail shares, "
        "unseen test labels, docs with no label). With --plot PATH, also write a log-log label-frequency plot (PNG) "
        "that says how many labels have no training document.",
    )
    describe_parser.add_argument(
        "name_or_path",
        help="a built-in name (debtags), a folder in any supported layout, "
        "a single BoW file, or a Hub dataset repo id",
    )
    describe_parser.add_argument(
        "--plot", default=None, metavar="PATH", help="write the label-frequency plot to this PNG (default: no plot)"
    )
    describe_parser.add_argument("--no-plot", action="store_true", help=argparse.SUPPRESS)  # the default now
    describe_parser.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    describe_parser.add_argument(
        "--layout", default=None, help="force a layout (lf, parquet, pecos, attentionxml, bow)"
    )
    describe_parser.add_argument("--split-column", type=int, default=None, help="BoW split files: 0-based column")
    describe_parser.add_argument("--num-features", type=int, default=None, help="headerless BoW: feature dimension")
    describe_parser.add_argument("--num-labels", type=int, default=None, help="headerless BoW: label dimension")
    describe_parser.add_argument(
        "--text-file", choices=("raw_texts", "texts"), default=None, help="AttentionXML: which text files to read"
    )
    describe_parser.add_argument(
        "--validation-size",
        type=float,
        default=None,
        help="carve a validation split out of train (fraction, or a count >= 1)",
    )
    describe_parser.add_argument("--seed", type=int, default=0)
    describe_parser.set_defaults(func=describe)
