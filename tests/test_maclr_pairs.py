"""MACLR training pairs: stage-I inverse-cloze (context, title) pairs and stage-II pseudo pairs (encoder top-k and
TF-IDF top-k, score thresholds), with the documented behaviour for documents that give no pair."""

from __future__ import annotations

import numpy as np
import pytest
from maclr_fixtures import tiny_encoder

from hf_xmc.data import XMCInputError
from hf_xmc.maclr import TfidfLabelRetriever, build_self_training_pairs, ict_pairs
from hf_xmc.maclr.pairs import ict_pair, split_sentences
from hf_xmc.maclr.self_training import pseudo_pairs, select_pseudo_labels


def test_sentences_split_on_end_punctuation_and_line_breaks():
    assert split_sentences("One. Two! Three?\nFour") == ["One.", "Two!", "Three?", "Four"]
    assert split_sentences("   ") == []


def test_title_is_removed_with_the_given_probability():
    content = "Foo Tool edits files. It is fast. Foo Tool is free."
    always = ict_pair("Foo Tool", content, np.random.default_rng(0), remove_title_probability=1.0)
    never = ict_pair("Foo Tool", content, np.random.default_rng(0), remove_title_probability=0.0)
    assert always == ("edits files. It is fast. is free.", "Foo Tool")
    assert never == (content, "Foo Tool")
    # decided per sentence: over many documents about 90% of the sentences lose the title
    rng = np.random.default_rng(1)
    kept = sum("Foo Tool" in ict_pair("Foo Tool", "Foo Tool x.", rng, 0.9)[0] for _ in range(2000))
    assert 0.07 < kept / 2000 < 0.13


def test_document_without_title_uses_its_first_sentence():
    pair = ict_pair("", "Graph library. Reads files. Writes files.", np.random.default_rng(0))
    assert pair == ("Reads files. Writes files.", "Graph library.")


def test_documents_without_context_are_skipped_and_counted():
    dataset, stats = ict_pairs(
        ["a title", "", "dup", "dup", "t"],
        ["Some content here.", "Only one sentence", "Body one.", "Body two.", ""],
        seed=0,
    )
    assert dataset.column_names == ["context", "title", "label"]  # the trainer's inputs, then the row id
    assert dataset["title"] == ["a title", "dup"]
    assert dataset["label"] == [0, 1]
    assert stats["skipped_no_context"] == 2 and stats["dropped_duplicate_titles"] == 1
    assert stats["document_positions"] == [0, 2]
    kept, kept_stats = ict_pairs(["dup", "dup"], ["A.", "B."], duplicate_titles="keep")
    assert len(kept) == 2 and kept_stats["dropped_duplicate_titles"] == 0


def test_no_pair_at_all_is_a_clear_error():
    with pytest.raises(XMCInputError, match="no ICT pair"):
        ict_pairs(None, ["single sentence", ""])
    with pytest.raises(ValueError, match="remove_title_probability"):
        ict_pairs(["t"], ["c."], remove_title_probability=1.5)


def test_tfidf_ranks_labels_sharing_words_and_excludes_ids():
    labels = ["python graph library", "web server", "sound editor"]
    retriever = TfidfLabelRetriever(labels, fit_documents=["python graph tools", "a web server for files"])
    ids, scores = retriever.search(["a graph library in python", "fast web server"], k=2)
    assert ids[0, 0] == 0 and ids[1, 0] == 1
    assert scores[0, 0] > 0 and (ids[0, 1] == -1 or scores[0, 1] < scores[0, 0])
    ids, _ = retriever.search(["a graph library in python"], k=1, exclude=[[0]])
    assert ids[0, 0] != 0


def test_pseudo_labels_respect_k_and_threshold():
    ids = np.array([[3, 1, 2], [0, -1, -1]])
    scores = np.array([[0.9, 0.5, 0.1], [0.2, -np.inf, -np.inf]])
    assert select_pseudo_labels(ids, scores, k=2) == [[3, 1], [0]]
    assert select_pseudo_labels(ids, scores, k=3, min_score=0.4) == [[3, 1], []]


def test_pseudo_pairs_merge_both_views_per_document():
    dataset, stats = pseudo_pairs(["doc a", "doc b"], ["L0", "L1", "L2"], [[0, 1], [2]], [[1], [0]])
    assert dataset.column_names == ["document", "label_text", "label"]
    assert list(zip(dataset["document"], dataset["label_text"], dataset["label"])) == [
        ("doc a", "L0", 0), ("doc a", "L1", 0), ("doc b", "L2", 1), ("doc b", "L0", 1),
    ]  # fmt: skip
    assert stats["encoder_pairs"] == 3 and stats["tfidf_pairs"] == 2 and stats["pairs"] == 4
    with pytest.raises(ValueError, match="no pseudo pair"):
        pseudo_pairs(["doc"], ["L0"], [[]], None)


def test_pseudo_pairs_agreement_keeps_only_the_labels_both_views_chose():
    views = ([[0, 1], [2]], [[1], [0]])
    dataset, stats = pseudo_pairs(["doc a", "doc b"], ["L0", "L1", "L2"], *views, merge="agreement")
    assert list(zip(dataset["document"], dataset["label_text"], dataset["label"])) == [("doc a", "L1", 0)]
    assert stats["pairs"] == 1 and stats["documents_with_pairs"] == 1
    with pytest.raises(ValueError, match="needs the encoder's and TF-IDF's"):
        pseudo_pairs(["doc"], ["L0"], [[0]], None, merge="agreement")
    with pytest.raises(ValueError, match="merge='both'"):
        pseudo_pairs(["doc"], ["L0"], [[0]], [[0]], merge="both")


def test_self_training_pairs_from_encoder_and_tfidf():
    labels = ["python graph", "web server", "sound video", "math science"]
    documents = ["python library for graph data", "web server software", "math science data file"]
    encoder = tiny_encoder()
    dataset, stats = build_self_training_pairs(encoder, documents, labels, k=2, tfidf_k=1)
    assert stats["encoder_pairs"] == 6  # 2 per document
    assert stats["tfidf_pairs"] == 3
    # TF-IDF's choice shares words with its document
    tfidf_first = [dataset["label_text"][i] for i in range(len(dataset)) if dataset["label"][i] == 1]
    assert "web server" in tfidf_first
    only_tfidf, only_stats = build_self_training_pairs(encoder, documents, labels, k=1, use_encoder=False)
    assert only_stats["encoder_pairs"] == 0 and len(only_tfidf) == 3
    high, _ = build_self_training_pairs(encoder, documents, labels, k=2, encoder_min_score=1e9, use_tfidf=True)
    assert len(high) == 3  # the threshold removed every encoder pair
