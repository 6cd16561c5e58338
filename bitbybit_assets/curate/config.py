"""Typed views of the ``curation:``, ``embeddings:`` and ``topics:`` sections of production.yaml.

``load_settings()`` keeps those sections as plain dicts; they are validated here, with defaults, so
the pure curation code gets typed settings and a bad key fails loudly.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bitbybit_assets.settings import Settings, load_settings


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreWeights(_Model):
    """How ``final_score`` (0..10) combines the parts."""

    relevance: float = 0.6
    quality: float = 0.25
    coverage: float = 0.15  # cross-source coverage (distinct feeds in the story cluster)
    content_type: dict[str, float] = {}  # additive bonus per content type, e.g. {research: 0.3}
    stale_penalty_per_day: float = 0.75  # story first seen this many days ago -> minus this per day


class AdSettings(_Model):
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    # Feed categories that mark a publisher's own events / house ads (case-insensitive, exact).
    house_ad_categories: list[str] = []
    # Extra title regexes (case-insensitive) that mark an ad, as {name: pattern}.
    extra_title_patterns: dict[str, str] = {}
    # The embedding model: similarity margin to ad prototypes over editorial prototypes.
    model_weight: float = Field(0.6, ge=0.0, le=1.0)  # the most the model alone can give
    model_margin: float = 0.12  # margin at which the model gives half its weight
    model_temperature: float = 0.04


class CurationSettings(_Model):
    top_n: int = Field(20, ge=1)
    per_feed_cap: int = Field(6, ge=1)
    # Feeds of these categories (aggregators) are capped per linked domain instead of per feed.
    cap_by_domain_categories: list[str] = ["aggregator"]
    max_story_age_days: int = Field(1, ge=0)  # a story first seen longer ago (and never sent) is old news
    min_quality: float = 3.0
    min_relevance: float = 4.0
    mmr_lambda: float = Field(0.75, ge=0.0, le=1.0)
    cluster_window_days: int = Field(7, ge=0)
    cluster_threshold: float = 0.86  # cosine at which two articles are the same story outright
    cluster_min_similarity: float = 0.45  # cosine floor for a match backed by shared rare title tokens
    cluster_min_evidence: float = 0.95  # cosine + IDF-weighted title-token overlap for that match
    cluster_min_title_overlap_cjk: float = 0.15  # IDF-weighted overlap for CJK titles (tokens alone)
    cluster_min_shared_cjk: int = 3  # ... and at least this many shared rare tokens / bigrams
    cluster_min_evidence_cross_day: float = 1.1  # the same, linking to an earlier day's cluster
    cluster_rare_df: int = 5  # a title token in at most this many distinct titles of the window is rare
    cluster_linkage: float = 0.45  # mean cosine a row needs to the cluster it joins (stops chaining)
    ad_threshold: float | None = None  # legacy alias of ads.threshold
    ads: AdSettings = AdSettings()
    weights: ScoreWeights = ScoreWeights()
    topic_min_similarity: float = 0.3  # a topic is listed in ``topics`` above this cosine
    max_topics: int = 3
    relevance_floor: float = 0.15  # topic cosine that maps to relevance 0
    relevance_ceiling: float = 0.6  # topic cosine that maps to relevance 10
    offtopic_penalty: float = 1.0  # how strongly off-topic similarity pulls relevance down
    title_only_penalty: float = 1.5  # quality points off for title-only entries

    def ad_cutoff(self) -> float:
        return self.ad_threshold if self.ad_threshold is not None else self.ads.threshold


class EmbeddingSettings(_Model):
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(64, ge=1)
    max_chars: int = Field(2000, ge=100)  # longest text embedded (title + lead)
    device: str = "auto"  # auto | cpu | cuda
    backend: str = "auto"  # auto | torch | openvino
    cache_lookback_days: int = Field(400, ge=0)  # how far back article_embeddings is searched


class Topic(_Model):
    name: str
    weight: float = 1.0
    prototypes: list[str]


class KeywordGroup(_Model):
    """Title terms (whole words, case-insensitive) worth ``points`` of relevance (once per group)."""

    name: str
    points: float
    terms: list[str]
    case_sensitive: bool = False  # for short acronyms that are also common words


class TopicSettings(_Model):
    topics: list[Topic] = []
    keyword_groups: list[KeywordGroup] = []
    keyword_max_points: float = 4.0  # cap on the summed keyword points
    lead_keyword_factor: float = 0.5  # a term found only in the lead counts this much
    category_prior: dict[str, float] = {}  # feed category -> relevance points (e.g. ai-lab: 2)
    offtopic: list[str] = []  # prototypes of what an AI/tech newsletter does not cover
    content_types: dict[str, list[str]] = {}
    ad_prototypes: list[str] = []
    editorial_prototypes: list[str] = []


class CurateConfig(_Model):
    curation: CurationSettings = CurationSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    topics: TopicSettings = TopicSettings()


def curate_config(settings: Settings | None = None) -> CurateConfig:
    """Validate the curation sections of ``settings`` (default: ``load_settings()``)."""
    s = settings or load_settings()
    return CurateConfig(
        curation=CurationSettings.model_validate(s.curation or {}),
        embeddings=EmbeddingSettings.model_validate(s.embeddings or {}),
        topics=TopicSettings.model_validate(s.topics or {}),
    )
