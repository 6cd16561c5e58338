"""filtered_articles -> scored_articles for one or more days (pure: no Dagster, no I/O).

Days are processed in order; each day sees the earlier days of the run plus the stored history
(``scored_articles`` of the ``cluster_window_days`` before it) for clustering and "already sent".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import polars as pl

from bitbybit_assets.curate import ads as ads_mod
from bitbybit_assets.curate import pick_check, text_score
from bitbybit_assets.curate.clustering import ClusterRows, assign_clusters, cjk_share
from bitbybit_assets.curate.config import CurateConfig
from bitbybit_assets.curate.embedding_cache import optional_matrix
from bitbybit_assets.curate.ranker import Ranker, feature_matrix, load_ranker
from bitbybit_assets.curate.scoring import (
    KeywordScorer,
    Prototypes,
    content_types,
    coverage_score,
    final_score,
    has_version,
    offtopic_similarity,
    quality_score,
    relevance_scores,
    topic_labels,
)
from bitbybit_assets.curate.selection import Candidate, select
from bitbybit_assets.curate.text import with_text
from bitbybit_assets.schemas import SCORED_ARTICLES, conform

log = logging.getLogger(__name__)

# Columns of earlier scored_articles days that curation reads back.
HISTORY_COLUMNS = [
    "partition_date",
    "entry_key",
    "article_id",
    "feed_name",
    "title",
    "url",
    "text_hash",
    "cluster_id",
    "selected",
    "passed_filter",
    "feed_trust",
    "language",
]


def _vectors(hashes: list[str], vectors: Mapping[str, np.ndarray], dim: int) -> np.ndarray:
    if not hashes:
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([np.asarray(vectors[h], dtype=np.float32) for h in hashes])


def _dim(vectors: Mapping[str, np.ndarray]) -> int:
    for v in vectors.values():
        return int(np.asarray(v).shape[-1])
    return 1


def curate_days(
    filtered: pl.DataFrame,
    vectors: Mapping[str, np.ndarray],
    history: pl.DataFrame | None,
    protos: Prototypes,
    config: CurateConfig,
    ranker: Ranker | None | str = "config",
    ml_vectors: Mapping[str, np.ndarray] | None = None,
    title_vectors: Mapping[str, np.ndarray] | None = None,
) -> pl.DataFrame:
    """scored_articles for every day in ``filtered``.

    ``ml_vectors`` (optional) maps text_hash -> multilingual embedding (``embeddings.multilingual_model``):
    clustering then also links stories across languages (rows without one are clustered without it).
    ``title_vectors`` (optional) maps text_hash -> the title vector of a CJK-titled row
    (``embeddings.cjk_title_model``): clustering then also links two CJK titles by it.

    ``vectors`` maps text_hash -> embedding for every row of ``filtered`` and of ``history``
    (history rows without a vector are left out of clustering, with a warning). With a ``ranker`` (by
    default the one ``curation.ranker`` names: the packaged artefact, see ``curate.ranker``)
    ``final_score`` is its model score and its pick floor replaces ``min_relevance``/``min_quality``;
    with ``None`` the hand-weighted formula is used.
    """
    cfg = config.curation
    if isinstance(ranker, str):  # "config": the ranker curation.ranker names (default: the artefact)
        ranker = load_ranker(cfg.ranker)
    if filtered.is_empty():
        return conform(pl.DataFrame(), SCORED_ARTICLES).clear()
    rows = with_text(filtered, config.embeddings.max_chars)
    dim = _dim(vectors)
    hist = _history_frame(history)
    out: list[pl.DataFrame] = []
    for day in sorted(rows["partition_date"].unique().to_list()):
        day_rows = rows.filter(pl.col("partition_date") == day)
        start = day - timedelta(days=cfg.cluster_window_days)
        window = hist.filter((pl.col("partition_date") >= start) & (pl.col("partition_date") < day))
        missing = window.filter(~pl.col("text_hash").is_in(list(vectors.keys())))
        if missing.height:
            log.warning("%d history rows have no stored embedding; left out of clustering", missing.height)
            window = window.filter(pl.col("text_hash").is_in(list(vectors.keys())))
        scored = score_day(day, day_rows, window, vectors, dim, protos, config, ranker, ml_vectors, title_vectors)
        out.append(scored)
        hist = pl.concat([hist, _history_frame(scored)], how="vertical_relaxed")
    return pl.concat(out, how="vertical_relaxed")


def _history_frame(df: pl.DataFrame | None) -> pl.DataFrame:
    schema = {c: SCORED_ARTICLES[c] for c in HISTORY_COLUMNS}
    if df is None or df.is_empty() or not set(HISTORY_COLUMNS) <= set(df.columns):
        return pl.DataFrame(schema=schema)
    return conform(df, schema)


def score_day(
    day: date,
    day_rows: pl.DataFrame,
    window: pl.DataFrame,
    vectors: Mapping[str, np.ndarray],
    dim: int,
    protos: Prototypes,
    config: CurateConfig,
    ranker: Ranker | None = None,
    ml_vectors: Mapping[str, np.ndarray] | None = None,
    title_vectors: Mapping[str, np.ndarray] | None = None,
) -> pl.DataFrame:
    """Score, cluster and select one day (``day_rows`` already carry ``text_hash``)."""
    cfg = config.curation
    n = day_rows.height
    emb = _vectors(day_rows["text_hash"].to_list(), vectors, dim)
    hemb = _vectors(window["text_hash"].to_list(), vectors, dim)
    titles = day_rows["title"].to_list()
    cats = day_rows["categories"].to_list() if "categories" in day_rows.columns else [None] * n
    texts = day_rows["clean_text"].to_list() if "clean_text" in day_rows.columns else [None] * n
    feeds = day_rows["feed_name"].to_list()
    trust = day_rows["feed_trust"].to_list()
    words = day_rows["word_count"].to_list()
    passed = [bool(p) for p in day_rows["passed_filter"].fill_null(False).to_list()]
    keys = day_rows["entry_key"].to_list()

    # --- clusters over window + day
    all_hashes = window["text_hash"].to_list() + day_rows["text_hash"].to_list()
    crow = ClusterRows(
        keys=window["entry_key"].to_list() + keys,
        titles=window["title"].to_list() + titles,
        emb=np.concatenate([hemb, emb]) if hemb.shape[0] else emb,
        history_cluster=window["cluster_id"].to_list() + [None] * n,
        same_article=window["article_id"].to_list() + day_rows["article_id"].to_list(),
        duplicate_of=[None] * window.height + day_rows["duplicate_of"].to_list(),
        emb_ml=optional_matrix(all_hashes, ml_vectors),
        emb_title=optional_matrix(all_hashes, title_vectors),
    )
    cluster_all = assign_clusters(crow, cfg)
    cluster = cluster_all[window.height :]
    # the looser second same-story check among the picks and against what was already sent
    sent_w = window["selected"].fill_null(False).to_list()
    related, like = pick_check.for_day(crow, sent_w, window["partition_date"].to_list(), cfg)

    # --- ads
    mscore, mproto = ads_mod.model_scores(emb, protos.ad, protos.editorial, cfg.ads)
    ad_dec = []
    for i in range(n):
        hits = ads_mod.rule_signals(titles[i], cats[i], texts[i], cfg.ads)
        proto = protos.ad_sentences[int(mproto[i])] if protos.ad_sentences else ""
        ad_dec.append(
            ads_mod.combine(hits, float(mscore[i]), f"model: close to '{proto}'", cfg.ads.threshold)
        )

    # --- relevance, quality, type, topics
    rel, sims = relevance_scores(emb, protos, cfg)
    kw = KeywordScorer(config.topics)
    prior = config.topics.category_prior
    fcat = day_rows["feed_category"].to_list() if "feed_category" in day_rows.columns else [None] * n
    kw_points = [kw.points(titles[i], texts[i]) for i in range(n)]
    rel = np.array(
        [min(10.0, max(0.0, float(rel[i]) + kw_points[i] + prior.get(fcat[i] or "", 0.0))) for i in range(n)]
    )
    topics = topic_labels(sims, protos.topic_names, cfg)
    qual = [quality_score(titles[i], words[i], trust[i], cfg) for i in range(n)]
    ctype = content_types(titles, emb, protos)

    # --- cluster facts over the window
    w_dates = window["partition_date"].to_list()
    w_sent = window["selected"].fill_null(False).to_list()
    w_lang = window["language"].to_list() if "language" in window.columns else [None] * window.height
    langs = day_rows["language"].to_list() if "language" in day_rows.columns else [None] * n
    members: dict[str, list[dict]] = {}
    for j in range(window.height):
        members.setdefault(cluster_all[j], []).append(
            {
                "day": w_dates[j],
                "feed_name": window["feed_name"][j],
                "title": window["title"][j],
                "url": window["url"][j],
                "key": window["entry_key"][j],
                "sent": bool(w_sent[j]),
                "lang": _language(w_lang[j], window["title"][j]),
            }
        )
    urls = day_rows["url"].to_list()
    for i in range(n):
        members.setdefault(cluster[i], []).append(
            {
                "day": day,
                "feed_name": feeds[i],
                "title": titles[i],
                "url": urls[i],
                "key": keys[i],
                "sent": False,
                "lang": _language(langs[i], titles[i]),
            }
        )

    # story relevance: the best of the day's rows of the cluster (relevance follows the story)
    story_rel: dict[str, float] = {}
    for i in range(n):
        if passed[i] and not ad_dec[i].is_advertisement:
            story_rel[cluster[i]] = max(story_rel.get(cluster[i], 0.0), float(rel[i]))

    # canonical per cluster among the day's rows: eligible first, then a row in its own language over
    # a translation, then the most trusted source, then text over title-only, then the richer text,
    # then feed order
    translated = (
        day_rows["translated_by"].is_not_null().to_list()
        if "translated_by" in day_rows.columns
        else [False] * n
    )

    def canon_key(i: int) -> tuple:
        t = trust[i] if trust[i] is not None else 0.5
        title_only = (words[i] or 0) == 0
        return (
            not passed[i],
            ad_dec[i].is_advertisement,
            translated[i],
            -round(t, 2),
            title_only,
            -(words[i] or 0),
            -rel[i],
            i,
        )

    canon: dict[str, int] = {}
    order = sorted(range(n), key=canon_key)
    preference = {i: k for k, i in enumerate(order)}
    for i in order:
        canon.setdefault(cluster[i], i)

    size, sent_on, first_day, n_feeds, n_langs = {}, {}, {}, {}, {}
    for cid, mem in members.items():
        size[cid] = len(mem)
        sent = sorted(m["day"] for m in mem if m["sent"])
        sent_on[cid] = sent[0].isoformat() if sent else None
        first_day[cid] = min(m["day"] for m in mem)
        n_feeds[cid] = len({m["feed_name"] for m in mem})
        n_langs[cid] = len({m["lang"] for m in mem})

    # --- the ranker's features (columns of scored_articles, so picks are explainable from them)
    off = offtopic_similarity(emb, protos)
    feats: dict[str, list] = {
        "f_topic_similarity": [float(v) for v in (sims.max(axis=1) if sims.shape[1] else np.zeros(n))],
        "f_offtopic_similarity": [float(v) for v in off],
        "f_keyword_points": kw_points,
        "f_source_trust": [0.5 if t is None or math.isnan(t) else float(t) for t in trust],
        "f_coverage_feeds": [float(n_feeds[c] - 1) for c in cluster],
        "f_coverage_languages": [float(n_langs[c] - 1) for c in cluster],
        "f_story_age_days": [float((day - first_day[c]).days) for c in cluster],
        "f_text_words": [math.log1p(w or 0) for w in words],
        "f_title_only": [1.0 if not (w or 0) else 0.0 for w in words],
        "f_title_words": [float(len((t or "").split())) for t in titles],
        "f_cjk_share": [cjk_share(t) for t in titles],
        "f_ad_score": [d.ad_score for d in ad_dec],
        "f_title_version": [1.0 if has_version(t) else 0.0 for t in titles],
    }
    feats = {k: [round(float(v), 4) for v in vals] for k, vals in feats.items()}
    mlm = config.embeddings.multilingual_model  # f_text_score reads its vectors (curate/text_score.py)
    feats["f_text_score"] = text_score.row_scores(ranker, day_rows["text_hash"].to_list(), ml_vectors, mlm)
    model_score: list[float | None] = [None] * n
    explain: list[str | None] = [None] * n
    if ranker is not None:
        x = feature_matrix({**feats, "feed_category": fcat, "content_type": ctype}, ranker.features)
        model_score = [round(float(v), 4) for v in ranker.score(x)]
        explain = ranker.explain_rows(x)

    story_model: dict[str, float] = {}
    if ranker is not None:
        for i in range(n):
            if passed[i] and not ad_dec[i].is_advertisement:
                story_model[cluster[i]] = max(story_model.get(cluster[i], 0.0), float(model_score[i]))

    final = []
    for i in range(n):
        cid = cluster[i]
        if ranker is not None:
            # the story's score is the best of its eligible rows today (relevance follows the story)
            m = max(float(model_score[i]), story_model.get(cid, 0.0))
            final.append(10.0 * m * (1.0 - min(max(ad_dec[i].ad_score, 0.0), 1.0)))
            continue
        stale = (day - first_day[cid]).days
        r = max(float(rel[i]), story_rel.get(cid, 0.0))
        final.append(
            final_score(r, qual[i], coverage_score(n_feeds[cid]), ctype[i], ad_dec[i].ad_score, stale, cfg)
        )

    domains = day_rows["domain"].to_list() if "domain" in day_rows.columns else [None] * n
    cap_domain = set(cfg.cap_by_domain_categories)
    cands = [
        Candidate(
            key=keys[i],
            feed_name=feeds[i],
            title=titles[i],
            final_score=final[i],
            quality_score=qual[i],
            relevance_score=max(float(rel[i]), story_rel.get(cluster[i], 0.0)),
            passed_filter=passed[i],
            filter_reason=day_rows["filter_reason"][i],
            is_advertisement=ad_dec[i].is_advertisement,
            is_canonical=canon[cluster[i]] == i,
            canonical_title=titles[canon[cluster[i]]],
            previously_sent_on=sent_on[cluster[i]],
            cap_key=domains[i] if fcat[i] in cap_domain and domains[i] else feeds[i],
            cluster_id=cluster[i],
            preference=preference[i],
            first_seen_on=(
                first_day[cluster[i]].isoformat()
                if (day - first_day[cluster[i]]).days > cfg.max_story_age_days
                else None
            ),
            content_type=ctype[i],
            below_floor=None if ranker is None else final[i] < 10.0 * ranker.pick_floor,
            like_sent=like[i] if sent_on[cluster[i]] is None else None,
        )
        for i in range(n)
    ]
    sel = select(cands, emb, cfg, related)
    canon.update(sel.representative)  # a row picked in place of a capped canonical represents the story

    also = []
    for i in range(n):
        cid = cluster[i]
        others = []
        if canon[cid] == i:
            seen = set()
            for m in members[cid]:
                ident = (m["feed_name"], m["url"])
                if m["key"] == keys[i] or ident in seen:
                    continue
                seen.add(ident)
                others.append({"feed_name": m["feed_name"], "title": m["title"], "url": m["url"]})
        # a stable order, whatever order the window's rows were read in
        also.append(sorted(others, key=lambda o: (o["feed_name"] or "", o["url"] or "", o["title"] or "")))

    out = day_rows.drop("embed_text").with_columns(
        pl.Series("is_advertisement", [d.is_advertisement for d in ad_dec], dtype=pl.Boolean),
        pl.Series("ad_score", [d.ad_score for d in ad_dec], dtype=pl.Float64),
        pl.Series("ad_reason", [d.ad_reason for d in ad_dec], dtype=pl.String),
        pl.Series("quality_score", [round(q, 2) for q in qual], dtype=pl.Float64),
        pl.Series("tech_relevance_score", [round(float(r), 2) for r in rel], dtype=pl.Float64),
        pl.Series("content_type", ctype, dtype=pl.String),
        pl.Series("topics", topics, dtype=pl.List(pl.String)),
        pl.Series("cluster_id", cluster, dtype=pl.String),
        pl.Series("cluster_size", [size[c] for c in cluster], dtype=pl.Int32),
        pl.Series("is_canonical", [canon[cluster[i]] == i for i in range(n)], dtype=pl.Boolean),
        pl.Series("canonical_entry_key", [keys[canon[c]] for c in cluster], dtype=pl.String),
        pl.Series("also_covered_by", also, dtype=SCORED_ARTICLES["also_covered_by"]),
        pl.Series("previously_sent", [sent_on[c] is not None for c in cluster], dtype=pl.Boolean),
        pl.Series("final_score", [round(f, 4) for f in final], dtype=pl.Float64),
        pl.Series("rank", sel.rank, dtype=pl.Int32),
        pl.Series("selected", sel.selected, dtype=pl.Boolean),
        pl.Series("selection_reason", sel.reason, dtype=pl.String),
    )
    out = out.with_columns(
        *[pl.Series(k, v, dtype=pl.Float64) for k, v in feats.items()],
        pl.Series("model_score", model_score, dtype=pl.Float64),
        pl.Series("score_explanation", explain, dtype=pl.String),
        pl.lit(ranker.version if ranker is not None else None, dtype=pl.String).alias("ranker_version"),
        pl.lit(sum(sel.selected) < cfg.top_n, dtype=pl.Boolean).alias("quiet_day"),
    )
    return conform(out, SCORED_ARTICLES)


def _language(code: str | None, title: str | None) -> str:
    """The row's language for coverage counting: the detected code, else CJK titles count as zh."""
    if code:
        return code
    return "zh" if cjk_share(title) > 0.3 else "en"
