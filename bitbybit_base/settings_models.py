"""Every section of ``config/production.yaml`` as a typed model (pydantic only: no Dagster, no I/O).

The one place a setting's name, type, range and default are written. :class:`bitbybit_base.settings.Settings`
holds one of each; stages and resources receive these models (or the values in them), never the raw
mapping. Unknown keys are refused (``extra="forbid"``) so a typo fails at load, naming the key.

Over 400 lines because it is one pydantic model per section of ``production.yaml``, kept together as
the single place every setting is declared.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    """Base of every section model: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- pipeline, ingest, content filter


class PipelineSettings(_Section):
    start_date: date = date(2026, 7, 18)
    timezone: str = "UTC"
    schedule_cron: str = "30 6 * * *"
    schedule_timezone: str = "UTC"
    newsletter_deadline_hours: int = 9


class FetchSettings(_Section):
    """``ingest.fetch``: live HTTP limits. Out-of-range values fail at load, naming the key."""

    timeout_seconds: float = Field(20.0, gt=0, le=600)  # connect, each read and one attempt end to end
    # everything for one feed (DNS, every redirect, retry and Retry-After wait) ends by this deadline
    feed_deadline_seconds: float = Field(120.0, gt=0, le=3600)
    max_bytes: int = Field(10 * 1024 * 1024, ge=1, le=1024**3)
    max_redirects: int = Field(5, ge=0, le=20)
    max_retries: int = Field(2, ge=0, le=10)
    max_retry_after_seconds: float = Field(120.0, ge=0, le=3600)
    concurrency: int = Field(8, ge=1, le=64)
    per_host_delay_seconds: float = Field(1.0, ge=0, le=60)
    user_agent: str = Field("bitbybit/0.1 (newsletter curation bot)", min_length=1, max_length=300)
    allow_private_addresses: bool = False

    @field_validator("user_agent")
    @classmethod
    def _header_safe(cls, v: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError("user_agent must not contain control characters (it is an HTTP header)")
        return v


class IngestLimits(_Section):
    """``ingest.limits``: caps on what one feed can put into the lakehouse (defaults fit every
    real feed of the corpus with a wide margin: longest title 263 characters, longest text
    46k characters, most entries 253, largest document 1.2 MB)."""

    max_document_bytes: int = Field(10 * 1024 * 1024, ge=1024)  # larger documents are refused
    max_entries_per_feed: int = Field(1000, ge=1)  # the first N entries of a document are kept
    max_title_chars: int = Field(500, ge=20)  # longer titles are cut (with an ellipsis)
    max_summary_chars: int = Field(100_000, ge=200)  # clean text of one entry
    max_html_chars: int = Field(500_000, ge=1000)  # each of summary_html / content_html
    max_url_chars: int = Field(2048, ge=64)  # longer links are dropped


class IngestSettings(_Section):
    history_days: int = Field(30, ge=0)
    allow_missing_history: bool = False
    fetch: FetchSettings = FetchSettings()
    limits: IngestLimits = IngestLimits()


class TranslationSettings(_Section):
    """``content_filter.translation:``: rows dropped only for their language, in one of ``languages``,
    get their title and lead translated into the newsletter's language (the first of
    ``allowed_languages``) when an LLM endpoint is configured, and become eligible. Offline: nothing."""

    languages: list[str] = []  # e.g. ["zh"]; empty: off
    batch_size: int = Field(12, ge=1, le=50)  # rows per LLM call
    max_per_day: int = Field(200, ge=0)  # rows translated per day at most (most trusted feeds first)
    max_chars: int = Field(600, ge=50, le=5000)  # of the body's lead sent per row


class ContentFilterSettings(_Section):
    min_words: int = 3
    min_chars: int = 12
    max_age_days: int = 7
    max_future_hours: int = 36
    allowed_languages: list[str] = ["en"]
    blocked_domains: list[str] = []
    blocked_keywords: list[str] = []
    blocked_title_patterns: list[str] = []
    translation: TranslationSettings = TranslationSettings()


class DeliverySettings(_Section):
    """``delivery:``: subscribers, approval and sending (transport secrets come from the environment)."""

    approval: Literal["manual", "auto"] = "manual"
    # auto mode: a day's issue is approved (by "auto") once every blocking check passed and this
    # local time of the day after the partition is reached, in ``send_timezone``
    send_time: str = Field("07:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    send_timezone: str = "UTC"
    double_opt_in: bool = False
    transport: Literal["smtp", "ses"] = "smtp"
    rate_per_second: float = Field(10.0, gt=0, le=1000)
    batch_size: int = Field(50, ge=1, le=1000)  # messages per SMTP connection before reconnecting
    max_attempts: int = Field(3, ge=1, le=10)  # tries per recipient within one run (4xx, throttling)
    retry_backoff_seconds: float = Field(2.0, ge=0)
    timeout_seconds: float = Field(30.0, gt=0)
    claim_timeout_minutes: int = Field(30, ge=1)  # a claim older than this from a dead run is "in doubt"
    public_url: str = "http://127.0.0.1:8000"  # where the desk (unsubscribe/confirm links) is reached
    list_id: str = "bitbybit.newsletter"  # List-Id header: <list_id>
    sensor_interval_seconds: int = Field(60, ge=10)
    lookback_days: int = Field(3, ge=1, le=31)  # how many recent days the delivery sensor watches


class FeedConfig(_Section):
    name: str
    url: str
    enabled: bool = True
    category: str = "general"
    trust: float = Field(0.5, ge=0.0, le=1.0)

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not v or any(c in v for c in "/\\ \t") or v.startswith("."):
            raise ValueError(f"feed name {v!r} must be a slug (no slashes or spaces)")
        return v

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError(f"feed url {v!r} must be http(s)")
        return v


# ---------------------------------------------------------------- curation, embeddings, topics


class ScoreWeights(_Section):
    """How ``final_score`` (0..10) combines the parts."""

    relevance: float = 0.6
    quality: float = 0.25
    coverage: float = 0.15  # cross-source coverage (distinct feeds in the story cluster)
    content_type: dict[str, float] = {}  # additive bonus per content type, e.g. {research: 0.3}
    stale_penalty_per_day: float = 0.75  # story first seen this many days ago -> minus this per day


class AdSettings(_Section):
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    # Feed categories that mark a publisher's own events / house ads (case-insensitive, exact).
    house_ad_categories: list[str] = []
    # Extra title regexes (case-insensitive) that mark an ad, as {name: pattern}.
    extra_title_patterns: dict[str, str] = {}
    # The embedding model: similarity margin to ad prototypes over editorial prototypes.
    model_weight: float = Field(0.6, ge=0.0, le=1.0)  # the most the model alone can give
    model_margin: float = 0.12  # margin at which the model gives half its weight
    model_temperature: float = 0.04


class CurationSettings(_Section):
    top_n: int = Field(20, ge=1)
    per_feed_cap: int = Field(8, ge=1)
    max_source_share: float = Field(0.40, gt=0.0, le=1.0)  # of top_n, per source (feed / linked domain)
    max_content_type_share: float = Field(0.5, gt=0.0, le=1.0)  # of top_n, per content type
    # The learned ranker (bitbybit_assets/curate/ranker.py): "default" = the packaged artefact
    # bitbybit_assets/curate/models/ranker.json, a path to another one, or null for the
    # hand-weighted formula (weights, min_relevance, min_quality).
    ranker: str | None = "default"
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
    # a capitalised title word counts as a name only if no title of the window writes it in lower case
    cluster_names_never_lower: bool = True
    # two Latin titles whose shared name is followed by different words, one with a digit ("Grok 4.6" /
    # "Grok Bot"), are different stories
    cluster_version_veto: bool = True
    cluster_linkage: float = 0.45  # mean cosine a row needs to the cluster it joins (stops chaining)
    # With the multilingual encoder (embeddings.multilingual_model): same story across languages
    # (en<->zh) when its cosine is at least this (chosen on the shared dev days only).
    cluster_threshold_cross_language: float = 0.6
    # Two CJK titles (MiniLM embeds them poorly): a token match needs a multilingual cosine of at least
    # cluster_min_similarity_cjk, and that cosine >= cluster_threshold_cjk with two shared rare tokens
    # is a match of its own (null: not used).
    cluster_min_similarity_cjk: float | None = 0.3
    cluster_threshold_cjk: float | None = None
    # Two CJK titles are also the same story when their title vectors (embeddings.cjk_title_model,
    # multilingual-e5-small) have a cosine of at least this, and the merged groups' mean cosine is at
    # least cluster_linkage_cjk_title (chosen on the shared dev days; null: not used).
    cluster_threshold_cjk_title: float | None = Field(0.94, ge=0.0, le=1.0)
    cluster_linkage_cjk_title: float = Field(0.92, ge=0.0, le=1.0)
    # Second check among the picks (curate/pick_check.py): a row whose title shares a rare name (or two
    # rare tokens) with a pick ranked before it and whose cosine is at least this is the same story and
    # is not picked (null: off). Against rows sent on earlier days: its own floors (null: off).
    pick_check_min_similarity: float | None = 0.4
    pick_check_min_similarity_sent: float | None = None
    pick_check_min_rare_tokens_sent: int = Field(2, ge=1)  # ... and shared rare title tokens it needs
    pick_check_multilingual: bool = False  # that cosine: the larger of MiniLM and the multilingual one
    ads: AdSettings = AdSettings()
    weights: ScoreWeights = ScoreWeights()
    topic_min_similarity: float = 0.3  # a topic is listed in ``topics`` above this cosine
    max_topics: int = 3
    relevance_floor: float = 0.15  # topic cosine that maps to relevance 0
    relevance_ceiling: float = 0.6  # topic cosine that maps to relevance 10
    offtopic_penalty: float = 1.0  # how strongly off-topic similarity pulls relevance down
    title_only_penalty: float = 1.5  # quality points off for title-only entries


class EmbeddingSettings(_Section):
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = Field(64, ge=1)
    max_chars: int = Field(2000, ge=100)  # longest text embedded (title + lead)
    device: str = "auto"  # auto | cpu | cuda
    backend: str = "auto"  # auto | torch | openvino
    cache_lookback_days: int = Field(400, ge=0)  # how far back article_embeddings is searched
    # Second, multilingual encoder (resources/multilingual.py) for cross-language story clustering;
    # null: MiniLM only.
    multilingual_model: str | None = "use-multilingual-v3"
    # Third encoder, for the titles of CJK-titled rows only (same-story links between two Chinese
    # titles, which neither MiniLM nor USE separate well); null: off.
    cjk_title_model: str | None = "multilingual-e5-small"


class Topic(_Section):
    name: str
    weight: float = 1.0
    prototypes: list[str]


class KeywordGroup(_Section):
    """Title terms (whole words, case-insensitive) worth ``points`` of relevance (once per group)."""

    name: str
    points: float
    terms: list[str]
    case_sensitive: bool = False  # for short acronyms that are also common words


class TopicSettings(_Section):
    topics: list[Topic] = []
    keyword_groups: list[KeywordGroup] = []
    keyword_max_points: float = 4.0  # cap on the summed keyword points
    lead_keyword_factor: float = 0.5  # a term found only in the lead counts this much
    category_prior: dict[str, float] = {}  # feed category -> relevance points (e.g. ai-lab: 2)
    offtopic: list[str] = []  # prototypes of what an AI/tech newsletter does not cover
    content_types: dict[str, list[str]] = {}
    ad_prototypes: list[str] = []
    editorial_prototypes: list[str] = []


# ---------------------------------------------------------------- enhancement, llm, newsletter


class EnhancementSettings(_Section):
    """The ``enhancement`` section of production.yaml."""

    summary_max_words: int = Field(60, ge=10)
    summary_sentences: int = Field(3, ge=1)
    tags_min: int = Field(3, ge=1)
    tags_max: int = Field(5, ge=1)
    preview_max_chars: int = Field(280, ge=40)
    words_per_minute: int = Field(230, ge=50)
    use_embeddings: bool = True  # MiniLM for the offline path; False = TF-IDF / keyword rules only
    max_topic_labels: int = Field(2, ge=0)
    topic_label_threshold: float = 0.3
    # label -> description used for zero-shot tagging; empty = built-in labels
    topic_labels: dict[str, str] = {}


class LLMConfig(_Section):
    """The ``llm`` section of production.yaml."""

    default_model: str = "gpt-4o-mini"
    max_retries: int = Field(3, ge=0)  # attempts = 1 + max_retries
    timeout_seconds: float = Field(60.0, gt=0)
    batch_size: int = Field(8, ge=1)
    concurrency: int = Field(2, ge=1)
    budget_usd_per_run: float = Field(1.0, ge=0)  # every LLM call of one run, all stages together
    cost_per_1k_input_tokens_usd: float = Field(0.00015, ge=0)
    cost_per_1k_output_tokens_usd: float = Field(0.0006, ge=0)
    max_output_tokens: int = Field(1200, ge=16)
    max_article_chars: int = Field(3000, ge=200)  # article text sent per article
    temperature: float = 0.2
    # json_object: OpenAI JSON mode; json_schema: OpenAI/vLLM structured outputs; json_object_schema:
    # llama.cpp server's grammar-constrained JSON ({"type": "json_object", "schema": ...}); none.
    response_format: Literal["json_object", "json_schema", "json_object_schema", "none"] = "json_object"
    backoff_base_seconds: float = Field(1.0, ge=0)
    backoff_max_seconds: float = Field(30.0, ge=0)
    max_retry_after_seconds: float = Field(120.0, ge=0)


class NewsletterSettings(_Section):
    """The ``newsletter`` section of production.yaml."""

    title: str = "bitbybit"
    tagline: str = "AI & tech, bit by bit"
    min_articles: int = Field(10, ge=0)
    subject_candidates: int = Field(4, ge=1)
    max_html_bytes: int = Field(102_000, ge=10_000)
    unsubscribe_url: str = "{{unsubscribe_url}}"
    text_width: int = Field(78, ge=40, le=120)
    max_also_covered: int = Field(3, ge=0)
    hero_image: bool = True


# ---------------------------------------------------------------- warehouse, deployment, operations


DbtTarget = Literal["local", "prod"]


class PostgresSettings(_Section):
    connect_attempts: int = Field(4, ge=1, le=20)
    backoff_seconds: float = Field(1.0, ge=0)
    max_backoff_seconds: float = Field(30.0, ge=0)
    connect_timeout_seconds: int = Field(10, ge=1)
    statement_timeout_seconds: int = Field(300, ge=0)  # 0: no timeout


class WarehouseSettings(_Section):
    duckdb_path: str | None = None  # relative paths are under the data dir
    dbt_target: DbtTarget | None = None
    load_postgres_when_local: bool = True  # local runs also load Postgres when a DSN is configured
    feed_yield_window_days: int = Field(30, ge=1, le=366)
    trend_window_days: int = Field(7, ge=1, le=366)
    analytics_top_n: int = Field(20, ge=1)
    postgres: PostgresSettings = PostgresSettings()


# CPU units ECS accepts for a task (1024 = one vCPU)
ECS_CPU_UNITS = ("256", "512", "1024", "2048", "4096", "8192", "16384")


class DeploymentSettings(_Section):
    # where the scoring run's GPU comes from: "ecs" (the GPU capacity provider) or "batch" (the AWS
    # Batch GPU queue; resources/batch.py). BITBYBIT_GPU_RUNNER wins (one environment on Batch).
    gpu_runner: Literal["ecs", "batch"] = "ecs"
    gpu_capacity_provider: str = Field("bitbybit-gpu", min_length=1, pattern=r"^[A-Za-z0-9_.:/-]+$")
    gpu_task_definition: str = Field("bitbybit-run-gpu", min_length=1, pattern=r"^[A-Za-z0-9_.:/-]+$")
    gpu_task_cpu: str = "4096"  # 4 vCPUs of a g4dn/g5 xlarge
    gpu_task_memory: str = "14336"  # MiB: fits a g4dn.xlarge / g5.xlarge (16 GiB, ~15 GiB schedulable)

    @field_validator("gpu_task_cpu", mode="before")
    @classmethod
    def _cpu(cls, v: object) -> str:
        text = str(v).strip()
        if text not in ECS_CPU_UNITS:
            raise ValueError(f"gpu_task_cpu must be one of {', '.join(ECS_CPU_UNITS)} (ECS CPU units)")
        return text

    @field_validator("gpu_task_memory", mode="before")
    @classmethod
    def _memory(cls, v: object) -> str:
        text = str(v).strip()
        if not text.isdigit() or not 512 <= int(text) <= 1_048_576:
            raise ValueError("gpu_task_memory must be a whole number of MiB between 512 and 1048576")
        return text


class CheckSettings(_Section):
    # null: newsletter.min_articles (then 10)
    min_picked_articles: int | None = Field(None, ge=1)
    # WARN when more than this share of the day's feeds failed to fetch (status "error")
    max_failed_feed_share: float = Field(0.25, ge=0.0, le=1.0)
    # per-day row floors (WARN); tables not listed need at least one row
    min_rows: dict[str, int] = {}
    allowed_link_schemes: list[str] = ["http", "https"]
    # newsletter HTML may hold merge tags such as {{unsubscribe_url}} (filled in by the mail tool)
    allow_merge_tags: bool = True


class AlertSettings(_Section):
    channel: Literal["log", "sns", "webhook", "smtp"] = "log"
    timeout_seconds: float = Field(10.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=10)
    backoff_seconds: float = Field(2.0, ge=0)
    subject_prefix: str = "[bitbybit]"
    ui_url: str | None = None  # Dagster UI base URL, for a link to the failed run
    smtp_starttls: bool = True
    # incident alerts (sensors/incident_alerts.py), each sent once per incident:
    incident_interval_seconds: int = Field(600, ge=60)  # how often the incident sensor looks
    max_warning_checks: int = Field(2, ge=0)  # alert when more WARN checks fail on the newest day
    feed_failure_days: int = Field(3, ge=1, le=60)  # alert when a feed failed this many days in a row
    llm_budget_share: float = Field(0.8, gt=0.0, le=1.0)  # alert when a run spent this share of its budget


class ConfigChangeSettings(_Section):
    # observe: record what changed as an observation of raw_feeds (new feeds are picked up by the
    # next run or a backfill); request_raw_feeds: also re-materialise raw_feeds for the latest day.
    on_new_feed: Literal["observe", "request_raw_feeds"] = "observe"
    interval_seconds: int = Field(60, ge=10)


class RunTrackingSettings(_Section):
    enabled: bool = True
    emit_metrics: bool = True  # observation with run metrics on newsletters after a successful run


class MaintenanceSettings(_Section):
    """``operations.maintenance``: the weekly ``maintenance`` job (bitbybit_assets/maintenance/)."""

    schedule_cron: str = "0 3 * * 0"  # Sundays 03:00 in pipeline.schedule_timezone
    compact: bool = True  # OPTIMIZE: small files of each table rewritten into few large ones
    target_file_mb: int = Field(128, ge=1, le=4096)
    z_order: dict[str, list[str]] = {}  # table -> columns to co-locate, e.g. {feed_entries: [feed_name]}
    # files no longer referenced are deleted only when older than this: readers of an older
    # snapshot and time travel keep working for this long (Delta's own default is 168 h)
    vacuum_retention_hours: int = Field(168, ge=0)
    raw_content_days: int | None = Field(None, ge=1)  # raw_feeds.content (the bytes) cleared after N days
    llm_cache_days: int | None = Field(None, ge=1)  # llm_cache entries first written N days ago dropped
    embedding_cache_days: int | None = Field(None, ge=1)  # article_embeddings rows older than N days dropped
    # Postgres: rows older than N days (by partition_date) deleted, e.g. {stg_articles: 400}
    warehouse_retention_days: dict[str, int] = {}
    analyze: bool = True  # ANALYZE the warehouse tables after the run

    @field_validator("warehouse_retention_days")
    @classmethod
    def _tables(cls, v: dict[str, int]) -> dict[str, int]:
        for table, days in v.items():
            if not table.replace("_", "").isalnum() or not table[:1].isalpha():
                raise ValueError(f"warehouse_retention_days: {table!r} is not a table name")
            if days < 1:
                raise ValueError(f"warehouse_retention_days.{table}: keep at least 1 day")
        return v


class MetricsSettings(_Section):
    """``operations.metrics``: run metrics published to CloudWatch after every tracked run
    (``resources/metrics.py``, called by the run-tracking sensor; the dashboard plots them)."""

    cloudwatch: bool | None = None  # null: on when BITBYBIT_ENV=prod, off locally (a no-op)
    namespace: str = Field("bitbybit", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_./#:-]+$")


class OperationsSettings(_Section):
    start_running: bool = True  # schedules and sensors start RUNNING (a toggle in the UI wins)
    maintenance: MaintenanceSettings = MaintenanceSettings()
    checks: CheckSettings = CheckSettings()
    alerts: AlertSettings = AlertSettings()
    config_change: ConfigChangeSettings = ConfigChangeSettings()
    run_tracking: RunTrackingSettings = RunTrackingSettings()
    metrics: MetricsSettings = MetricsSettings()


# ---------------------------------------------------------------- cost


class CostSettings(_Section):
    """``cost:``, the price table (USD) behind the ``cost_per_newsletter`` dbt model and the
    ``ComputeCostUsd`` metric. Defaults: AWS us-east-1 on-demand list prices."""

    # Fargate run task of 1 vCPU + 4 GB (infra/environments.yaml run_cpu/run_memory):
    # $0.04048 per vCPU-hour + $0.004445 per GB-hour
    cpu_usd_per_hour: float = Field(0.05826, ge=0)
    gpu_usd_per_hour: float = Field(0.526, ge=0)  # g4dn.xlarge on demand (g5.xlarge: 1.006; Spot ~1/3)
    storage_usd_per_gb_month: float = Field(0.023, ge=0)  # S3 Standard
    # runs without a ``bitbybit/compute`` tag count as GPU runs when their job is one of these
    gpu_jobs: list[str] = ["scoring"]

    @field_validator("gpu_jobs")
    @classmethod
    def _job_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"gpu_jobs: {name!r} is not a Dagster job name")
        return v


# ---------------------------------------------------------------- the whole file


class Settings(_Section):
    """The parsed ``production.yaml``: every section typed, validated once at load."""

    pipeline: PipelineSettings = PipelineSettings()
    ingest: IngestSettings = IngestSettings()
    content_filter: ContentFilterSettings = ContentFilterSettings()
    curation: CurationSettings = CurationSettings()
    enhancement: EnhancementSettings = EnhancementSettings()
    llm: LLMConfig = LLMConfig()
    newsletter: NewsletterSettings = NewsletterSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    topics: TopicSettings = TopicSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    deployment: DeploymentSettings = DeploymentSettings()
    operations: OperationsSettings = OperationsSettings()
    delivery: DeliverySettings = DeliverySettings()
    cost: CostSettings = CostSettings()
