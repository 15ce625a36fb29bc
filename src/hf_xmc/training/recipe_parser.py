"""The command line of a recipe: an `HfArgumentParser` whose `--help` is short and whose errors are one line.

`--help` lists the method's own flags (its data and model dataclasses, and the fields its training dataclass adds to
`TrainingArguments`) plus the common training flags in `COMMON_TRAINING_FLAGS`; `--help-all` lists every flag,
`TrainingArguments` included (~600 lines). A bad flag or value prints one error line and the hint, not the usage of
200 flags.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys

from transformers import HfArgumentParser, TrainingArguments

COMMON_TRAINING_FLAGS = (
    "output_dir", "num_train_epochs", "max_steps", "per_device_train_batch_size", "per_device_eval_batch_size",
    "learning_rate", "warmup_steps", "seed", "logging_steps", "save_strategy", "resume_from_checkpoint", "use_cpu",
    "push_to_hub", "hub_model_id", "disable_tqdm", "report_to",
)  # fmt: skip


class _HelpAllAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help(show_all=True)
        parser.exit()


class MethodArgumentParser(HfArgumentParser):
    """`HfArgumentParser` over a recipe's dataclasses with a short `--help`, `--help-all` and one-line errors."""

    def __init__(self, dataclass_types, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(dataclass_types, **kwargs)
        self.add_argument("--help-all", action=_HelpAllAction, help="Show every flag, all of TrainingArguments too.")
        self._short_flags = self._method_flags()

    def _method_flags(self) -> set[str]:
        base_fields = {f.name for f in dataclasses.fields(TrainingArguments)}
        shown = set(COMMON_TRAINING_FLAGS) | {"help", "help_all"}
        for dtype in self.dataclass_types:
            shown |= {f.name for f in dataclasses.fields(dtype) if f.init and f.name not in base_fields}
        return shown

    def _shown(self, action: argparse.Action) -> bool:
        if action.dest not in self._short_flags:
            return False
        # HfArgumentParser adds `--no_<flag>` complements of boolean flags: the flag itself is enough here
        return not all(option.startswith(("--no_", "--no-")) for option in action.option_strings)

    def format_help(self, show_all: bool = False) -> str:
        if show_all:
            return super().format_help()
        formatter = argparse.ArgumentDefaultsHelpFormatter(self.prog, max_help_position=36, width=119)
        formatter.add_usage(f"{self.prog} [flags]", None, [])
        formatter.add_text(self.description)
        shown = []
        for action in self._actions:
            if self._shown(action):
                action = copy.copy(action)  # only the underscore spelling; `--max-length` works too
                action.option_strings = action.option_strings[:1]
                shown.append(action)
        formatter.start_section("flags (the method's own and the common training ones)")
        formatter.add_arguments(shown)
        formatter.end_section()
        hidden = len([action for action in self._actions if not self._shown(action)])
        formatter.add_text(f"{hidden} more flags (all of transformers' TrainingArguments): {self.prog} --help-all")
        return formatter.format_help()

    def print_help(self, file=None, show_all: bool = False) -> None:
        (file or sys.stdout).write(self.format_help(show_all=show_all))

    def format_usage(self) -> str:
        return f"usage: {self.prog} [flags]   (`{self.prog} --help` lists them)\n"

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n{self.prog} --help lists the flags.\n")
