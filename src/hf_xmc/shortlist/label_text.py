"""Label text as a classifier's starting point (the SiameseXML / NGAME idea): encode every label's text with the
model's own encoder and start each label's weights from it, so tail and unseen labels begin with meaning.

- `label_texts_with_fallback(vocabulary)`: the texts, a label without one falling back to its label string (counted).
- `embed_texts(encode, tokenizer, texts)`: pooled encoder embeddings, batched, with progress.
- `init_ranker_from_label_text(model, tokenizer, vocabulary)`: `ShortlistRanker`'s classifier, label-text buffer and
  log priors.
- `init_label_weights_from_text(model, label_embeddings)`: `EncoderWithAPLC`'s hidden layer, head and tail clusters
  (see its docstring for the mapping).
- `init_gudn_from_label_text(model, tokenizer, vocabulary)`: `BertGuideNetwork`'s ranking classifier and cluster
  scorer, from the label texts read through the model's own text path.
- `init_linear_from_label_embeddings(weight, label_embeddings)`: any `(num_labels, d)` weight (GUDN's head, ...).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data.errors import XMCInputError
from ..data.vocabulary import LabelVocabulary

logger = logging.getLogger(__name__)

# Initial classifier: logit = scale * cos(text, centred label text) + bias; a positive text sits near cos 0.5.
DEFAULT_LOGIT_SCALE = 10.0
DEFAULT_LOGIT_BIAS = -5.0


def label_texts_with_fallback(vocabulary: LabelVocabulary) -> tuple[list[str], int]:
    """Each label's text; a label without one (no texts at all, or an empty one) gets its label string instead.

    Returns:
        `(texts, num_fallbacks)`: one text per label id, and how many labels fell back to their label string (also
        logged as a warning, since those labels start from their name only).
    """
    texts = vocabulary.texts or [None] * len(vocabulary)
    result, fallbacks = [], 0
    for label, text in zip(vocabulary.labels, texts):
        if isinstance(text, str) and text.strip():
            result.append(text)
        else:
            result.append(str(label))
            fallbacks += 1
    if fallbacks:
        logger.warning(
            "%d of %d labels have no text; they are embedded from their label string instead.",
            fallbacks,
            len(vocabulary),
        )
    return result, fallbacks


@torch.no_grad()
def embed_texts(
    encode: Callable[..., torch.Tensor],
    tokenizer,
    texts: Sequence[str],
    max_length: int = 32,
    batch_size: int = 128,
    description: str = "Embedding label texts",
) -> torch.Tensor:
    """Embeddings `(len(texts), d)` from `encode(**tokenized_batch)`, batched by length (less padding), on CPU.

    Args:
        encode (`Callable`): returns `(batch, d)` pooled embeddings for a tokenised batch (e.g. `ShortlistRanker.encode`
            or `lambda **b: pool_hidden_states(encoder(**b).last_hidden_state, b["attention_mask"], "mean")`).
        tokenizer: the encoder's tokenizer.
        texts (`Sequence[str]`): the texts.
        max_length (`int`, defaults to 32): tokens per text (label texts are short).
        batch_size (`int`, defaults to 128)
    """
    if not len(texts):
        raise XMCInputError("no texts to embed")
    order = np.argsort([len(text) for text in texts], kind="stable")
    chunks, device = [], None
    for start in tqdm(range(0, len(texts), batch_size), desc=description, disable=len(texts) <= 4 * batch_size):
        batch = tokenizer(
            [texts[i] for i in order[start : start + batch_size]],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        if device is None:
            device = getattr(getattr(encode, "__self__", None), "device", torch.device("cpu"))
        chunks.append(encode(**batch.to(device)).float().cpu())
    embeddings = torch.cat(chunks)
    return embeddings[torch.from_numpy(np.argsort(order, kind="stable"))]


def encode_label_texts(
    encode_pooled: Callable[..., torch.Tensor],
    tokenizer,
    vocabulary: LabelVocabulary,
    max_length: int = 32,
    batch_size: int = 128,
    cache_file: str | os.PathLike | None = None,
    encoder_name: str = "",
) -> dict:
    """The labels' texts (with the fallback) encoded once, optionally cached on disk.

    Args:
        encode_pooled (`Callable`): pooled, not normalised, embeddings `(batch, d)` of a tokenised batch.
        cache_file (`str`, *optional*): a `.pt` file; read when it holds this encoder's embeddings of these texts at
            this length, (re)written otherwise.
        encoder_name (`str`): identifies the encoder in the cache key (e.g. its path).

    Returns:
        `dict` with `unit` (`(num_labels, d)` unit-norm embeddings), `median_norm` (of the pooled embeddings, which
        `init_label_weights_from_text` needs) and `num_text_fallbacks`.
    """
    texts, fallbacks = label_texts_with_fallback(vocabulary)
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()
    key = [str(encoder_name), int(max_length), len(texts), digest]
    if cache_file is not None and Path(cache_file).is_file():
        stored = torch.load(cache_file)
        if stored.get("key") == key:
            logger.info("label-text embeddings read from %s", cache_file)
            return {"unit": stored["unit"], "median_norm": stored["median_norm"], "num_text_fallbacks": fallbacks}
        logger.warning("%s holds label embeddings of another encoder or label set: encoding again", cache_file)
    pooled = embed_texts(encode_pooled, tokenizer, texts, max_length, batch_size)
    result = {"unit": F.normalize(pooled, dim=1), "median_norm": float(pooled.norm(dim=1).median())}
    if cache_file is not None:
        torch.save({"key": key, **result}, cache_file)
    return {**result, "num_text_fallbacks": fallbacks}


def check_label_embeddings(label_embeddings: torch.Tensor, num_labels: int, dim: int, what: str) -> torch.Tensor:
    label_embeddings = torch.as_tensor(label_embeddings, dtype=torch.float32)
    if label_embeddings.shape != (num_labels, dim):
        raise ValueError(
            f"{what} has {num_labels} labels of dimension {dim}, but the label embeddings have shape "
            f"{tuple(label_embeddings.shape)}: encode the same vocabulary with the model's own encoder"
        )
    if not torch.isfinite(label_embeddings).all():
        raise ValueError("label embeddings contain NaN or infinite values")
    return label_embeddings


def centred_unit_embeddings(label_embeddings: torch.Tensor) -> torch.Tensor:
    """Unit vectors of the label embeddings minus their mean: the common direction says nothing about a label."""
    unit = F.normalize(label_embeddings.float(), dim=1)
    return F.normalize(unit - unit.mean(0, keepdim=True), dim=1)


@torch.no_grad()
def init_linear_from_label_embeddings(
    weight: torch.Tensor,
    label_embeddings: torch.Tensor,
    bias: torch.Tensor | None = None,
    scale: float = DEFAULT_LOGIT_SCALE,
    bias_value: float = DEFAULT_LOGIT_BIAS,
) -> None:
    """Sets a `(num_labels, d)` label weight to `scale` x the centred unit label embeddings (and `bias` to
    `bias_value`), so `weight @ unit_text` starts as a scaled cosine between the text and each label's text."""
    label_embeddings = check_label_embeddings(label_embeddings, weight.shape[0], weight.shape[1], "the weight")
    weight.copy_(scale * centred_unit_embeddings(label_embeddings).to(weight))
    if bias is not None:
        bias.fill_(bias_value)


