"""Control for `tests/test_accelerate.py`: a stock `BertForSequenceClassification` (multi-label) trained with
`Trainer`, run in-process (1 process) or under `accelerate launch --multi_gpu --num_processes 2`.

The stock model's `forward(**kwargs)` makes Trainer treat its loss as already normalised by the global number of
items, so under DDP Trainer multiplies the (batch-mean) loss by the world size: the logged loss and the gradients
double. `--no_loss_kwargs` sets `model.accepts_loss_kwargs = False`, the fix every hf-xmc model carries.

    python tests/ddp_loss_trap.py DATA_DIR ENCODER_DIR OUTPUT_JSON --per_device_train_batch_size 8
    accelerate launch --multi_gpu --num_processes 2 tests/ddp_loss_trap.py DATA_DIR ENCODER_DIR OUT.json \
        --per_device_train_batch_size 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_lf_split(path: Path, num_labels: int) -> dict[str, list]:
    texts, targets = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts.append(f"{row['title']} {row['content']}")
        targets.append([1.0 if i in row["target_ind"] else 0.0 for i in range(num_labels)])
    return {"text": texts, "labels": targets}


def train(data_dir, encoder_dir, output_json, per_device_train_batch_size: int, no_loss_kwargs: bool = False,
          max_steps: int = 2, seed: int = 7) -> list[float]:  # fmt: skip
    """Train a few steps; returns (and on the main process writes to `output_json`) the logged training losses."""
    import datasets
    from transformers import (
        AutoTokenizer,
        BertForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(seed)
    data_dir, output_json = Path(data_dir), Path(output_json)
    num_labels = len((data_dir / "lbl.json").read_text(encoding="utf-8").splitlines())
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    train_set = datasets.Dataset.from_dict(read_lf_split(data_dir / "trn.json", num_labels)).map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=32), batched=True, remove_columns=["text"]
    )
    model = BertForSequenceClassification.from_pretrained(
        encoder_dir, num_labels=num_labels, problem_type="multi_label_classification"
    )
    if no_loss_kwargs:
        model.accepts_loss_kwargs = False
    args = TrainingArguments(
        output_dir=str(output_json.parent / f"{output_json.stem}_run"), max_steps=max_steps, logging_steps=1,
        per_device_train_batch_size=per_device_train_batch_size, learning_rate=1e-3, seed=seed, use_cpu=True,
        report_to=[], save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=args, train_dataset=train_set, data_collator=DataCollatorWithPadding(tokenizer)
    )
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    if trainer.is_world_process_zero():
        output_json.write_text(json.dumps({"losses": losses, "world_size": args.world_size}), encoding="utf-8")
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("encoder_dir")
    parser.add_argument("output_json")
    parser.add_argument("--per_device_train_batch_size", type=int, default=8)
    parser.add_argument("--no_loss_kwargs", action="store_true", help="Set model.accepts_loss_kwargs = False.")
    args = parser.parse_args()
    train(args.data_dir, args.encoder_dir, args.output_json, args.per_device_train_batch_size, args.no_loss_kwargs)


if __name__ == "__main__":
    main()
