"""`hf-xmc pretrain-t5 [flags]`: a tokenizer and a small T5 pre-trained on a data set (for XLGen and XDA).

The flags are the fields of `hf_xmc.t5_pretraining.T5PretrainingArguments`; torch loads only when the command runs.
"""

from __future__ import annotations

import argparse
import dataclasses

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _field_type(annotation: str):
    """`int | None` -> int (annotations are strings under `from __future__ import annotations`)."""
    names = [part.strip() for part in str(annotation).split("|") if part.strip() != "None"]
    return _TYPES[names[0]]


def _run(args: argparse.Namespace) -> int:
    from ..t5_pretraining.arguments import T5PretrainingArguments
    from ..t5_pretraining.pretrain import pretrain_t5

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(T5PretrainingArguments)}
    pretrain_t5(T5PretrainingArguments(**values))
    return 0


def register(subparsers) -> None:
    """Adds `pretrain-t5` to the `hf-xmc` parser."""
    from ..t5_pretraining.arguments import T5PretrainingArguments

    description = (
        "Train a T5 Unigram tokenizer on a data set's texts and label strings (labels kept whole where possible), "
        "then pre-train a small T5 with span corruption within --minutes; saves an ordinary T5 folder that "
        "`hf-xmc train xlgen --model_name_or_path` starts from."
    )
    parser = subparsers.add_parser(
        "pretrain-t5",
        help="Pre-train a small T5 (tokenizer + span corruption) on a data set.",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for spec in dataclasses.fields(T5PretrainingArguments):
        default = spec.default if spec.default is not dataclasses.MISSING else None
        parser.add_argument(
            f"--{spec.name}", type=_field_type(spec.type), default=default, help=spec.metadata.get("help", "")
        )
    parser.set_defaults(func=_run)
