"""XLGen (Jung et al., EACL 2023): T5 that generates label strings, optionally guided by label clusters.

One class, three variants (`config.variant`): `base`, `bcl` (a multi-cluster prediction layer as an auxiliary BCE task,
eq. 1) and `mcg` (cluster-sequence generation and cluster-conditioned label generation in one model; `generate`
runs both stages). Imports only torch, transformers and its configuration, so `save_pretrained` copies it next to the
weights and `AutoModelForSeq2SeqLM.from_pretrained(path, trust_remote_code=True)` works without hf-xmc.

What differs from the reference code on purpose: target pads are -100 (not trained), the cluster layer pools with a
masked mean, and the two-stage MCG inference keeps every predicted cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, LogitsProcessor, LogitsProcessorList, T5ForConditionalGeneration
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

from .configuration_cg_t5 import ClusterGuidedT5Config

# AutoModel too: hf-xmc's checkpoint loader (`load_xmc_model`) loads every method with AutoModel
AUTO_MAP = {
    "AutoConfig": "configuration_cg_t5.ClusterGuidedT5Config",
    "AutoModel": "modeling_cg_t5.T5ForClusterGuidedLabelGeneration",
    "AutoModelForSeq2SeqLM": "modeling_cg_t5.T5ForClusterGuidedLabelGeneration",
}
LABEL_TASK = 0
CLUSTER_TASK = 1


@dataclass
class ClusterGuidedSeq2SeqLMOutput(Seq2SeqLMOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        `generation_loss + cluster_loss_weight * cluster_loss` (eq. 1 of the paper; either term may be absent).
    generation_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Token cross-entropy of the label sequences (the `<MultiLabel>` examples).
    cluster_loss (`torch.FloatTensor` of shape `()`, *optional*):
        `bcl`: BCE of the multi-cluster layer; `mcg`: token cross-entropy of the cluster sequences (the
        `<MultiCluster>` examples).
    cluster_logits (`torch.FloatTensor` of shape `(batch_size, num_clusters)`, *optional*):
        `bcl`: the multi-cluster layer's logits.
    """

    generation_loss: torch.FloatTensor | None = None
    cluster_loss: torch.FloatTensor | None = None
    cluster_logits: torch.FloatTensor | None = None


