"""Every setting in one place, read at call time (never at import time).

``BITBYBIT_ENV`` picks the deployment: ``local`` (default: embedded, on-disk lakehouse, DuckDB for dbt)
or ``prod`` (lakehouse on S3, Postgres for the Dagster instance and warehouse). Thresholds come from
``config/production.yaml`` and the feed list from ``config/feeds.yaml``; locations and secrets come
from environment variables.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_VAR = "BITBYBIT_ENV"
ENVIRONMENTS = ("local", "prod")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """Raised for a bad environment variable or configuration file."""


def environment() -> Literal["local", "prod"]:
    """The deployment name from ``BITBYBIT_ENV`` (default ``local``)."""
    env = os.environ.get(ENV_VAR, "local").strip().lower() or "local"
    if env not in ENVIRONMENTS:
        raise SettingsError(f"{ENV_VAR}={env!r} is not one of {', '.join(ENVIRONMENTS)}")
    return env  # type: ignore[return-value]


def _path_from_env(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def config_dir() -> Path:
    return _path_from_env("BITBYBIT_CONFIG_DIR", PROJECT_ROOT / "config")


def data_dir() -> Path:
    """Local working data (lakehouse on local disk, caches, DuckDB warehouse)."""
    return _path_from_env("BITBYBIT_DATA_DIR", PROJECT_ROOT / "data")


def output_dir() -> Path:
    """Files for people and other systems: output/newsletter, output/api, output/database."""
    return _path_from_env("BITBYBIT_OUTPUT_DIR", PROJECT_ROOT / "output")


def output_mirror_uri() -> str | None:
    """``s3://bucket/prefix`` that every output file is also copied to (``BITBYBIT_OUTPUT_S3_URI``).

    Run tasks on ECS have no lasting disk; production sets this so ``output/newsletter``,
    ``output/api`` and ``output/database`` land in the bucket under the same relative paths.
    """
    uri = os.environ.get("BITBYBIT_OUTPUT_S3_URI", "").strip()
    if uri and not uri.startswith("s3://"):
        raise SettingsError(f"BITBYBIT_OUTPUT_S3_URI={uri!r} must be an s3:// URI")
    return uri.rstrip("/") or None


def archive_dir() -> Path | None:
    """Folder of archived feed snapshots laid out ``YYYY-MM-DD/<feed>.xml``.

    Defaults to the bundled sample days in ``sample_data/feeds``. Set ``BITBYBIT_FEED_ARCHIVE`` to
    another folder (e.g. ``../shared/data/feeds``), or to ``none`` to fetch live only.
    """
    value = os.environ.get("BITBYBIT_FEED_ARCHIVE")
    if value and value.lower() == "none":
        return None
    return Path(value).expanduser().resolve() if value else PROJECT_ROOT / "sample_data" / "feeds"


def feed_source_mode() -> Literal["archive", "http", "auto"]:
    """``archive`` reads snapshots only, ``http`` fetches live only, ``auto`` (default) uses the
    archive for days it holds and live HTTP for today."""
    mode = os.environ.get("BITBYBIT_FEED_SOURCE", "auto").strip().lower()
    if mode not in ("archive", "http", "auto"):
        raise SettingsError(f"BITBYBIT_FEED_SOURCE={mode!r} is not one of archive, http, auto")
    return mode  # type: ignore[return-value]


def lakehouse_root() -> str:
    """Root URI of the Delta lakehouse: a local folder or ``s3://bucket/prefix``."""
    root = os.environ.get("BITBYBIT_LAKEHOUSE_ROOT")
    if root:
        return root.rstrip("/")
    if environment() == "prod":
        raise SettingsError("BITBYBIT_ENV=prod needs BITBYBIT_LAKEHOUSE_ROOT (e.g. s3://bucket/lakehouse)")
    return str(data_dir() / "lakehouse")


