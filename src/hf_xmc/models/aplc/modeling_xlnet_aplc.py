"""APLC-XLNet (Ye et al., ICML 2020): XLNet -> last-token summary -> hidden layer d_h -> APLC output layer.

Imports only torch, transformers and siblings, so `save_pretrained` copies it next to the weights and
`AutoModel.from_pretrained(path, trust_remote_code=True)` works without hf-xmc installed.
"""

from __future__ import annotations

import torch
from transformers import XLNetModel
from transformers.models.xlnet.modeling_xlnet import XLNetPreTrainedModel

from .aplc import AdaptiveProbabilisticLabelClusters
from .configuration_xlnet_aplc import XLNetAPLCConfig
from .heads import APLCHiddenLayer, XMCClassifierOutput, aplc_head_outputs, init_aplc_modules, pool_hidden_states

AUTO_MAP = {
    "AutoConfig": "configuration_xlnet_aplc.XLNetAPLCConfig",
    "AutoModel": "modeling_xlnet_aplc.XLNetWithAPLC",
    "AutoModelForSequenceClassification": "modeling_xlnet_aplc.XLNetWithAPLC",
}


class XLNetWithAPLC(XLNetPreTrainedModel):
    """XLNet with the APLC output layer for extreme multi-label classification.

    The text representation is the hidden state of the last real token (XLNet's `<cls>`, at the end with the
    tokenizer's left padding), followed by the hidden layer `Linear(d_model, d_h) -> tanh -> dropout` and APLC.
    Label ids must be ordered by decreasing training frequency (`hf_xmc.LabelVocabulary` does this).
    """

    config_class = XLNetAPLCConfig
    # The loss is already a batch mean: Trainer must not rescale it for gradient accumulation / DDP.
    accepts_loss_kwargs = False

    def __init__(self, config: XLNetAPLCConfig):
        super().__init__(config)
        hidden_size = config.aplc_hidden_size or config.d_model
        self.transformer = XLNetModel(config)
        self.hidden_layer = APLCHiddenLayer(config.d_model, hidden_size, config.summary_last_dropout)
        self.aplc = AdaptiveProbabilisticLabelClusters(
            hidden_size, config.cluster_sizes, config.dim_decay_factor, config.tail_projection
        )
        # `register_for_auto_class` records one Auto class; write them all so remote-code users get each one.
        config.auto_map = dict(AUTO_MAP)
        self.post_init()

    def _init_weights(self, module):
        if not init_aplc_modules(module, self.config.initializer_range):
            super()._init_weights(module)

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
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`): left-padded XLNet token ids.
            attention_mask (`torch.Tensor` of shape `(batch_size, seq_len)`, *optional*): 1 for real tokens.
            token_type_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*)
            labels (`torch.Tensor`, *optional*): label ids `(batch_size, max_labels)` padded with negative values,
                or multi-hot `(batch_size, num_labels)`; gives the APLC loss.
            top_k (`int`, *optional*): also return the `top_k` best labels (pruned search); default
                `config.output_top_k`.
            return_logits (`bool`, *optional*): return dense logits; default `config.output_logits`.
        """
        outputs = self.transformer(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            inputs_embeds=inputs_embeds,
            use_mems=False,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        pooled = pool_hidden_states(outputs.last_hidden_state, attention_mask, self.config.summary_type)
        features = self.hidden_layer(pooled)
        head = aplc_head_outputs(self.config, self.aplc, features, labels, top_k, return_logits)
        return XMCClassifierOutput(**head, hidden_states=outputs.hidden_states, attentions=outputs.attentions)


__all__ = ["XLNetWithAPLC"]