class ClusterPredictionHead(nn.Module):
    """XLGen-BCL's multi-cluster prediction layer: masked mean of the encoder states -> `Linear(d_model, K)`."""

    def __init__(self, d_model: int, num_clusters: int):
        super().__init__()
        self.proj = nn.Linear(d_model, num_clusters, bias=False)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, seq, d_model), (batch, seq) -> (batch, num_clusters) logits."""
        mask = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
        pooled = (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.proj(pooled)


class ClusterSequenceLogitsProcessor(LogitsProcessor):
    """MCG stage 1: only cluster tokens (each at most once, at least one) or EOS may be generated."""

    def __init__(self, cluster_token_ids: list[int], eos_token_id: int):
        self.cluster_token_ids = torch.tensor(cluster_token_ids, dtype=torch.long)
        self.allowed = torch.tensor([*cluster_token_ids, eos_token_id], dtype=torch.long)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        mask = torch.full_like(scores, float("-inf"))
        mask[:, self.allowed.to(scores.device)] = 0
        generated = input_ids[:, 1:]  # without the decoder start token
        repeated = torch.isin(generated, self.cluster_token_ids.to(generated.device))
        rows = torch.arange(generated.shape[0], device=generated.device).unsqueeze(1).expand_as(generated)
        mask[rows[repeated], generated[repeated]] = float("-inf")
        # at least one cluster (as BCL keeps its most probable one): no EOS before the first cluster token
        mask[~repeated.any(dim=1), self.allowed[-1]] = float("-inf")
        return scores + mask


class T5ForClusterGuidedLabelGeneration(T5ForConditionalGeneration):
    """T5 that generates label sequences (XLGen), with the `bcl` / `mcg` cluster guidance as `config.variant` says.

    Start from a T5 checkpoint with `T5ForClusterGuidedLabelGeneration.from_t5_pretrained(path, variant="bcl",
    num_clusters=30)`; reload a trained one with `AutoModelForSeq2SeqLM.from_pretrained(checkpoint)`. Inputs start with
    the `<MultiLabel>` task token (`hf_xmc.generation.XLGenTokens` builds them).
    """

    config_class = ClusterGuidedT5Config
    # Every loss is already a mean: Trainer must not rescale it for gradient accumulation / DDP.
    accepts_loss_kwargs = False

    def __init__(self, config: ClusterGuidedT5Config):
        super().__init__(config)
        self.cluster_head = (
            ClusterPredictionHead(config.d_model, config.num_clusters) if config.variant == "bcl" else None
        )
        # λ of eq. 1; a training callback may anneal it (the paper: 1/epoch) without touching the saved config.
        self.cluster_loss_weight = float(config.cluster_loss_weight)
        config.auto_map = dict(AUTO_MAP)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, ClusterPredictionHead):
            init.normal_(module.proj.weight, mean=0.0, std=self.config.initializer_factor * self.config.d_model**-0.5)
            return
        super()._init_weights(module)

    @classmethod
    def from_t5_pretrained(
        cls, t5_name_or_path: str | os.PathLike, **config_kwargs
    ) -> T5ForClusterGuidedLabelGeneration:
        """A new XLGen model on top of a T5 checkpoint (a local folder, or e.g. `t5-base` when it can be fetched).

        Args:
            t5_name_or_path (`str` or `os.PathLike`): a `T5ForConditionalGeneration` checkpoint.
            config_kwargs: `ClusterGuidedT5Config` fields (`variant`, `num_clusters`, `cluster_loss_weight`, ...).
        """
        t5_config = AutoConfig.from_pretrained(t5_name_or_path).to_dict()
        for key in ("model_type", "architectures", "auto_map", "transformers_version"):
            t5_config.pop(key, None)
        config = ClusterGuidedT5Config(**{**t5_config, **config_kwargs})
        return cls.from_pretrained(t5_name_or_path, config=config)

    # ----------------------------------------------------------------------------------------------------- training
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.BoolTensor | None = None,
        encoder_outputs: tuple | BaseModelOutput | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        cluster_targets: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        task_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> ClusterGuidedSeq2SeqLMOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): `<MultiLabel> text [clusters] </s>`
                (or `<MultiCluster> text </s>` for `mcg`'s cluster examples), right-padded.
            attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`): 1 for real tokens.
            labels (`torch.LongTensor` of shape `(batch_size, target_len)`, *optional*): target token ids (one EOS),
                padded with -100.
            cluster_targets (`torch.FloatTensor` of shape `(batch_size, num_clusters)`, *optional*): `bcl`: multi-hot
                clusters of each document's labels; gives the BCE cluster loss.
            text_attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*): `bcl` with cluster
                conditioning: 0 on the appended gold clusters. The cluster layer then reads a second encoder pass
                over the input without them, so it cannot see the answer.
            task_ids (`torch.LongTensor` of shape `(batch_size,)`, *optional*): `mcg`: 0 for `<MultiLabel>`
                examples, 1 for `<MultiCluster>` ones (their cross-entropy is the cluster loss). Default: all 0.
        """
        fresh_encoding = encoder_outputs is None
        if fresh_encoding:
            encoder_outputs = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(last_hidden_state=encoder_outputs[0])

        cluster_logits = None
        if self.cluster_head is not None and (fresh_encoding or cluster_targets is not None):
            cluster_logits = self._cluster_logits(input_ids, attention_mask, text_attention_mask, encoder_outputs)

        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(labels)
        outputs = super().forward(
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            cache=cache,
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )

        generation_loss = cluster_loss = None
        if labels is not None:
            generation_loss, sequence_cluster_loss = self._sequence_losses(outputs.logits, labels, task_ids)
            cluster_loss = sequence_cluster_loss
        if cluster_targets is not None:
            if cluster_logits is None:
                raise ValueError(
                    f"cluster_targets were given but variant={self.config.variant!r} has no cluster layer"
                )
            cluster_loss = nn.functional.binary_cross_entropy_with_logits(
                cluster_logits.float(), cluster_targets.to(cluster_logits.device, torch.float32)
            )
        loss = None
        if generation_loss is not None or cluster_loss is not None:
            loss = generation_loss if generation_loss is not None else 0.0
            if cluster_loss is not None:
                loss = loss + self.cluster_loss_weight * cluster_loss
        return ClusterGuidedSeq2SeqLMOutput(
            loss=loss,
            logits=outputs.logits,
            cache=outputs.cache,
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=getattr(encoder_outputs, "hidden_states", None),
            encoder_attentions=getattr(encoder_outputs, "attentions", None),
            generation_loss=generation_loss,
            cluster_loss=cluster_loss,
            cluster_logits=cluster_logits,
        )

    def _cluster_logits(self, input_ids, attention_mask, text_attention_mask, encoder_outputs) -> torch.Tensor:
        hidden_states = encoder_outputs.last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(hidden_states.shape[:2], dtype=torch.long, device=hidden_states.device)
        pool_mask = attention_mask
        if text_attention_mask is not None and not torch.equal(text_attention_mask.bool(), attention_mask.bool()):
            # The main pass saw the appended gold clusters: the cluster layer reads a second pass over the text alone,
            # the cluster tokens removed (not just masked, so relative positions are those of inference's input).
            keep = text_attention_mask.bool()
            lengths = keep.sum(dim=1, keepdim=True)
            order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)  # kept positions first, in order
            width = int(lengths.max())
            pool_mask = (torch.arange(width, device=keep.device).unsqueeze(0) < lengths).long()
            text_ids = input_ids.gather(1, order)[:, :width].masked_fill(pool_mask == 0, self.config.pad_token_id)
            hidden_states = self.encoder(input_ids=text_ids, attention_mask=pool_mask).last_hidden_state
        return self.cluster_head(hidden_states, pool_mask)

    @staticmethod
    def _sequence_losses(logits: torch.Tensor, labels: torch.Tensor, task_ids: torch.Tensor | None):
        """Token-mean cross-entropy of the label examples and of the cluster examples (`None` where there are none)."""
        labels = labels.to(logits.device)
        token_losses = nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="none"
        ).view(labels.shape)
        counted = labels != -100
        if task_ids is None:
            task_ids = torch.zeros(labels.shape[0], dtype=torch.long, device=labels.device)
        task_ids = task_ids.to(labels.device)
        losses = []
        for task in (LABEL_TASK, CLUSTER_TASK):
            rows = counted & (task_ids == task).unsqueeze(1)
            losses.append(token_losses[rows].mean() if rows.any() else None)
        return losses[0], losses[1]

    # --------------------------------------------------------------------------------------------------- inference
    def _check_inputs(self, input_ids: torch.Tensor) -> None:
        task_token = self.config.label_task_token_id
        if task_token is not None and not bool((input_ids[:, 0] == task_token).all()):
            raise ValueError(
                f"every input must start with the <MultiLabel> task token (id {task_token}), as in training; build "
                "inputs with hf_xmc.generation.XLGenTokens.encode_texts"
            )
        if self.config.condition_on_clusters and self.config.cluster_token_ids is None:
            raise ValueError(
                "this model appends cluster tokens but config.cluster_token_ids is not set: add the cluster tokens "
                "with hf_xmc.generation.XLGenTokens.add_to(tokenizer, model)"
            )

    @torch.no_grad()
    def predict_clusters(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
    ) -> list[list[int]]:
        """The clusters of each document, most likely first.

        `bcl`: the clusters whose probability exceeds `config.cluster_threshold` (at least the best one). `mcg`:
        stage 1, greedy generation of the cluster sequence from `<MultiCluster> text`.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): `<MultiLabel> text </s>`, right-padded.
            attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*)

        Returns:
            `list[list[int]]`: cluster indices (`0 .. num_clusters-1`) per document.
        """
        if not self.config.uses_clusters:
            raise ValueError("variant='base' predicts no clusters; use a 'bcl' or 'mcg' checkpoint")
        self._check_inputs(input_ids)
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        if self.config.variant == "bcl":
            encoded = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
            probabilities = torch.sigmoid(self.cluster_head(encoded.last_hidden_state, attention_mask).float())
            clusters = []
            for row in probabilities:
                order = torch.argsort(row, descending=True)
                keep = order[row[order] > self.config.cluster_threshold]
                clusters.append((keep if len(keep) else order[:1]).tolist())
            return clusters
        if self.config.cluster_task_token_id is None or self.config.cluster_token_ids is None:
            raise ValueError(
                "an mcg model needs config.cluster_task_token_id and config.cluster_token_ids: add the tokens with "
                "hf_xmc.generation.XLGenTokens.add_to(tokenizer, model)"
            )
        cluster_inputs = input_ids.clone()
        cluster_inputs[:, 0] = self.config.cluster_task_token_id
        eos = self.config.eos_token_id
        sequences = super().generate(
            input_ids=cluster_inputs,
            attention_mask=attention_mask,
            do_sample=False,
            num_beams=1,
            max_new_tokens=self.config.num_clusters + 1,
            logits_processor=LogitsProcessorList([ClusterSequenceLogitsProcessor(self.config.cluster_token_ids, eos)]),
        )
        index_of = {token: index for index, token in enumerate(self.config.cluster_token_ids)}
        return [[index_of[t] for t in row.tolist() if t in index_of] for row in sequences]

    def append_clusters(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None, cluster_ids: list[list[int]]
    ) -> tuple[torch.LongTensor, torch.Tensor]:
        """`<MultiLabel> text </s>` -> `<MultiLabel> text <cA> <cB> ... </s>` (right-padded), as in training."""
        if len(cluster_ids) != input_ids.shape[0]:
            raise ValueError(f"cluster_ids has {len(cluster_ids)} rows for {input_ids.shape[0]} inputs")
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        eos, pad = self.config.eos_token_id, self.config.pad_token_id
        tokens = self.config.cluster_token_ids
        rows = []
        for row, mask, clusters in zip(input_ids, attention_mask, cluster_ids):
            ids = row[mask.bool()].tolist()
            if ids and ids[-1] == eos:
                ids = ids[:-1]
            bad = [c for c in clusters if not 0 <= c < len(tokens)]
            if bad:
                raise ValueError(f"cluster ids {bad} are outside 0..{len(tokens) - 1}")
            rows.append(ids + [tokens[c] for c in clusters] + [eos])
        width = max(len(row) for row in rows)
        new_ids = torch.full((len(rows), width), pad, dtype=torch.long, device=input_ids.device)
        new_mask = torch.zeros((len(rows), width), dtype=torch.long, device=input_ids.device)
        for index, row in enumerate(rows):
            new_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
            new_mask[index, : len(row)] = 1
        return new_ids, new_mask

    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cluster_ids: list[list[int]] | None = None,
        **kwargs,
    ):
        r"""Generates label sequences; for cluster-conditioned models, predicts and appends the clusters first.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): `<MultiLabel> text </s>`, right-padded.
            attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*)
            cluster_ids (`list[list[int]]`, *optional*): clusters to append instead of the predicted ones (e.g. the
                gold ones: the paper's "oracle"); only for models with `condition_on_clusters`.
            kwargs: passed to `GenerationMixin.generate` (`num_beams`, `do_sample`, `logits_processor`, ...).
        """
        if input_ids is None:
            return super().generate(attention_mask=attention_mask, **kwargs)
        self._check_inputs(input_ids)
        if self.config.condition_on_clusters:
            if cluster_ids is None:
                cluster_ids = self.predict_clusters(input_ids, attention_mask)
            elif self.config.variant == "mcg" and not all(len(row) for row in cluster_ids):
                raise ValueError(
                    "an MCG model always reads at least one cluster (it was never trained without): base inference "
                    "is not available; leave cluster_ids=None to use the predicted clusters"
                )
            input_ids, attention_mask = self.append_clusters(input_ids, attention_mask, cluster_ids)
        elif cluster_ids is not None:
            raise ValueError(
                f"cluster_ids given, but this {self.config.variant!r} model does not read clusters in its input"
            )
        return super().generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


__all__ = [
    "ClusterGuidedSeq2SeqLMOutput",
    "ClusterPredictionHead",
    "ClusterSequenceLogitsProcessor",
    "T5ForClusterGuidedLabelGeneration",
]