def storage_options(root: str | None = None) -> dict[str, str]:
    """delta-rs storage options for ``root`` from the standard AWS variables."""
    root = root or lakehouse_root()
    if not root.startswith(("s3://", "s3a://")):
        return {}
    opts: dict[str, str] = {}
    mapping = {
        "AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN": "AWS_SESSION_TOKEN",
        "AWS_REGION": "AWS_REGION",
        "AWS_DEFAULT_REGION": "AWS_REGION",
        "AWS_ENDPOINT_URL_S3": "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
        "AWS_ALLOW_HTTP": "AWS_ALLOW_HTTP",
        "AWS_S3_LOCKING_PROVIDER": "AWS_S3_LOCKING_PROVIDER",
        "DELTA_DYNAMO_TABLE_NAME": "DELTA_DYNAMO_TABLE_NAME",
        "AWS_S3_ALLOW_UNSAFE_RENAME": "AWS_S3_ALLOW_UNSAFE_RENAME",
    }
    for env_name, opt in mapping.items():
        value = os.environ.get(env_name)
        if value and opt not in opts:
            opts[opt] = value
    opts.setdefault("AWS_REGION", "us-east-1")
    if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        opts.setdefault("AWS_ALLOW_HTTP", "true")
    # S3 now supports conditional writes: delta-rs uses them for safe concurrent commits when no
    # DynamoDB locking provider is configured.
    if "AWS_S3_LOCKING_PROVIDER" not in opts:
        opts.setdefault("conditional_put", os.environ.get("BITBYBIT_S3_CONDITIONAL_PUT", "etag"))
    return opts


def postgres_dsn() -> str | None:
    """Warehouse DSN: ``BITBYBIT_POSTGRES_DSN`` or the ``POSTGRES_*`` variables (prod default)."""
    dsn = os.environ.get("BITBYBIT_POSTGRES_DSN")
    if dsn:
        return dsn
    host = os.environ.get("POSTGRES_HOST")
    if not host:
        return None
    user = os.environ.get("POSTGRES_USER", "postgres")
    password = os.environ.get("POSTGRES_PASSWORD", "")
    port = os.environ.get("POSTGRES_PORT", "5432")
    db = os.environ.get("POSTGRES_DB", "bitbybit")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql://{auth}{host}:{port}/{db}"


# ---------------------------------------------------------------- configuration files


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PipelineSettings(_Section):
    start_date: date = date(2026, 7, 18)
    timezone: str = "UTC"
    schedule_cron: str = "30 6 * * *"
    schedule_timezone: str = "UTC"
    newsletter_deadline_hours: int = 9


class FetchSettings(_Section):
    timeout_seconds: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    max_retries: int = 2
    max_retry_after_seconds: float = 120.0
    concurrency: int = 8
    per_host_delay_seconds: float = 1.0
    user_agent: str = "bitbybit/0.1 (newsletter curation bot)"
    allow_private_addresses: bool = False


class IngestSettings(_Section):
    history_days: int = Field(30, ge=0)
    allow_missing_history: bool = False
    fetch: FetchSettings = FetchSettings()


class ContentFilterSettings(_Section):
    min_words: int = 3
    min_chars: int = 12
    max_age_days: int = 7
    max_future_hours: int = 36
    allowed_languages: list[str] = ["en"]
    blocked_domains: list[str] = []
    blocked_keywords: list[str] = []
    blocked_title_patterns: list[str] = []


class Settings(_Section):
    """The parsed ``production.yaml``. Sections owned by later stages stay plain dicts here and
    are validated by the stage that reads them."""

    pipeline: PipelineSettings = PipelineSettings()
    ingest: IngestSettings = IngestSettings()
    content_filter: ContentFilterSettings = ContentFilterSettings()
    curation: dict = {}
    enhancement: dict = {}
    llm: dict = {}
    newsletter: dict = {}
    embeddings: dict = {}
    topics: dict = {}
    warehouse: dict = {}
    deployment: dict = {}
    operations: dict = {}


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


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise SettingsError(f"configuration file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping at the top level")
    return data


def load_settings(path: Path | None = None) -> Settings:
    """Parse ``config/production.yaml`` (or ``BITBYBIT_SETTINGS_FILE``)."""
    path = path or _path_from_env("BITBYBIT_SETTINGS_FILE", config_dir() / "production.yaml")
    try:
        return Settings.model_validate(_read_yaml(path))
    except ValueError as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"{path}: {exc}") from exc


def load_feeds(path: Path | None = None, *, enabled_only: bool = True) -> list[FeedConfig]:
    """Parse ``config/feeds.yaml`` (or ``BITBYBIT_FEEDS_FILE``)."""
    path = path or _path_from_env("BITBYBIT_FEEDS_FILE", config_dir() / "feeds.yaml")
    data = _read_yaml(path)
    try:
        feeds = [FeedConfig.model_validate(item) for item in data.get("feeds") or []]
    except ValueError as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    names = [f.name for f in feeds]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SettingsError(f"{path}: duplicate feed names: {', '.join(dupes)}")
    return [f for f in feeds if f.enabled] if enabled_only else feeds
