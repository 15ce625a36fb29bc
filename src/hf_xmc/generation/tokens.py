"""XLGen's special tokens and encoder inputs: `<MultiLabel>` / `<MultiCluster>` task tokens and cluster tokens `<cK>`.

The task tokens are added special tokens (as in the reference code), so a text can never produce them; every input is
`<MultiLabel> text </s>` (the paper's "MultiLabel: text"), and cluster-conditioned inputs are `<MultiLabel> text <cA>
<cB> ... </s>`. `XLGenTokens.add_to(tokenizer, model)` adds the tokens, resizes the embeddings and writes their ids
into the model's config, which is where `generate` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.errors import XMCInputError

LABEL_TASK_TOKEN = "<MultiLabel>"
CLUSTER_TASK_TOKEN = "<MultiCluster>"


def cluster_token(index: int) -> str:
    """The token of cluster `index` (`<c0>`, `<c1>`, ...)."""
    return f"<c{index}>"


@dataclass
class XLGenTokens:
    """The ids of XLGen's special tokens in one tokenizer.

    Args:
        label_task_token_id (`int`): `<MultiLabel>`.
        cluster_task_token_id (`int`): `<MultiCluster>`.
        cluster_token_ids (`list[int]`): `<c0>`, `<c1>`, ... (empty for `base`).
        eos_token_id (`int`), pad_token_id (`int`): the tokenizer's.
    """

    label_task_token_id: int
    cluster_task_token_id: int
    cluster_token_ids: list[int]
    eos_token_id: int
    pad_token_id: int

    @classmethod
    def add_to(cls, tokenizer, model=None, num_clusters: int = 0) -> XLGenTokens:
        """Add the task tokens and `num_clusters` cluster tokens to `tokenizer` (those it lacks).

        With `model` (a `T5ForClusterGuidedLabelGeneration`), also grow its embeddings to the tokenizer and write the
        token ids into `model.config`.
        """
        tokens = [LABEL_TASK_TOKEN, CLUSTER_TASK_TOKEN] + [cluster_token(i) for i in range(num_clusters)]
        vocabulary = tokenizer.get_vocab()
        missing = [token for token in tokens if token not in vocabulary]
        if missing:
            tokenizer.add_special_tokens({"extra_special_tokens": missing}, replace_extra_special_tokens=False)
        ids = cls.from_tokenizer(tokenizer, num_clusters)
        if model is not None:
            if len(tokenizer) > model.get_input_embeddings().num_embeddings:
                model.resize_token_embeddings(len(tokenizer))
            model.config.label_task_token_id = ids.label_task_token_id
            model.config.cluster_task_token_id = ids.cluster_task_token_id
            model.config.cluster_token_ids = list(ids.cluster_token_ids) if num_clusters else None
            model.config.pad_token_id = ids.pad_token_id
            model.config.eos_token_id = ids.eos_token_id
            model.config.decoder_start_token_id = ids.pad_token_id
            model.generation_config.decoder_start_token_id = ids.pad_token_id
            model.generation_config.pad_token_id = ids.pad_token_id
            model.generation_config.eos_token_id = ids.eos_token_id
        return ids

    @classmethod
    def from_tokenizer(cls, tokenizer, num_clusters: int = 0) -> XLGenTokens:
        """The ids of the tokens in `tokenizer`; `XMCInputError` naming the missing ones."""
        vocabulary = tokenizer.get_vocab()
        wanted = [LABEL_TASK_TOKEN, CLUSTER_TASK_TOKEN] + [cluster_token(i) for i in range(num_clusters)]
        missing = [token for token in wanted if token not in vocabulary]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise XMCInputError(
                f"the tokenizer lacks XLGen's special tokens {shown}: add them with XLGenTokens.add_to(tokenizer, "
                "model, num_clusters) (and save that tokenizer with the model)"
            )
        if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
            raise XMCInputError("the tokenizer needs an EOS and a pad token (T5's '</s>' and '<pad>')")
        return cls(
            label_task_token_id=vocabulary[LABEL_TASK_TOKEN],
            cluster_task_token_id=vocabulary[CLUSTER_TASK_TOKEN],
            cluster_token_ids=[vocabulary[cluster_token(i)] for i in range(num_clusters)],
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )

    @classmethod
    def for_model(cls, tokenizer, config) -> XLGenTokens:
        """The tokens of a trained model, checked against its tokenizer: a mismatch is an `XMCInputError`."""
        num_clusters = config.num_clusters if config.cluster_token_ids is not None else 0
        ids = cls.from_tokenizer(tokenizer, num_clusters)
        stored = {
            "label_task_token_id": config.label_task_token_id,
            "cluster_task_token_id": config.cluster_task_token_id,
            "cluster_token_ids": config.cluster_token_ids if num_clusters else [],
        }
        found = {key: getattr(ids, key) for key in stored}
        if stored != found:
            raise XMCInputError(
                "the tokenizer's XLGen token ids differ from the model config's (a tokenizer of another checkpoint?): "
                f"config {stored}, tokenizer {found}"
            )
        return ids

    def encode_texts(self, tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
        """`<MultiLabel> text </s>` token ids, the text cut so that the whole input has at most `max_length` tokens."""
        if max_length < 3:
            raise ValueError(f"max_length must be at least 3 (task token, one text token, EOS), got {max_length}")
        encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length - 2)
        return [[self.label_task_token_id, *ids, self.eos_token_id] for ids in encoded["input_ids"]]

    def with_clusters(self, input_ids: list[int], clusters: list[int]) -> list[int]:
        """`<MultiLabel> text </s>` -> `<MultiLabel> text <cA> <cB> ... </s>` (what the model sees in training)."""
        return [*input_ids[:-1], *(self.cluster_token_ids[c] for c in clusters), self.eos_token_id]

    def cluster_task(self, input_ids: list[int]) -> list[int]:
        """`<MultiLabel> text </s>` -> `<MultiCluster> text </s>` (MCG's cluster task)."""
        return [self.cluster_task_token_id, *input_ids[1:]]

    def cluster_target(self, clusters: list[int]) -> list[int]:
        """MCG's cluster-sequence target: `<cA> <cB> ... </s>`."""
        return [*(self.cluster_token_ids[c] for c in clusters), self.eos_token_id]


__all__ = ["CLUSTER_TASK_TOKEN", "LABEL_TASK_TOKEN", "XLGenTokens", "cluster_token"]