@torch.no_grad()
def init_ranker_from_label_text(
    model,
    tokenizer,
    vocabulary: LabelVocabulary,
    max_length: int = 32,
    batch_size: int = 128,
    label_embeddings: torch.Tensor | None = None,
    scale: float = DEFAULT_LOGIT_SCALE,
    bias_value: float = DEFAULT_LOGIT_BIAS,
    cache_file: str | os.PathLike | None = None,
    encoder_name: str = "",
) -> dict:
    """Fills a `ShortlistRanker`'s label-text embeddings, log priors and classifier from the vocabulary.

    Args:
        model (`ShortlistRanker`): its encoder embeds the label texts (unless `label_embeddings` is given).
        tokenizer: the encoder's tokenizer.
        vocabulary (`LabelVocabulary`): one entry per model label; its counts give the log priors.
        label_embeddings (`torch.Tensor` of shape `(num_labels, d)`, *optional*): precomputed unit embeddings of
            `label_texts_with_fallback(vocabulary)` by this encoder.
        cache_file (`str`, *optional*), encoder_name (`str`): where `encode_label_texts` caches them, and the
            encoder's name in the cache key.

    Returns:
        `dict` with `num_text_fallbacks` and `label_embeddings` (the unit embeddings, for caching).
    """
    num_labels = model.config.num_labels
    if num_labels != len(vocabulary):
        raise XMCInputError(
            f"the model has {num_labels} labels but the vocabulary has {len(vocabulary)}: they do not belong together"
        )
    if label_embeddings is None:
        was_training = model.training
        model.eval()
        encoded = encode_label_texts(
            model.pool, tokenizer, vocabulary, max_length, batch_size, cache_file, encoder_name
        )
        model.train(was_training)
        label_embeddings, fallbacks = encoded["unit"], encoded["num_text_fallbacks"]
    else:
        fallbacks = label_texts_with_fallback(vocabulary)[1]
    dim = model.label_text.embeddings.shape[1]
    label_embeddings = F.normalize(check_label_embeddings(label_embeddings, num_labels, dim, "the model"), dim=1)
    model.label_text.embeddings.copy_(label_embeddings)
    counts = torch.as_tensor(np.asarray(vocabulary.counts), dtype=torch.float32)
    model.label_text.log_prior.copy_(torch.log((counts + 1) / (max(vocabulary.num_train_docs, 1) + 1)))
    init_linear_from_label_embeddings(
        model.classifier.weight, label_embeddings, model.classifier.bias, scale=scale, bias_value=bias_value
    )
    return {"num_text_fallbacks": fallbacks, "label_embeddings": label_embeddings}


