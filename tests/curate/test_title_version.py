"""f_title_version: the title names a versioned thing (a model, a chip, a release)."""

from __future__ import annotations

import pytest

from bitbybit_assets.curate.scoring import has_version


@pytest.mark.parametrize(
    "title",
    [
        "Gemini 3.7 Flash",
        "Introducing Grok 4.6",
        "DeepSeek V4 Pro",
        "GPT-5.6 Sol in ChatGPT",
        "Kimi K3",
        "Racket v9.3",
    ],
)
def test_versioned_titles(title):
    assert has_version(title)


@pytest.mark.parametrize(
    "title",
    [
        "Cursor is now a part of SpaceX",
        "Lovable confirms new $13.3B valuation, raises another $400M",
        "Top 10 tools for 2026",
        "3.5% growth in chip sales",
        "Zorblax launches Quillon 3",
        None,
    ],
)
def test_money_shares_counts_and_plain_numbers_are_not_versions(title):
    assert not has_version(title)
