"""The sparse peers every hf-xmc method is compared with: TF-IDF features + napkinXC PLT, omikuji Parabel, omikuji
Bonsai. One implementation, used by `benchmarks/bench_quality.py`, the recipe's end-of-run comparison and any method
that needs a sparse shortlister.

    peer = SparsePeer("omikuji-bonsai").fit(train_texts, train_label_ids, num_labels)
    ids, scores = peer.predict_top_k(test_texts, k=20)       # (n, 20) label ids (-1: none), (n, 20) scores

napkinxc and omikuji are imported when a peer is fitted (they are in the `dev` extra); without them a
`PeerNotInstalledError` says what to install. Neither library nor torch is imported by `import hf_xmc.baselines`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

PEERS = {
    "napkinxc-plt": ("napkinxc", "napkinXC PLT (TF-IDF)"),
    "omikuji-parabel": ("omikuji", "omikuji Parabel (TF-IDF)"),
    "omikuji-bonsai": ("omikuji", "omikuji Bonsai (TF-IDF)"),
}


class PeerNotInstalledError(ImportError):
    """The library a peer needs is not installed."""


def _require(package: str):
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise PeerNotInstalledError(
            f"{package} is not installed: `pip install {package}` (or `pip install -e '.[dev]'`) to compare with it"
        ) from error


def peer_is_installed(algorithm: str) -> bool:
    """Whether the library of `algorithm` (a key of `PEERS`) can be imported."""
    return importlib.util.find_spec(PEERS[algorithm][0]) is not None


def tfidf_vectorizer(num_docs: int | None = None):
    """TF-IDF on word uni- and bigrams (sublinear tf), the features all peers share. Terms must occur in two
    documents, except on tiny training sets (under 100 documents), where one is enough."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = 1 if num_docs is not None and num_docs < 100 else 2
    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=min_df, max_features=200_000)


def write_xc_file(path: Path, features, label_lists, num_labels: int) -> None:
    """The Extreme Classification Repository's text format, which omikuji reads."""
    features = sp.csr_matrix(features)
    with open(path, "w") as handle:
        handle.write(f"{features.shape[0]} {features.shape[1]} {num_labels}\n")
        for row, labels in enumerate(label_lists):
            start, end = features.indptr[row], features.indptr[row + 1]
            pairs = " ".join(f"{j}:{v:.6f}" for j, v in zip(features.indices[start:end], features.data[start:end]))
            handle.write(f"{','.join(map(str, labels))} {pairs}\n")


