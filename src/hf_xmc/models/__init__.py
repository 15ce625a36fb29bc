"""hf-xmc models: one self-contained folder per method (relative imports only, so the Hub copy works)."""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

from .aplc import EncoderAPLCConfig, EncoderWithAPLC, XLNetAPLCConfig, XLNetWithAPLC
from .bert_guide import BertGuideConfig, BertGuideNetwork
from .cg_t5 import ClusterGuidedT5Config, T5ForClusterGuidedLabelGeneration
from .shortlist_ranker import ShortlistRanker, ShortlistRankerConfig

_MODELS = (
    (XLNetAPLCConfig, XLNetWithAPLC),
    (EncoderAPLCConfig, EncoderWithAPLC),
    (BertGuideConfig, BertGuideNetwork),
    (ShortlistRankerConfig, ShortlistRanker),
)


def register_auto_classes() -> None:
    """Registers every hf-xmc model with `AutoConfig`, `AutoModel` and `AutoModelForSequenceClassification`.

    Called on `import hf_xmc`; safe to call again. `register_for_auto_class` makes `save_pretrained` copy the model's
    code next to the weights; the models write a complete `auto_map` into their config themselves.
    """
    for config_class, model_class in _MODELS:
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
        AutoModelForSequenceClassification.register(config_class, model_class, exist_ok=True)
        config_class.register_for_auto_class()
        model_class.register_for_auto_class("AutoModel")
    # XLGen is a seq2seq model: AutoModelForSeq2SeqLM, and AutoModel for `load_xmc_model` (its config writes the
    # matching auto_map itself)
    AutoConfig.register(ClusterGuidedT5Config.model_type, ClusterGuidedT5Config, exist_ok=True)
    AutoModel.register(ClusterGuidedT5Config, T5ForClusterGuidedLabelGeneration, exist_ok=True)
    AutoModelForSeq2SeqLM.register(ClusterGuidedT5Config, T5ForClusterGuidedLabelGeneration, exist_ok=True)
    ClusterGuidedT5Config.register_for_auto_class()
    T5ForClusterGuidedLabelGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")


# Importing the models loads torch and transformers anyway: register now, so a model built from these classes saves
# its code with it (`register_for_auto_class`) even before an Auto class is used. A bare `import hf_xmc` registers
# lazily instead (`hf_xmc.registration`).
register_auto_classes()

__all__ = [
    "BertGuideConfig",
    "BertGuideNetwork",
    "ClusterGuidedT5Config",
    "EncoderAPLCConfig",
    "EncoderWithAPLC",
    "ShortlistRanker",
    "ShortlistRankerConfig",
    "T5ForClusterGuidedLabelGeneration",
    "XLNetAPLCConfig",
    "XLNetWithAPLC",
    "register_auto_classes",
]
