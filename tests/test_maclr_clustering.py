"""Multi-scale adaptive clustering (MACLR Algorithm 1) as a TrainerCallback: K0 clusters at step 0, K doubling every
T_K steps, re-clustering every T_update steps, every document its own cluster from half of training on; inside a real
`SentenceTransformerTrainer` run, where the loss sees the callback's clusters."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from maclr_fixtures import PAIRS, tiny_encoder

from hf_xmc.maclr import AdaptiveClusteringCallback, ClusterContrastiveLoss
from hf_xmc.maclr.adaptive_clustering import cluster_count, kmeans_assign


class RecordingLoss:
    def __init__(self):
        self.assignments = []

    def set_cluster_assignment(self, cluster_ids):
        self.assignments.append(None if cluster_ids is None else np.asarray(cluster_ids))


class FakeEncoder:
    """Documents on a line: K-means of any K groups neighbours."""

    training = True

    def encode(self, texts, **kwargs):
        self.training = False  # as SentenceTransformer.encode does
        return np.arange(len(texts), dtype=np.float32)[:, None] * np.ones((1, 4), dtype=np.float32)

    def train(self, mode=True):
        self.training = mode


def run_schedule(callback, max_steps: int, batch_size: int = 64):
    state = SimpleNamespace(max_steps=max_steps, global_step=0)
    args = SimpleNamespace(per_device_train_batch_size=batch_size)
    model = FakeEncoder()
    callback.on_train_begin(args, state, None, model=model)
    for step in range(1, max_steps + 1):
        state.global_step = step
        callback.on_step_end(args, state, None, model=model)
        assert model.training  # encoding for the clustering puts the model back in training mode
    return callback.history


def test_k_doubles_every_t_k_steps_and_documents_become_their_own_clusters_at_half():
    loss = RecordingLoss()
    callback = AdaptiveClusteringCallback(loss, [f"doc {i}" for i in range(64)], 2, double_every=4, update_every=2)
    history = run_schedule(callback, max_steps=20)
    assert [(h["step"], h["clusters"]) for h in history if not h["instance_level"]] == [
        (0, 2), (2, 2), (4, 4), (6, 4), (8, 8),
    ]  # fmt: skip
    assert history[-1]["step"] == 10 and history[-1]["instance_level"]  # T_total / 2
    assert sum(h["instance_level"] for h in history) == 1  # switched once, not at every later step
    assert loss.assignments[-1] is None  # the loss is instance-level (eq. 2) for the second half
    assert [len(np.unique(a)) for a in loss.assignments[:-1]] == [2, 2, 4, 4, 8]
    assert cluster_count(100, 2, 4, num_rows=64) == 64  # K never exceeds the number of documents


def test_default_schedule_follows_the_reference_ratios():
    callback = AdaptiveClusteringCallback(RecordingLoss(), [f"doc {i}" for i in range(200)], 4)
    history = run_schedule(callback, max_steps=40)  # T_update = (40 / 2) // 10 = 2, T_K = 2 * T_update = 4
    steps = [h["step"] for h in history if not h["instance_level"]]
    assert steps == list(range(0, 20, 2))
    assert [h["clusters"] for h in history][:5] == [4, 4, 8, 8, 16]
    # fewer clusterings (each encodes every instance: what fits on CPU): T_update = 20 // 2 = 10, T_K = 20
    few = AdaptiveClusteringCallback(RecordingLoss(), [f"doc {i}" for i in range(200)], 4, num_updates=2)
    assert [(h["step"], h["clusters"]) for h in run_schedule(few, max_steps=40)] == [(0, 4), (10, 4), (20, 200)]


def test_more_clusters_than_batch_rows_warns_once(caplog):
    callback = AdaptiveClusteringCallback(RecordingLoss(), [f"doc {i}" for i in range(64)], 16, 1, 1)
    with caplog.at_level("WARNING"):
        run_schedule(callback, max_steps=6, batch_size=8)
    assert sum("no same-cluster partner" in r.message for r in caplog.records) == 1


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="set_cluster_assignment"):
        AdaptiveClusteringCallback(object(), ["a"], 2)
    with pytest.raises(ValueError, match="initial_clusters"):
        AdaptiveClusteringCallback(RecordingLoss(), ["a"], 0)
    with pytest.raises(ValueError, match="update_every"):
        AdaptiveClusteringCallback(RecordingLoss(), ["a"], 2, update_every=0)


def test_kmeans_groups_nearby_points():
    points = np.array([[0.0, 0], [0.1, 0], [10, 10], [10.1, 10]], dtype=np.float32)
    assignment = kmeans_assign(points, 2, seed=0)
    assert assignment[0] == assignment[1] != assignment[2] == assignment[3]
    assert kmeans_assign(points, 1).tolist() == [0, 0, 0, 0]
    assert kmeans_assign(points, 9).tolist() == [0, 1, 2, 3]


def test_callback_drives_the_loss_inside_sentence_transformer_trainer(tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    model = tiny_encoder()
    pairs = Dataset.from_dict(
        {"context": [p[0] for p in PAIRS], "title": [p[1] for p in PAIRS], "label": list(range(len(PAIRS)))}
    )
    loss = ClusterContrastiveLoss(model, scale=5.0, mini_batch_size=2)
    seen_groups = []
    original = loss.groups

    def recording_groups(labels, batch_size, device):
        groups = original(labels, batch_size, device)
        seen_groups.append(groups.tolist())
        return groups

    loss.groups = recording_groups
    callback = AdaptiveClusteringCallback(loss, pairs["context"], 2, double_every=100, update_every=100, seed=0)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), max_steps=4, per_device_train_batch_size=6, learning_rate=1e-3, use_cpu=True,
        report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0,
    )  # fmt: skip
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=pairs, loss=loss, callbacks=[callback])
    trainer.train()
    assert [h["clusters"] for h in callback.history] == [2, 6]  # K0, then instance level at step 2
    assert len(set(seen_groups[0])) <= 2  # the first half trained on the 2 clusters
    assert len(set(seen_groups[-1])) == 6  # the second half on instances
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 4 and all(np.isfinite(losses))
