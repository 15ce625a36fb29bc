"""Tiny, download-free checkpoints and data for the ecosystem tests (Hub, model cards, Space, accelerate).

Tokenizers are built from a fixed word list, models are random with d_model 32 and 2 layers, and the LF data set
is generated so that its labels are learnable from the words (a few Trainer steps move the metrics).
"""

from __future__ import annotations

TINY_WORDS = (
    "the a of and to in for on with is are this that text label tag package software debian library python web "
    "network graph data file system user interface game sound video image math science editor tool server"
).split()
TINY_MAX_LENGTH = 48


def tiny_bert_tokenizer():
    """A word-level BERT tokenizer over `TINY_WORDS` (no download), with a small `model_max_length`."""
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: index for index, token in enumerate(specials + list(TINY_WORDS))}
    return BertTokenizer(vocab=vocab, model_max_length=TINY_MAX_LENGTH)


def tiny_xlnet_tokenizer():
    """A unigram XLNet tokenizer over `TINY_WORDS` and single letters (left padding, `<cls>` last)."""
    from transformers import XLNetTokenizer

    specials = ["<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>"]
    pieces = [(token, 0.0) for token in specials] + [("▁" + word, -2.0) for word in TINY_WORDS]
    pieces += [("▁", -4.0)] + [(letter, -6.0) for letter in "abcdefghijklmnopqrstuvwxyz"]
    return XLNetTokenizer(vocab=pieces, model_max_length=TINY_MAX_LENGTH)


def tiny_vocabulary(num_labels: int = 12):
    from hf_xmc.data.vocabulary import LabelVocabulary

    labels = [f"tag::{i}" for i in range(num_labels)]
    label_lists = [labels[: 1 + (i % num_labels)] for i in range(2 * num_labels)]
    return LabelVocabulary.from_label_lists(
        label_lists, all_labels=labels, texts={lab: f"Label {lab}" for lab in labels}
    )


def tiny_aplc_model(variant: str, tokenizer, num_labels: int = 12, seed: int = 0):
    """A random APLC model (d_model 32, 2 layers): `variant` is `"xlnet"` or `"encoder"` (a tiny BERT encoder)."""
    import torch
    from transformers import BertConfig

    from hf_xmc.models.aplc import EncoderAPLCConfig, EncoderWithAPLC, XLNetAPLCConfig, XLNetWithAPLC

    torch.manual_seed(seed)
    if variant == "xlnet":
        config = XLNetAPLCConfig(
            vocab_size=len(tokenizer), d_model=32, n_layer=2, n_head=2, d_inner=37, num_labels=num_labels,
            label_cutoffs=[0.5, 0.25, 0.25], pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        return XLNetWithAPLC(config).eval()
    encoder = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    config = EncoderAPLCConfig(encoder=encoder.to_dict(), num_labels=num_labels, label_cutoffs=[0.5, 0.25, 0.25])
    return EncoderWithAPLC(config).eval()


def write_tiny_lf_dataset(folder, num_train: int = 48, num_test: int = 16, num_labels: int = 8, seed: int = 0):
    """A small LF-layout data set (`trn.json`, `tst.json`, `lbl.json`) whose labels are learnable from the words."""
    import json
    import random
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    topic_words = [TINY_WORDS[10 + 2 * i : 12 + 2 * i] for i in range(num_labels)]
    labels = [{"uid": f"L{i}", "title": " ".join(topic_words[i]), "content": ""} for i in range(num_labels)]

    def documents(count: int, prefix: str) -> list[dict]:
        rows = []
        for index in range(count):
            # Zipf-like: label 0 is frequent, the last ones rare (APLC's clusters follow the frequency order)
            targets = sorted({min(int(rng.paretovariate(1.2)) - 1, num_labels - 1) for _ in range(rng.randint(1, 3))})
            words = [w for t in targets for w in topic_words[t]] + rng.sample(TINY_WORDS[:10], 3)
            rng.shuffle(words)
            rows.append({"uid": f"{prefix}{index}", "title": words[0], "content": " ".join(words[1:]),
                         "target_ind": targets})  # fmt: skip
        return rows

    for name, rows in (("lbl", labels), ("trn", documents(num_train, "d")), ("tst", documents(num_test, "t"))):
        (folder / f"{name}.json").write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return folder


def save_tiny_bert(folder):
    """A random tiny BERT encoder + its tokenizer saved in `folder` (a `--model_name_or_path` for the APLC recipe)."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = tiny_bert_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
