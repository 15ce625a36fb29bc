"""Multi-scale adaptive clustering (MACLR Algorithm 1, lines 2 and 7-15) as a `TrainerCallback`.

Schedule over `T = state.max_steps` training steps:
- step 0: encode the training instances with the current encoder and K-means them into `K0` clusters;
- `K = K0 * 2 ** (t // T_K)`: K doubles every `T_K` steps (coarse to fine; applied at the next re-clustering);
- every `T_update` steps, while `t < T / 2`: re-encode the instances and re-cluster them with the current K;
- from `t >= T / 2` on: every instance is its own cluster (the loss becomes instance-level InfoNCE, eq. 2).

The callback hands the assignment to the loss (`loss.set_cluster_assignment(cluster_of_row)`); the training rows'
`label` column holds their row ids, which the loss maps to clusters. K-means is faiss's (`faiss.Kmeans`, L2, as in
the reference code) when faiss is installed, otherwise scikit-learn's through `hf_xmc.data.clustering`.

Distributed training (`accelerate launch`): process 0 encodes and clusters, the assignment is broadcast to every
process (`torch.distributed.broadcast`), so all processes train on the same clusters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import torch
from transformers import TrainerCallback

logger = logging.getLogger(__name__)


def kmeans_assign(embeddings: np.ndarray, n_clusters: int, seed: int = 0, iterations: int = 20) -> np.ndarray:
    """Seeded K-means of the rows of `embeddings`; returns the cluster id of every row (int64)."""
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    n_clusters = int(min(max(n_clusters, 1), len(embeddings)))
    if n_clusters == 1:
        return np.zeros(len(embeddings), dtype=np.int64)
    if n_clusters == len(embeddings):
        return np.arange(len(embeddings), dtype=np.int64)
    try:
        import faiss
    except ImportError:
        from ..data.clustering import kmeans_label_clusters

        return kmeans_label_clusters(embeddings, n_clusters, seed=seed, n_init=1, max_iter=iterations)
    kmeans = faiss.Kmeans(
        embeddings.shape[1], n_clusters, niter=iterations, seed=seed, verbose=False,
        max_points_per_centroid=1000, min_points_per_centroid=1,
    )  # fmt: skip
    kmeans.train(embeddings)
    _, assignment = kmeans.index.search(embeddings, 1)
    return assignment[:, 0].astype(np.int64)


def cluster_count(step: int, initial_clusters: int, double_every: int, num_rows: int) -> int:
    """K at training step `step`: `K0 * 2 ** (step // T_K)`, at most the number of rows."""
    return int(min(initial_clusters * 2 ** (step // double_every), num_rows))


class AdaptiveClusteringCallback(TrainerCallback):
    """Re-clusters the training instances on MACLR's coarse-to-fine schedule and updates the loss's positives.

    Args:
        loss: a loss with `set_cluster_assignment` (`ClusterContrastiveLoss`, `LabelRegularizationLoss`,
            `MACLRLoss`).
        documents (`list[str]`): the instance text of every training row, in row-id order (the ICT contexts).
        initial_clusters (`int`): K0 (the paper: 2048 for ~300K documents; the reference 2500).
        double_every (`int`, *optional*): T_K; default `2 * T_update` (the reference: 10K of 100K steps).
        update_every (`int`, *optional*): T_update; default `max_steps // (2 * num_updates)` (the reference: 5K
            of 100K steps, i.e. `num_updates=10`).
        num_updates (`int`): with the default T_update, how many clusterings the first half of training gets
            (each encodes every instance: on CPU a few are what fits).
        instance_level_from (`float`): the fraction of training after which every instance is its own cluster.
        batch_size (`int`): encoding batch size.
        max_seq_length (`int`, *optional*): truncate the instances to this many tokens when encoding them for
            clustering (cheaper on CPU; training keeps the model's own limit).
        seed (`int`): K-means seed.
        show_progress_bar (`bool`): show encoding progress.
    """

    def __init__(
        self,
        loss,
        documents: Sequence[str],
        initial_clusters: int,
        double_every: int | None = None,
        update_every: int | None = None,
        num_updates: int = 10,
        instance_level_from: float = 0.5,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        seed: int = 0,
        show_progress_bar: bool = False,
    ):
        if not hasattr(loss, "set_cluster_assignment"):
            raise ValueError(f"{type(loss).__name__} has no set_cluster_assignment: it cannot use clusters.")
        if initial_clusters < 1:
            raise ValueError(f"initial_clusters={initial_clusters} must be at least 1.")
        for name, value in (("double_every", double_every), ("update_every", update_every)):
            if value is not None and value < 1:
                raise ValueError(f"{name}={value} must be a positive number of steps.")
        if num_updates < 1:
            raise ValueError(f"num_updates={num_updates} must be at least 1.")
        if not 0.0 <= instance_level_from <= 1.0:
            raise ValueError(f"instance_level_from={instance_level_from} must be in [0, 1].")
        self.loss = loss
        self.documents = list(documents)
        self.initial_clusters = int(initial_clusters)
        self.double_every = double_every
        self.update_every = update_every
        self.num_updates = num_updates
        self.instance_level_from = instance_level_from
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.seed = seed
        self.show_progress_bar = show_progress_bar
        self.history: list[dict] = []  # one entry per (re-)clustering or switch: step, clusters, seconds
        self._instance_level = False
        self._warned_batch = False

    # ---- schedule -------------------------------------------------------------------------------------------------
    def _resolve(self, state) -> tuple[int, int, int]:
        total = max(int(state.max_steps), 1)
        update_every = self.update_every or max(1, int(total * self.instance_level_from) // self.num_updates)
        double_every = self.double_every or 2 * update_every
        return total, double_every, update_every

    def instance_level_step(self, state) -> int:
        return int(self._resolve(state)[0] * self.instance_level_from)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        _, double_every, _ = self._resolve(state)
        if state.global_step >= self.instance_level_step(state):
            self._switch_to_instances(state.global_step)
            return
        self._check_batch(args, cluster_count(state.global_step, self.initial_clusters, double_every, self.num_rows))
        self.recluster(
            model, cluster_count(state.global_step, self.initial_clusters, double_every, self.num_rows), state
        )

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        _, double_every, update_every = self._resolve(state)
        if step >= self.instance_level_step(state):
            if not self._instance_level:
                self._switch_to_instances(step)
            return
        if step % update_every == 0:
            clusters = cluster_count(step, self.initial_clusters, double_every, self.num_rows)
            self._check_batch(args, clusters)
            self.recluster(model, clusters, state)

    @property
    def num_rows(self) -> int:
        return len(self.documents)

    def _switch_to_instances(self, step: int) -> None:
        self.loss.set_cluster_assignment(None)
        self._instance_level = True
        self.history.append({"step": step, "clusters": self.num_rows, "instance_level": True, "seconds": 0.0})
        logger.info("MACLR clustering: step %d, every instance is its own cluster from now on", step)

    def _check_batch(self, args, clusters: int) -> None:
        batch = getattr(args, "per_device_train_batch_size", None)
        if batch and clusters > batch and not self._warned_batch:
            self._warned_batch = True
            logger.warning(
                "MACLR clustering: %d clusters for batches of %d rows: most rows have no same-cluster partner in "
                "their batch, so the loss is close to instance-level there (the paper's 128-row batches with "
                "2048+ clusters are in the same regime).",
                clusters,
                batch,
            )

    # ---- clustering -----------------------------------------------------------------------------------------------
    def recluster(self, model, clusters: int, state=None) -> np.ndarray:
        """Encode the documents with `model`, K-means them into `clusters`, give the assignment to the loss."""
        started = time.perf_counter()
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        is_main = not distributed or torch.distributed.get_rank() == 0
        assignment = np.zeros(self.num_rows, dtype=np.int64)
        if is_main:
            embeddings = self.encode(model)
            assignment = kmeans_assign(embeddings, clusters, seed=self.seed)
        if distributed:
            device = next(model.parameters()).device if torch.distributed.get_backend() == "nccl" else "cpu"
            shared = torch.from_numpy(assignment).to(device)
            torch.distributed.broadcast(shared, src=0)
            assignment = shared.cpu().numpy()
        self.loss.set_cluster_assignment(assignment)
        self._instance_level = False
        seconds = time.perf_counter() - started
        step = state.global_step if state is not None else None
        # a fingerprint of the assignment: equal on every process when the broadcast worked
        checksum = int((assignment * (np.arange(len(assignment)) % 9973 + 1)).sum() % 1_000_000_007)
        self.history.append(
            {
                "step": step,
                "clusters": int(clusters),
                "instance_level": False,
                "seconds": seconds,
                "checksum": checksum,
            }
        )
        logger.info("MACLR clustering: step %s, %d clusters (%.1fs)", step, clusters, seconds)
        return assignment

    def encode(self, model) -> np.ndarray:
        was_training = model.training
        previous_length = getattr(model, "max_seq_length", None)
        if self.max_seq_length is not None and previous_length is not None:
            model.max_seq_length = min(self.max_seq_length, previous_length)
        try:
            embeddings = model.encode(
                self.documents,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=self.show_progress_bar,
            )
        finally:
            if previous_length is not None:
                model.max_seq_length = previous_length
            model.train(was_training)
        return np.asarray(embeddings, dtype=np.float32)