def _principal_directions(vectors: torch.Tensor, count: int) -> torch.Tensor:
    """`(count, d)` orthonormal rows spanning the largest-variance directions of `vectors` `(n, d)` (SVD)."""
    count = min(count, vectors.shape[1])
    if vectors.shape[0] == 0:
        return torch.eye(vectors.shape[1])[:count]
    _, _, vh = torch.linalg.svd(vectors, full_matrices=False)
    rows = vh[:count]
    if rows.shape[0] < count:  # fewer labels than dimensions: complete the basis with unused axes
        extra = torch.linalg.qr(torch.cat([rows, torch.eye(vectors.shape[1])]).T).Q.T[rows.shape[0] : count]
        rows = torch.cat([rows, extra])
    return rows


@torch.no_grad()
def init_label_weights_from_text(
    model,
    label_embeddings: torch.Tensor,
    pooled_scale: float | None = None,
    scale: float = DEFAULT_LOGIT_SCALE,
) -> None:
    """Start an `EncoderWithAPLC`'s label weights from its labels' text embeddings.

    With `ē_l` the centred unit text embedding of label `l` and `p` the pooled text embedding:

    - hidden layer `tanh(W p + b)`: `W = a M`, `b = -a M μ`, where `M` is the identity (or, when `d_h < d`, the
      `d_h` principal directions of the `ē_l`), `μ` the mean label embedding and `a` keeps `tanh` near-linear; so the
      feature `h ≈ a M (p - μ)`;
    - head labels: weight `s M ē_l / a`; tail cluster `i`: projection `P_i` = the `d_h / q^i` principal directions
      of its labels' `M ē_l`, output weight `s P_i M ē_l / a`. Each label's initial logit is then about
      `s (p - μ)·ē_l`, a scaled cosine with its text, up to what the cluster's projection keeps;
    - the tail clusters' root logits keep their random initialisation.

    Args:
        model (`EncoderWithAPLC`): its `config.tail_projection` must be `"linear"` (a LayerNorm + ReLU projection
            cannot carry the mapping).
        label_embeddings (`torch.Tensor` of shape `(num_labels, d)`): the labels' pooled (not normalised)
            embeddings by `model`'s encoder and pooling, in label-id order (`embed_texts`).
        pooled_scale (`float`, *optional*): typical norm of a pooled text embedding; default the label embeddings'
            median norm.
        scale (`float`, defaults to 10.0): `s`.
    """
    config = model.config
    if getattr(config, "tail_projection", "linear") != "linear":
        raise ValueError(
            f"init_label_weights_from_text needs tail_projection='linear', got {config.tail_projection!r}: a "
            "LayerNorm + ReLU projection cannot carry the label-text mapping"
        )
    aplc, dense = model.aplc, model.hidden_layer.dense
    d_h, d = dense.weight.shape
    label_embeddings = check_label_embeddings(label_embeddings, aplc.num_labels, d, type(model).__name__)
    norms = label_embeddings.norm(dim=1)
    pooled_scale = float(norms.median()) if pooled_scale is None else pooled_scale
    mean = label_embeddings.mean(0)
    centred = centred_unit_embeddings(label_embeddings)
    basis = torch.eye(d)[:d_h] if d_h >= d else _principal_directions(centred, d_h)
    if d_h > d:
        basis = torch.cat([basis, torch.zeros(d_h - d, d)])
    a = 0.5 * d**0.5 / max(pooled_scale, 1e-6)  # coordinates of a (p - μ) stay well below 1: tanh is near-linear
    dense.weight.copy_(a * basis)
    dense.bias.copy_(-a * basis @ mean)
    label_vectors = centred @ basis.T * (scale / (a * pooled_scale))  # (L, d_h): h·v ≈ s (p-μ)/|p| · ē
    aplc.head.weight[: aplc.head_size].copy_(label_vectors[: aplc.head_size])
    for index, tail in enumerate(aplc.tail_clusters):
        start = aplc.cluster_offsets[index + 1]
        vectors = label_vectors[start : start + tail.output.out_features]
        projection = _principal_directions(vectors, tail.projection.out_features)
        tail.projection.weight.copy_(projection)
        tail.output.weight.copy_(vectors @ projection.T)
    aplc._screens.clear()  # int8 copies of the old weights (rebuilt on the next top-k anyway)


