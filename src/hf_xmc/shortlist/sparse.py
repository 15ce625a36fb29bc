"""The sparse shortlist: a fitted `hf_xmc.baselines.SparsePeer` (TF-IDF + napkinXC PLT / omikuji Parabel or Bonsai),
saved inside a ranker checkpoint and checked against the label space it is used with.

    shortlister = SparseShortlister.fit(train_texts, train_label_ids, vocabulary, algorithm="napkinxc-plt")
    ids, scores = shortlister.top_k(texts, k=100)          # (n, 100) label ids (-1 padding), scores (0 on padding)
    shortlister.save_pretrained(checkpoint / "sparse_shortlist")
    SparseShortlister.from_pretrained(checkpoint / "sparse_shortlist", vocabulary=vocabulary)

The TF-IDF vocabulary and idf weights are stored as JSON + `.npy` (no pickles); the tree model in its library's own
format. napkinxc / omikuji come with the `sparse` extra (`pip install 'hf-xmc[sparse]'`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..baselines import PEERS, SparsePeer, quiet_native_output, tfidf_vectorizer
from ..data.errors import XMCInputError
from ..data.vocabulary import LabelVocabulary

SPARSE_SHORTLIST_FOLDER = "sparse_shortlist"
SPARSE_CONFIG_FILE = "sparse_shortlist.json"
IDF_FILE = "tfidf_idf.npy"
TREE_FOLDER = "tree"


def label_space_fingerprint(vocabulary: LabelVocabulary) -> str:
    """sha256 of the label strings in id order: two models share a label space iff their fingerprints match."""
    digest = hashlib.sha256()
    for label in vocabulary.labels:
        digest.update(label.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


class SparseShortlister:
    """A fitted `SparsePeer` bound to the label vocabulary it was trained on.

    Args:
        peer (`SparsePeer`): fitted.
        fingerprint (`str`): `label_space_fingerprint` of its training vocabulary.
        num_labels (`int`): size of that vocabulary.
        shortlist_size (`int`, defaults to 100): labels `candidate_inputs` shortlists per text.
    """

    def __init__(self, peer: SparsePeer, fingerprint: str, num_labels: int, shortlist_size: int = 100):
        self.peer = peer
        self.fingerprint = fingerprint
        self.num_labels = num_labels
        self.shortlist_size = shortlist_size

    @classmethod
    def fit(
        cls,
        texts: list[str],
        label_lists,
        vocabulary: LabelVocabulary,
        algorithm: str = "napkinxc-plt",
        threads: int | None = None,
        seed: int = 0,
        shortlist_size: int = 100,
    ) -> SparseShortlister:
        """TF-IDF features and a tree model on `texts` / `label_lists` (vocabulary ids)."""
        if algorithm not in PEERS:
            raise ValueError(f"--sparse_model must be one of {', '.join(PEERS)}, got {algorithm!r}")
        peer = SparsePeer(algorithm, threads=threads, seed=seed, vectorizer=tfidf_vectorizer(len(texts)))
        peer.vectorizer.fit(texts)
        peer.fit_features(peer.vectorizer.transform(texts), label_lists, len(vocabulary))
        return cls(peer, label_space_fingerprint(vocabulary), len(vocabulary), shortlist_size)

    def check_vocabulary(self, vocabulary: LabelVocabulary, source: str = "the sparse model") -> None:
        """`XMCInputError` unless `vocabulary` is the label space this model was trained on."""
        if len(vocabulary) != self.num_labels or label_space_fingerprint(vocabulary) != self.fingerprint:
            raise XMCInputError(
                f"{source} was trained on another label space ({self.num_labels} labels, fingerprint "
                f"{self.fingerprint[:12]}) than the one given ({len(vocabulary)} labels, fingerprint "
                f"{label_space_fingerprint(vocabulary)[:12]}): its label ids would point at the wrong labels; refit "
                "it on this vocabulary"
            )

    def top_k(self, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """`(n, k)` label ids (-1 padding) and scores (0.0 on padding), best first."""
        ids, scores = self.peer.predict_top_k(list(texts), min(k, self.num_labels))
        scores = np.where(ids >= 0, scores, 0.0).astype(np.float32)
        if ids.size and int(ids.max()) >= self.num_labels:
            raise XMCInputError(
                f"the sparse model returned label id {int(ids.max())} for a label space of {self.num_labels}"
            )
        return ids, scores

    def candidate_inputs(self, texts: list[str], device=None, k: int | None = None) -> dict:
        """`candidate_ids` / `candidate_scores` tensors for `ShortlistRanker.forward` (`k`: default `shortlist_size`)."""
        import torch

        ids, scores = self.top_k(texts, k or self.shortlist_size)
        return {
            "candidate_ids": torch.as_tensor(ids, dtype=torch.long, device=device),
            "candidate_scores": torch.as_tensor(scores, dtype=torch.float32, device=device),
        }

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Writes the TF-IDF vocabulary/idf, the tree model and `sparse_shortlist.json` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        vectorizer = self.peer.vectorizer
        vocabulary = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
        np.save(directory / IDF_FILE, np.asarray(vectorizer.idf_, dtype=np.float64))
        tree = directory / TREE_FOLDER
        if tree.exists():
            shutil.rmtree(tree)
        if self.peer.algorithm == "napkinxc-plt":
            shutil.copytree(Path(self.peer.model.get_params()["output"]), tree)  # PLT keeps its files there
        else:
            with quiet_native_output():  # omikuji logs every file it writes
                self.peer.model.save(str(tree))
        config = {
            "algorithm": self.peer.algorithm,
            "num_labels": self.num_labels,
            "shortlist_size": self.shortlist_size,
            "label_space_fingerprint": self.fingerprint,
            "tfidf_params": {k: v for k, v in vectorizer.get_params().items() if k in TFIDF_PARAMS},
            "tfidf_vocabulary": vocabulary,
        }
        (directory / SPARSE_CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
        return directory

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, vocabulary: LabelVocabulary | None = None, threads: int | None = None
    ) -> SparseShortlister:
        """Loads a saved shortlister; with `vocabulary`, checks that it belongs to that label space."""
        directory = Path(directory)
        config_path = directory / SPARSE_CONFIG_FILE
        if not config_path.is_file():
            raise XMCInputError(f"{directory} has no {SPARSE_CONFIG_FILE}: it is not a saved sparse shortlist")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        vectorizer = tfidf_vectorizer()
        params = dict(config["tfidf_params"])
        params["ngram_range"] = tuple(params.get("ngram_range", (1, 1)))
        vectorizer.set_params(**params, vocabulary=config["tfidf_vocabulary"])
        vectorizer.fit(["_"])  # builds the analyzer; the vocabulary is fixed, the idf is replaced below
        vectorizer.idf_ = np.load(directory / IDF_FILE)
        peer = SparsePeer(config["algorithm"], threads=threads, vectorizer=vectorizer)
        peer.num_labels = config["num_labels"]
        tree = directory / TREE_FOLDER
        if config["algorithm"] == "napkinxc-plt":
            from napkinxc.models import PLT

            peer.model = PLT(str(tree), threads=peer.threads)
            peer.model.load()
        else:
            import omikuji

            with quiet_native_output():
                peer.model = omikuji.Model.load(str(tree))
        shortlister = cls(
            peer, config["label_space_fingerprint"], config["num_labels"], config.get("shortlist_size", 100)
        )
        if vocabulary is not None:
            shortlister.check_vocabulary(vocabulary, source=str(directory))
        return shortlister


TFIDF_PARAMS = ("sublinear_tf", "ngram_range", "min_df", "max_features", "lowercase", "norm", "use_idf", "smooth_idf")