@contextlib.contextmanager
def quiet_native_output():
    """omikuji's Rust logger writes a progress line per example to the process's stderr: mute fds 1 and 2."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _rows_to_arrays(rows, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(rows), k), -1, dtype=np.int64)
    scores = np.full((len(rows), k), -np.inf)
    for row, pairs in enumerate(rows):
        pairs = sorted(pairs, key=lambda pair: -pair[1])[:k]
        for column, (label, score) in enumerate(pairs):
            ids[row, column] = label
            scores[row, column] = score
    return ids, scores


class SparsePeer:
    """A TF-IDF + tree-based XMC model (napkinXC PLT, omikuji Parabel or Bonsai) with one interface.

    Args:
        algorithm (`str`): `"napkinxc-plt"`, `"omikuji-parabel"` or `"omikuji-bonsai"` (omikuji's README settings:
            Bonsai = unbalanced 100-way clustering, depth 3).
        threads (`int`, *optional*): worker threads (default: all cores).
        seed (`int`, defaults to 0): napkinXC's seed.
        vectorizer (*optional*): a fitted scikit-learn vectorizer to reuse (else `fit` fits `tfidf_vectorizer()`).
    """

    def __init__(self, algorithm: str = "omikuji-bonsai", threads: int | None = None, seed: int = 0, vectorizer=None):
        if algorithm not in PEERS:
            raise ValueError(f"unknown peer {algorithm!r}; known: {', '.join(PEERS)}")
        self.algorithm = algorithm
        self.threads = threads or os.cpu_count() or 1
        self.seed = seed
        self.vectorizer = vectorizer
        self.model = None
        self.num_labels = None
        self._workdir = None

    @property
    def display_name(self) -> str:
        return PEERS[self.algorithm][1]

    def fit(self, texts: list[str], label_lists, num_labels: int) -> SparsePeer:
        """Fit the TF-IDF features (unless a fitted vectorizer was given) and the model on label id lists."""
        _require(PEERS[self.algorithm][0])  # before the features: a missing library is said at once
        if self.vectorizer is None:
            self.vectorizer = tfidf_vectorizer(len(texts))
            features = self.vectorizer.fit_transform(texts)
        else:
            features = self.vectorizer.transform(texts)
        return self.fit_features(features, label_lists, num_labels)

    def fit_features(self, features, label_lists, num_labels: int) -> SparsePeer:
        """Fit on ready-made sparse features `(n, d)` and label id lists."""
        _require(PEERS[self.algorithm][0])
        # sorted and unique: napkinXC's PLT crashes (segmentation fault) on an unsorted label list such as [2, 0]
        label_lists = [sorted({int(label) for label in labels}) for labels in label_lists]
        self.num_labels = num_labels
        self._workdir = tempfile.TemporaryDirectory(prefix=f"hf_xmc_{self.algorithm}_")
        workdir = Path(self._workdir.name)
        if self.algorithm == "napkinxc-plt":
            from napkinxc.models import PLT

            self.model = PLT(str(workdir / "plt"), seed=self.seed, threads=self.threads)
            self.model.fit(sp.csr_matrix(features, dtype=np.float32), label_lists)
        else:
            import omikuji

            data_path = workdir / "train.txt"
            write_xc_file(data_path, features, label_lists, num_labels)
            hyper_param = omikuji.Model.default_hyper_param()
            if self.algorithm == "omikuji-bonsai":
                hyper_param.cluster_balanced = False
                hyper_param.cluster_k = 100
                hyper_param.max_depth = 3
            with quiet_native_output():
                self.model = omikuji.Model.train_on_data(str(data_path), hyper_param, n_threads=self.threads)
        return self

    def predict_top_k(self, texts: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best label ids of each text and their scores (probabilities), best first; `(n, k)` arrays padded
        with -1 / -inf when a model returns fewer labels."""
        if self.vectorizer is None:
            raise ValueError("fit the peer (or give it a fitted vectorizer) before predicting texts")
        return self.predict_top_k_features(self.vectorizer.transform(texts), k)

    def predict_top_k_features(self, features, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.model is None:
            raise ValueError(f"{self.display_name} is not fitted: call fit() first")
        features = sp.csr_matrix(features, dtype=np.float32)
        if self.algorithm == "napkinxc-plt":
            rows = self.model.predict_proba(features, top_k=k)
        else:
            rows = []
            for row in range(features.shape[0]):
                start, end = features.indptr[row], features.indptr[row + 1]
                pairs = list(zip(features.indices[start:end].tolist(), features.data[start:end].tolist()))
                rows.append(self.model.predict(pairs, top_k=k) if pairs else [])
        return _rows_to_arrays(rows, k)


def evaluate_peers(
    train_texts: list[str],
    train_labels,
    eval_texts: list[str],
    eval_references,
    vocabulary,
    k: int = 20,
    algorithms: tuple[str, ...] = tuple(PEERS),
    propensity: str | None = None,
    decision_texts: list[str] | None = None,
    decision_references=None,
    print_fn=None,
    exclude=None,
    decision_exclude=None,
) -> dict[str, dict]:
    """Fit each installed peer on the training texts and evaluate it like an hf-xmc model.

    `exclude` / `decision_exclude` (CSR `(n, L)`, rows aligned with `eval_texts` / `decision_texts`, *optional*):
    document-label pairs left out of the evaluation / the threshold tuning, as the recipe leaves out an LF set's
    filter pairs (`compute_xmc_metrics(..., exclude=...)`); the peers then rank that many more candidates.

    Returns:
        `{display name: {"metrics", "train_seconds", "eval_docs_per_second", "top_k": (ids, scores)}}`; a peer
        whose library is missing gets `{"error": message}` instead. With `decision_texts`/`decision_references`,
        the metrics include micro/macro F1 at 0.5 and at thresholds tuned on those documents.
    """
    from .metrics import compute_xmc_metrics
    from .metrics.trainer import num_extra_candidates

    log = print_fn or (lambda line: print(line, flush=True))
    start = time.perf_counter()
    vectorizer = tfidf_vectorizer(len(train_texts))
    train_x = vectorizer.fit_transform(train_texts)
    feature_seconds = time.perf_counter() - start
    eval_x = vectorizer.transform(eval_texts)
    decision_x = vectorizer.transform(decision_texts) if decision_texts else None
    results = {}
    for algorithm in algorithms:
        peer = SparsePeer(algorithm, vectorizer=vectorizer)
        if not peer_is_installed(algorithm):
            results[peer.display_name] = {"error": f"{PEERS[algorithm][0]} is not installed"}
            continue
        log(f"fitting {peer.display_name} on {len(train_texts):,} documents ...")
        start = time.perf_counter()
        peer.fit_features(train_x, train_labels, len(vocabulary))
        train_seconds = time.perf_counter() - start + feature_seconds
        start = time.perf_counter()
        ids, scores = peer.predict_top_k_features(eval_x, min(k + num_extra_candidates(exclude), len(vocabulary)))
        eval_seconds = time.perf_counter() - start
        metrics = compute_xmc_metrics(
            ids,
            eval_references,
            label_counts=vocabulary.counts,
            num_train_docs=vocabulary.num_train_docs,
            propensity=propensity,
            num_labels=len(vocabulary),
            exclude=exclude,
        )
        if decision_x is not None:
            from .training.recipe_steps import tune_decisions

            decision_ids, decision_scores = peer.predict_top_k_features(decision_x, ids.shape[1])
            _, decision = tune_decisions(
                decision_ids, decision_scores, decision_references, ids, scores, eval_references, len(vocabulary),
                decision_exclude=decision_exclude, eval_exclude=exclude,
            )  # fmt: skip
            metrics.update({key: value for key, value in decision.items() if "f1" in key})
        results[peer.display_name] = {
            "metrics": metrics,
            "train_seconds": train_seconds,
            "eval_docs_per_second": len(eval_texts) / eval_seconds if eval_seconds > 0 else None,
            "top_k": (ids, scores),
        }
    return results
