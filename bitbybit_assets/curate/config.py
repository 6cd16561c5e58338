"""The curation stage's view of the settings: the ``curation``, ``embeddings`` and ``topics`` sections
together, as the pure curation code takes them (the models live in :mod:`bitbybit_base.settings_models`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bitbybit_base.settings import (
    CurationSettings,
    EmbeddingSettings,
    Settings,
    TopicSettings,
    runtime_settings,
)


@dataclass(frozen=True)
class CurateConfig:
    curation: CurationSettings = field(default_factory=CurationSettings)
    embeddings: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)


def curate_config(settings: Settings | None = None) -> CurateConfig:
    """The curation sections of ``settings`` (default: :func:`runtime_settings`), already validated."""
    s = settings or runtime_settings()
    return CurateConfig(curation=s.curation, embeddings=s.embeddings, topics=s.topics)
