"""`hf-xmc augment prompt-tune|generate|filter|train|run [flags]`: the XDA data-augmentation pipeline.

Each stage saves its output under `--output_dir` and the next stage reads it; `run` runs all four and resumes from
the last finished stage. The flags are the fields of `hf_xmc.xda.arguments`; torch loads only when a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses

STAGE_HELP = {
    "prompt-tune": "Stage 1: train a PEFT prefix (soft prompt) on a frozen T5 to fill masked spans of "
    "label-conditioned documents (labels + text in one input, --noise_density of the words masked); saves the "
    "adapter in OUTPUT_DIR/prompt/ (a normal PEFT adapter: PeftModel.from_pretrained).",
    "generate": "Stage 2: N_a (--num_augmentations) augmented documents per training document, each with its own "
    "mask, filled by the prefix-tuned T5 (or the plain T5 with --no_prompt) round by round (--spans_per_round "
    "spans re-masked at a time); saves a `datasets` data set with provenance in OUTPUT_DIR/generated/.",
    "filter": "Stage 3: score each generated document with a classifier trained on the original data "
    "(--scorer_name_or_path, any hf-xmc classifier on the same label space): diversity (eq. 2, KL or the "
    "reference's BCE sum) + consistency (eq. 3, top-k overlap with its own source, k = #gold labels), min-max "
    "normalised and summed; keeps the top --keep_fraction; saves OUTPUT_DIR/filtered/.",
    "train": "Stage 4: continue the classifier with its encoder frozen on BCE over the original data plus the "
    "augmentation loss on the kept documents (eq. 4: head-label positives masked, tail = fewer than "
    "--head_tail_threshold documents; or reweighted / plain), optionally with SWA; evaluates P@k/PSP@k on the test "
    "split and saves an hf-xmc checkpoint in OUTPUT_DIR/classifier/.",
}
STAGE_SHORT = {
    "prompt-tune": "Stage 1: train the PEFT prefix of a frozen T5 to fill label-conditioned masked spans.",
    "generate": "Stage 2: N_a augmented documents per training document (the iterative masked fill).",
    "filter": "Stage 3: diversity + consistency from a classifier; keep the top share.",
    "train": "Stage 4: the classifier's head on original data + the masked augmentation loss; evaluate, save.",
}
_TYPES = {"str": str, "int": int, "float": float}


def _add_fields(parser: argparse.ArgumentParser, dataclass_type) -> None:
    group = parser.add_argument_group(dataclass_type.__name__, (dataclass_type.__doc__ or "").strip())
    for spec in dataclasses.fields(dataclass_type):
        default = spec.default if spec.default is not dataclasses.MISSING else None
        help_text = spec.metadata.get("help", "").replace("%", "%%")
        names = [part.strip() for part in str(spec.type).split("|") if part.strip() != "None"]
        if names[0] == "bool":  # off by default: --flag; on by default: --flag / --no-flag
            action = argparse.BooleanOptionalAction if default else "store_true"
            group.add_argument(f"--{spec.name}", action=action, default=default, help=help_text)
        else:
            group.add_argument(f"--{spec.name}", type=_TYPES[names[0]], default=default, help=help_text)


def _values(args: argparse.Namespace, dataclass_type):
    return dataclass_type(**{spec.name: getattr(args, spec.name) for spec in dataclasses.fields(dataclass_type)})


def _run(args: argparse.Namespace) -> int:
    from ..xda import arguments as xda_args
    from ..xda import pipeline

    common = _values(args, xda_args.XDACommonArguments)
    if args.stage == "run":
        pipeline.run_pipeline(common, *(_values(args, cls) for cls in xda_args.STAGE_ARGUMENTS.values()))
        return 0
    stage_args = _values(args, xda_args.STAGE_ARGUMENTS[args.stage])
    if args.stage == "prompt-tune":
        pipeline.run_prompt_tuning(common, stage_args)
    elif args.stage == "generate":
        pipeline.run_generation(common, stage_args)
    elif args.stage == "filter":
        pipeline.run_filter(common, stage_args)
    else:
        pipeline.run_training(common, stage_args)
    return 0


def register(subparsers) -> None:
    """Adds `augment` (with one sub-command per stage, and `run`) to the `hf-xmc` parser."""
    from ..xda.arguments import STAGE_ARGUMENTS, XDACommonArguments

    parser = subparsers.add_parser(
        "augment",
        help="XDA: label-conditional augmentation with a prefix-tuned T5, the filter, the masked augmentation loss.",
        description="XDA's four stages; each saves its output under --output_dir and the next reads it. Start from "
        "a T5 of `hf-xmc pretrain-t5` and a classifier of `hf-xmc train aplc` (or gudn) on the same data set.",
    )
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, dataclass_type in STAGE_ARGUMENTS.items():
        stage_parser = stages.add_parser(stage, help=STAGE_SHORT[stage],
                                         description=STAGE_HELP[stage],
                                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
        _add_fields(stage_parser, XDACommonArguments)
        _add_fields(stage_parser, dataclass_type)
        stage_parser.set_defaults(func=_run)
    run_parser = stages.add_parser(
        "run", help="All four stages in order, resuming from the last finished one.",
        description="Runs prompt-tune, generate, filter and train; a finished stage (its report file exists) is "
        "skipped unless --overwrite, and a re-run stage makes the later ones re-run. " + " ".join(STAGE_HELP.values()),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip
    _add_fields(run_parser, XDACommonArguments)
    for dataclass_type in STAGE_ARGUMENTS.values():
        _add_fields(run_parser, dataclass_type)
    run_parser.set_defaults(func=_run)
