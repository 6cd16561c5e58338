"""Offline tags (bitbybit_assets/enhance/tags.py) and the TF-IDF fallback encoder (vectors.py)."""

from __future__ import annotations

import numpy as np

from bitbybit_assets.enhance import tags as offline
from bitbybit_assets.enhance.vectors import tfidf_encoder, tokenize


def test_keyphrases_prefer_names_and_repeated_phrases():
    title = "Travis Kalanick’s robotics startup Atoms taps former Uber finance chief as CFO"
    text = (
        "Kalanick continues to get the band back together, after acquiring Anthony Levandowski's autonomy "
        "startup, and even soliciting investment from Uber itself. Uber said the robotics startup is growing."
    )
    phrases = offline.keyphrases(title, text, k=5)
    assert "travis kalanick" in phrases and "uber" in phrases
    assert not any(p in phrases for p in ("taps", "former", "steps"))
    words = [w for p in phrases for w in p.split()]
    assert len(words) == len(set(words))  # no word in two tags


def test_tags_three_to_five_and_zero_shot_labels_without_model():
    index = offline.LabelIndex(offline.DEFAULT_TOPIC_LABELS, None)
    tags = offline.make_tags(
        "Critical flaw in VPN appliance exploited",
        "Attackers exploit a vulnerability. The security vendor shipped a patch for the vulnerability and the breach.",
        label_index=index,
    )
    assert 3 <= len(tags) <= 5 and tags[0] == "security"
    few = offline.make_tags("Hi", "", label_index=index, content_type="release", source="Acme")
    assert 3 <= len(few) <= 5 and "release" in few


def test_merge_tags_skips_repeats_and_subsumed_tags():
    assert offline.merge_tags(["AI Agents", "#ai"], ["agent", "Rust"], tags_max=5) == ["ai agents", "rust"]
    assert offline.topic_tag("ai-agents-and-coding") == "ai agents & coding"


def test_tfidf_encoder_rows_are_unit_and_similar_texts_close():
    enc = tfidf_encoder(["rust compiler release", "gpu chips from nvidia", "the rust compiler is fast"])
    m = enc(["rust compiler", "nvidia gpu chips", ""])
    assert np.allclose(np.linalg.norm(m[:2], axis=1), 1.0) and not m[2].any()
    assert m[0] @ enc(["fast rust compiler"])[0] > m[1] @ enc(["fast rust compiler"])[0]
    assert tokenize("C++ and Node.js, GPT-4's") == ["c++", "and", "node.js", "gpt-4's"]