def init_aplc_from_label_text(
    model, encoder_name_or_path: str, vocabulary: LabelVocabulary, max_length: int = 32, cache_file=None
) -> int:
    """`init_label_weights_from_text` for a new `EncoderWithAPLC`, encoding the label texts with its own encoder
    (`hf-xmc train aplc --init_label_weights_from_text`). Returns the number of labels without text."""
    from transformers import AutoTokenizer

    from ..models.aplc.heads import pool_hidden_states

    if not hasattr(model, "encoder") or not hasattr(model, "hidden_layer"):
        raise ValueError(
            f"--init_label_weights_from_text needs an encoder model with an APLC head (EncoderWithAPLC), got "
            f"{type(model).__name__}"
        )
    if model.config.num_labels != len(vocabulary):
        raise XMCInputError(f"the model has {model.config.num_labels} labels, the vocabulary {len(vocabulary)}")
    tokenizer = AutoTokenizer.from_pretrained(encoder_name_or_path)

    def encode_pooled(**batch):
        hidden = model.encoder(**batch, return_dict=True).last_hidden_state
        return pool_hidden_states(hidden, batch.get("attention_mask"), model.config.pooling)

    was_training = model.training
    model.eval()
    encoded = encode_label_texts(
        encode_pooled, tokenizer, vocabulary, max_length, cache_file=cache_file, encoder_name=str(encoder_name_or_path)
    )
    model.train(was_training)
    init_label_weights_from_text(model, encoded["unit"] * encoded["median_norm"])
    return encoded["num_text_fallbacks"]


@torch.no_grad()
def init_gudn_from_label_text(
    model,
    tokenizer,
    vocabulary: LabelVocabulary,
    max_length: int = 32,
    batch_size: int = 128,
    scale: float = DEFAULT_LOGIT_SCALE,
    bias_value: float = DEFAULT_LOGIT_BIAS,
) -> int:
    """Starts a `BertGuideNetwork`'s ranking classifier (and cluster scorer) from its labels' texts.

    Each label text is read as a document by the model's own text path (BERT, the text feature extractor in eval
    mode, MLP_2): label `l`'s classifier row becomes `scale` x its centred unit feature over the features' median
    norm, and its bias centres the text by the labels' mean feature, so a text's initial logit is about
    `scale * cos(text - mean, label text - mean) + bias_value`, the same for labels with and without training
    documents. With label clusters, cluster `c`'s scorer row is built the same way from the
    mean of its labels' centred unit text features. The extractors keep their (random) start: random projections
    keep cosines, and the label text is embedded through exactly the path a document takes at inference.

    Args:
        model (`BertGuideNetwork`): a new model (heads not trained yet).
        tokenizer: its tokenizer.
        vocabulary (`LabelVocabulary`): one entry per model label; a label without text is read from its string.
        max_length (`int`, defaults to 32): tokens of each label text.

    Returns:
        `int`: the number of labels without a text (read from their label string).
    """
    config = model.config
    if not hasattr(model, "text_extractor") or not hasattr(model, "classifier"):
        raise ValueError(f"init_gudn_from_label_text needs a BertGuideNetwork, got {type(model).__name__}")
    if config.num_labels != len(vocabulary):
        raise XMCInputError(f"the model has {config.num_labels} labels, the vocabulary {len(vocabulary)}")
    texts, fallbacks = label_texts_with_fallback(vocabulary)
    device = model.device

    def text_features(**batch):
        batch = {key: value.to(device) for key, value in batch.items()}
        features, _ = model._encode(
            model.text_extractor, batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids")
        )
        return features

    was_training = model.training
    model.eval()
    features = embed_texts(text_features, tokenizer, texts, max_length, batch_size).to(device)
    scored = model.classifier.label_features(features)
    model.train(was_training)
    classifier = model.classifier
    scored_norm = float(scored.norm(dim=1).median().clamp(min=1e-6))
    init_linear_from_label_embeddings(
        classifier.output.weight, scored, classifier.output.bias, scale / scored_norm, bias_value
    )
    # the text is centred too (by the labels' mean feature), or labels near the common direction win every text
    classifier.output.bias.sub_(classifier.output.weight @ scored.mean(0))
    if classifier.cluster_scorer is not None:
        clusters = model.label_clusters.label_to_cluster.to(device)
        sums = torch.zeros(config.num_label_clusters, features.shape[1], device=device)
        sums.index_add_(0, clusters, centred_unit_embeddings(features))
        feature_norm = float(features.norm(dim=1).median().clamp(min=1e-6))
        classifier.cluster_scorer.weight.copy_(F.normalize(sums, dim=1) * (scale / feature_norm))
        classifier.cluster_scorer.bias.fill_(bias_value).sub_(classifier.cluster_scorer.weight @ features.mean(0))
    return fallbacks
