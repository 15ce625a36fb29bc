"""MACLR stage II: pseudo-positive (document, label) pairs from two views, the stage-I encoder and TF-IDF (§4.3).

- `TfidfLabelRetriever`: documents and label texts as word uni+bigram TF-IDF vectors (the maintainer's recipe for
  the missing `pseudo_pos_tfidf.json` step, pecos issue #206: two word analyzers, uni- and bigram, `max_df` 0.98),
  labels ranked by cosine similarity. It is also the TF-IDF zero-shot baseline.
- `pseudo_pairs`: the top-k labels of every training document from each view (the paper: top 3 of each), optionally
  only those scoring at least a threshold (the reference code keeps an encoder label only above raw score 36, a
  value tied to its unnormalised 512-d tanh embeddings: re-tune it for another encoder), merged per document:
  `merge="union"` (the paper: every label either view chose) or `merge="agreement"` (beyond the paper: only the labels
  both views chose; fewer, more precise pairs: on 4,000 debtags training documents with MiniLM, top 3 of each view,
  the union's 20,261 pairs are 22% true labels, the agreement's 3,724 pairs 41%).

The pairs train the encoder with eq. 3 where the positives of a pair are all pairs of the same document in the batch
(`P(i) = {p : x_p = x_i}`): the dataset's `label` column is the document's index, so `ClusterContrastiveLoss` with no
cluster assignment does exactly that.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from ..metrics.topk import top_k_with_scores
from .retrieval import check_label_texts, drop_excluded

_TFIDF_CHUNK_ROWS = 512


class TfidfLabelRetriever:
    """Ranks label texts for documents by TF-IDF cosine similarity.

    Args:
        label_texts (`list[str]`): one text per label (ids are positions).
        fit_documents (`list[str]`, *optional*): documents the IDF statistics are fitted on together with the label
            texts (the training documents; never the evaluation ones).
        ngram_range (`tuple[int, int]`): word n-grams (uni+bigram).
        max_df (`float`): drop terms in more than this fraction of the fitted texts (0.98).
        max_features (`int`, *optional*): vocabulary cap.
    """

    def __init__(
        self,
        label_texts: Sequence[str],
        fit_documents: Sequence[str] | None = None,
        ngram_range: tuple[int, int] = (1, 2),
        max_df: float = 0.98,
        max_features: int | None = 500_000,
    ):
        self.label_texts = check_label_texts(label_texts)
        self.vectorizer = TfidfVectorizer(
            ngram_range=ngram_range, max_df=max_df, max_features=max_features, sublinear_tf=True, dtype=np.float32
        )
        self.vectorizer.fit(list(fit_documents or []) + self.label_texts)
        self.label_vectors = normalize(self.vectorizer.transform(self.label_texts)).T.tocsr()

    def search(self, documents: Sequence[str], k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """The `k` labels of every document with the highest TF-IDF cosine, `(ids, scores)` of shape `(n, k)`; labels
        sharing no term with a document are not ranked (`-1` / `-inf` padding)."""
        documents = list(documents)
        extra = max((len(row) for row in exclude), default=0) if exclude is not None else 0
        ids = np.full((len(documents), k + extra), -1, dtype=np.int64)
        scores = np.full((len(documents), k + extra), -np.inf, dtype=np.float32)
        for start in range(0, len(documents), _TFIDF_CHUNK_ROWS):
            vectors = normalize(self.vectorizer.transform(documents[start : start + _TFIDF_CHUNK_ROWS]))
            block_ids, block_scores = top_k_with_scores(vectors @ self.label_vectors, k + extra)
            ids[start : start + len(block_ids)] = block_ids
            scores[start : start + len(block_ids)] = block_scores
        if extra:
            ids, scores = drop_excluded(ids, scores, exclude)
        return ids[:, :k], scores[:, :k]


def select_pseudo_labels(ids: np.ndarray, scores: np.ndarray, k: int, min_score: float | None = None):
    """Per row, the first `k` ids (padding dropped) whose score is at least `min_score` (when given)."""
    selected = []
    for row_ids, row_scores in zip(ids[:, :k], scores[:, :k]):
        keep = row_ids >= 0
        if min_score is not None:
            keep &= row_scores >= min_score
        selected.append(row_ids[keep].tolist())
    return selected


def pseudo_pairs(
    documents: Sequence[str],
    label_texts: Sequence[str],
    encoder_labels: Sequence[Sequence[int]] | None = None,
    tfidf_labels: Sequence[Sequence[int]] | None = None,
    merge: str = "union",
):
    """Merge the two views' pseudo labels into training pairs.

    Args:
        documents (`list[str]`): the training documents (their full text: title and content).
        label_texts (`list[str]`): the label texts (ids are positions).
        encoder_labels, tfidf_labels (`list[list[int]]`, *optional*): per document, the pseudo labels of each view
            (from `select_pseudo_labels`); a label both views chose gives one pair.
        merge (`str`): `"union"` (the paper: a label of either view) or `"agreement"` (only labels of both views;
            needs both views).

    Returns:
        `(dataset, stats)`: `datasets.Dataset` with `document`, `label_text` and `label` (the document's index, so
        its pseudo labels are each other's positives) and counts per view.
    """
    from datasets import Dataset

    if encoder_labels is None and tfidf_labels is None:
        raise ValueError("pseudo_pairs needs the encoder's or TF-IDF's pseudo labels (or both).")
    if merge not in ("union", "agreement"):
        raise ValueError(f"merge={merge!r}: use 'union' (either view's labels) or 'agreement' (both views').")
    views = [view for view in (encoder_labels, tfidf_labels) if view is not None]
    if merge == "agreement" and len(views) < 2:
        raise ValueError("merge='agreement' keeps the labels both views chose: it needs the encoder's and TF-IDF's.")
    for view in views:
        if len(view) != len(documents):
            raise ValueError(f"pseudo labels for {len(view)} documents, but {len(documents)} documents.")
    texts, label_texts_column, rows, label_ids = [], [], [], []
    for position, document in enumerate(documents):
        merged = dict.fromkeys(label for view in views for label in view[position])
        if merge == "agreement":
            merged = [label for label in merged if all(label in view[position] for view in views)]
        for label in merged:
            texts.append(document)
            label_texts_column.append(label_texts[label])
            rows.append(position)
            label_ids.append(label)
    if not texts:
        raise ValueError("no pseudo pair is left: lower the score thresholds, raise k or merge the views' union.")
    stats = {
        "pairs": len(texts),
        "documents_with_pairs": len(set(rows)),
        "encoder_pairs": sum(map(len, encoder_labels)) if encoder_labels is not None else 0,
        "tfidf_pairs": sum(map(len, tfidf_labels)) if tfidf_labels is not None else 0,
        "label_ids": label_ids,
    }
    dataset = Dataset.from_dict({"document": texts, "label_text": label_texts_column, "label": rows})
    return dataset, stats


def build_self_training_pairs(
    encoder,
    documents: Sequence[str],
    label_texts: Sequence[str],
    k: int = 3,
    encoder_min_score: float | None = None,
    tfidf_k: int | None = None,
    tfidf_min_score: float | None = None,
    use_encoder: bool = True,
    use_tfidf: bool = True,
    exclude=None,
    merge: str = "union",
    batch_size: int = 64,
    show_progress_bar: bool | None = None,
):
    """Stage II end to end: encoder top-k (through a `LabelIndex`) and TF-IDF top-k pseudo labels, merged.

    Args:
        encoder: the stage-I `SentenceTransformer`.
        documents, label_texts: as `pseudo_pairs`.
        k (`int`): encoder pseudo labels per document (the paper: 3); `tfidf_k` defaults to `k`.
        encoder_min_score, tfidf_min_score (`float`, *optional*): keep only pseudo labels scoring at least this.
        use_encoder, use_tfidf (`bool`): which views to use (the paper's ablation rows 5-7).
        exclude (`list[list[int]]`, *optional*): per document, label ids never to pair it with (its own id).
        merge (`str`): how the views combine, as `pseudo_pairs`.

    Returns:
        `(dataset, stats)` as `pseudo_pairs`.
    """
    from .retrieval import LabelIndex

    encoder_labels = tfidf_labels = None
    if use_encoder:
        index = LabelIndex.build(encoder, label_texts, batch_size=batch_size, show_progress_bar=show_progress_bar)
        ids, scores = index.search_texts(
            documents, k, exclude=exclude, batch_size=batch_size, show_progress_bar=show_progress_bar
        )
        encoder_labels = select_pseudo_labels(ids, scores, k, encoder_min_score)
    if use_tfidf:
        tfidf_k = tfidf_k or k
        retriever = TfidfLabelRetriever(label_texts, fit_documents=documents)
        ids, scores = retriever.search(documents, tfidf_k, exclude=exclude)
        tfidf_labels = select_pseudo_labels(ids, scores, tfidf_k, tfidf_min_score)
    return pseudo_pairs(documents, label_texts, encoder_labels, tfidf_labels, merge=merge)
