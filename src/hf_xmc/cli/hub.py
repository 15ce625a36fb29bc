"""`hf-xmc hub ...`: push a checkpoint folder to the Hub, and rank labels with any checkpoint (folder or repo id).

Problems (unknown repo, checkpoint of another method, missing label vocabulary, text too long) are one line on
stderr with exit status 2, through `hf_xmc.cli.main` (`XMCCheckpointError` and `TextTooLongError` are `ValueError`s).
"""

from __future__ import annotations

import argparse
import json


def push(args: argparse.Namespace) -> int:
    from hf_xmc.hub import push_xmc_model

    commit = push_xmc_model(args.folder, args.repo_id, private=args.private or None, revision=args.revision,
                            commit_message=args.commit_message)  # fmt: skip
    print(f"pushed {args.folder} to {commit.commit_url}")
    return 0


def predict(args: argparse.Namespace) -> int:
    from hf_xmc.hub import load_xmc_model

    checkpoint = load_xmc_model(args.model, method=args.method, revision=args.revision)
    ranked = checkpoint.predict(args.texts, k=args.k, threshold=args.threshold, truncation=args.truncation)
    if args.format == "json":
        rows = [[{"label": r.label, "id": r.label_id, "text": r.text, "score": r.score, "seen": r.seen} for r in row]
                for row in ranked]  # fmt: skip
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for text, row in zip(args.texts, ranked):
        print(text if len(text) <= 80 else text[:77] + "...")
        for rank, label in enumerate(row, start=1):
            print(f"  {rank:>2}. {label.label}{f' ({label.text})' if label.text else ''}  {label.score:.3f}")
        if not row:
            print(f"  (none of the top {args.k} labels reaches the threshold)")
    return 0


def threshold(value: str) -> float | str:
    """`--threshold`: `"tuned"` or a number (argparse names the flag when it is neither)."""
    return value if value == "tuned" else float(value)


def register(subparsers) -> None:
    """Add `hf-xmc hub push` and `hf-xmc hub predict`."""
    parser = subparsers.add_parser(
        "hub",
        help="Push checkpoints and rank labels with them.",
        description="Push hf-xmc checkpoints to the Hub and rank labels with them.",
    )
    commands = parser.add_subparsers(dest="hub_command", metavar="COMMAND", required=True)

    push_parser = commands.add_parser("push", help="Check a checkpoint folder and upload it to a Hub model repo.")
    push_parser.add_argument("folder", help="a checkpoint folder (e.g. a training run's --output_dir)")
    push_parser.add_argument("repo_id", help="the target repository, user/name (created if missing)")
    push_parser.add_argument("--private", action="store_true", help="create the repository as private")
    push_parser.add_argument("--revision", default=None, help="branch to push to")
    push_parser.add_argument("--commit_message", default="Upload hf-xmc model")
    push_parser.set_defaults(func=push)

    predict_parser = commands.add_parser("predict", help="Print the top-k labels of texts.")
    predict_parser.add_argument("model", help="a checkpoint folder or a Hub repo id")
    predict_parser.add_argument("texts", nargs="+", help="one or more texts")
    predict_parser.add_argument("--k", type=int, default=5, help="labels per text")
    predict_parser.add_argument("--method", default=None, help="require this hf-xmc method (e.g. aplc)")
    predict_parser.add_argument("--revision", default=None, help="Hub revision")
    predict_parser.add_argument(
        "--truncation", action="store_true", help="cut texts longer than the model reads instead of refusing them"
    )
    predict_parser.add_argument(
        "--threshold",
        type=threshold,
        default=None,
        help='print only the labels whose score reaches it: a number, or "tuned" (the thresholds saved with the '
        "checkpoint, decision_thresholds.json); default: the whole top-k",
    )
    predict_parser.add_argument("--format", choices=("table", "json"), default="table")
    predict_parser.set_defaults(func=predict)
