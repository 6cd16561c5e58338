"""The embedding cache: a second run over the same texts encodes nothing."""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import polars as pl

from bitbybit_assets.curate.embedding_cache import embedding_rows, vector_map
from bitbybit_assets.curate.text import embed_text, text_hash, with_text
from bitbybit_assets.schemas import ARTICLE_EMBEDDINGS

from .conftest import article, frame


class CountingEncoder:
    """Deterministic fake vectors; counts what it is asked to encode."""

    def __init__(self, dim: int = 8):
        self.dim = dim
        self.calls = 0
        self.texts: list[str] = []

    def encode(self, texts):
        texts = list(texts)
        if texts:
            self.calls += 1
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def texts_frame(day: date) -> pl.DataFrame:
    rows = [
        article("Alpha ships a compiler", day=day, text="Alpha released version 2 of its compiler."),
        article("Beta raises money", day=day, feed="hn"),
        article("Beta raises money", day=day, feed="hn", url="https://other.example.com/beta"),  # same text
    ]
    return with_text(frame(rows))


def test_second_run_encodes_nothing_and_reuses_any_day():
    enc = CountingEncoder()
    day1 = texts_frame(date(2026, 8, 5))
    rows1, n1 = embedding_rows(day1, None, enc.encode, "m")
    assert n1 == 2 and enc.calls == 1  # two distinct texts, one batch
    assert rows1.schema == pl.Schema(ARTICLE_EMBEDDINGS)
    assert rows1.height == 2 and rows1["dim"].to_list() == [8, 8]

    # re-run of the same day, and a later day with the same texts: nothing encoded
    rows_again, n_again = embedding_rows(day1, rows1, enc.encode, "m")
    day2 = texts_frame(date(2026, 8, 6))
    rows2, n2 = embedding_rows(day2, rows1, enc.encode, "m")
    assert (n_again, n2) == (0, 0) and enc.calls == 1
    assert rows2["partition_date"].unique().to_list() == [date(2026, 8, 6)]
    assert vector_map(rows2).keys() == vector_map(rows1).keys()
    np.testing.assert_array_equal(
        rows2.sort("text_hash")["embedding"].to_list(), rows1.sort("text_hash")["embedding"].to_list()
    )


def test_other_model_or_changed_text_is_encoded():
    enc = CountingEncoder()
    day1 = texts_frame(date(2026, 8, 5))
    rows1, _ = embedding_rows(day1, None, enc.encode, "m")
    _, n_other_model = embedding_rows(day1, rows1, enc.encode, "other-model")
    assert n_other_model == 2
    changed = day1.with_columns(
        pl.lit("Alpha ships a compiler, updated").alias("embed_text"), pl.lit("h-new").alias("text_hash")
    )
    _, n_changed = embedding_rows(changed, rows1, enc.encode, "m")
    assert n_changed == 1


def test_embed_text_and_hash():
    assert embed_text("Title", "") == "Title"
    assert embed_text("Title", "Body  text\nhere") == "Title. Body text here"
    assert embed_text("Title", "Title: the body") == "Title. the body"
    long = embed_text("T", "word " * 1000, max_chars=200)
    assert len(long) <= 200 and not long.endswith(" ")
    assert text_hash("a") == text_hash("a") != text_hash("b") and len(text_hash("a")) == 32
