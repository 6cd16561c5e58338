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
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    """Warehouse DSN: ``BITBYBIT_POSTGRES_DSN`` or the ``POSTGRES_*`` variables (prod default).

    Built from the variables with every part percent-encoded, so a password holding ``@``, ``/``,
    ``%``, ``:`` or spaces reaches libpq intact (and no fragment of it ends up parsed as a host,
    port or database name in an error message)."""
    dsn = os.environ.get("BITBYBIT_POSTGRES_DSN")
    if dsn:
        return dsn
    host = os.environ.get("POSTGRES_HOST", "").strip()
    if not host:
        return None
    user = os.environ.get("POSTGRES_USER", "postgres")
    password = os.environ.get("POSTGRES_PASSWORD", "")
    port = os.environ.get("POSTGRES_PORT", "5432").strip() or "5432"
    db = os.environ.get("POSTGRES_DB", "bitbybit")
    if not port.isdigit():
        raise SettingsError(f"POSTGRES_PORT={port!r} is not a port number")
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
    netloc = f"[{host}]" if ":" in host and not host.startswith("[") else quote(host, safe="[]:")
    return f"postgresql://{auth}{netloc}:{port}/{quote(db, safe='')}"


def public_url(configured: str) -> str:
    """Base URL of the desk (unsubscribe and confirm links): ``BITBYBIT_PUBLIC_URL`` or ``configured``."""
    url = (os.environ.get("BITBYBIT_PUBLIC_URL", "").strip() or configured).rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise SettingsError(f"public URL {url!r} must start with http:// or https://")
    return url


def secret_key() -> bytes:
    """The server secret that signs links and session cookies (``BITBYBIT_SECRET_KEY``).

    Required in prod. Locally a random key is created once in ``<data dir>/.secret_key`` (mode 0600)
    so links mailed by the demo keep working across runs.
    """
    value = os.environ.get("BITBYBIT_SECRET_KEY", "").strip()
    if value:
        if len(value) < 32:
            raise SettingsError("BITBYBIT_SECRET_KEY must be at least 32 characters")
        return value.encode("utf-8")
    if environment() == "prod":
        raise SettingsError("BITBYBIT_ENV=prod needs BITBYBIT_SECRET_KEY (32+ random characters)")
    path = data_dir() / ".secret_key"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


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


class ContentFilterSettings(_Section):
    min_words: int = 3
    min_chars: int = 12
    max_age_days: int = 7
    max_future_hours: int = 36
    allowed_languages: list[str] = ["en"]
    blocked_domains: list[str] = []
    blocked_keywords: list[str] = []
    blocked_title_patterns: list[str] = []


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
    delivery: DeliverySettings = DeliverySettings()


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
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1].hex()
        raise SettingsError(
            f"{path}: not UTF-8 text (byte 0x{bad} at offset {exc.start}); save the file as UTF-8"
        ) from exc
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    try:
        # the C loader when libyaml is there (same result, ~10x faster: the desk loads settings per request)
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping at the top level, got {_type_name(data)}")
    return data


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number",
            bool: "a boolean", type(None): "nothing (null)"}.get(type(value), type(value).__name__)  # fmt: skip


def _validation_message(path: Path | str, exc: ValidationError, prefix: tuple = ()) -> str:
    """``file: key.path: what was expected (got value)`` for every error, one per line."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in (*prefix, *err["loc"]))
        loc = loc.replace(".[", "[") or "<top level>"
        got = err.get("input")
        shown = "" if err["type"] == "missing" else f" (got {_type_name(got)}: {str(got)[:60]!r})"
        lines.append(f"{loc}: {err['msg']}{shown}")
    return f"{path}: " + ("\n  ".join(lines) if len(lines) > 1 else lines[0] if lines else str(exc))


def _stage_models() -> dict[str, type[BaseModel]]:
    """The models of the sections ``Settings`` keeps as plain dicts (imported lazily: they live
    with their stages and import this module)."""
    from bitbybit_assets.curate.config import CurationSettings, EmbeddingSettings, TopicSettings
    from bitbybit_assets.deploy_config import DeploymentSettings
    from bitbybit_assets.enhance.enhance import EnhancementSettings
    from bitbybit_assets.enhance.llm_config import LLMConfig
    from bitbybit_assets.ops_config import OperationsSettings
    from bitbybit_assets.publish.render import NewsletterSettings
    from bitbybit_assets.warehouse.config import WarehouseSettings

    return {
        "curation": CurationSettings,
        "enhancement": EnhancementSettings,
        "llm": LLMConfig,
        "newsletter": NewsletterSettings,
        "embeddings": EmbeddingSettings,
        "topics": TopicSettings,
        "warehouse": WarehouseSettings,
        "deployment": DeploymentSettings,
        "operations": OperationsSettings,
    }


def load_settings(path: Path | None = None) -> Settings:
    """Parse ``config/production.yaml`` (or ``BITBYBIT_SETTINGS_FILE``).

    Every section is validated here, at load, including those kept as plain dicts (by their
    stage's model): a bad value fails at once with the file, the key and what was expected, not
    when the stage that reads it runs."""
    path = path or settings_file()
    return validate_settings(_read_yaml(path), path)


def settings_file() -> Path:
    """``config/production.yaml`` (or ``BITBYBIT_SETTINGS_FILE``)."""
    return _path_from_env("BITBYBIT_SETTINGS_FILE", config_dir() / "production.yaml")


def read_settings_data(path: Path | None = None) -> dict:
    """The raw mapping of the settings file (not validated; see :func:`validate_settings`)."""
    return _read_yaml(path or settings_file())


def validate_settings(data: dict, source: Path | str) -> Settings:
    """``data`` validated as :func:`load_settings` does (every section, by its model); errors name
    ``source`` and the key. The desk's Settings page validates its overrides with this too."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_validation_message(source, exc)) from exc
    except ValueError as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"{source}: {exc}") from exc
    for name, model in _stage_models().items():
        section = getattr(settings, name)
        if not isinstance(section, dict):
            raise SettingsError(f"{source}: {name}: expected a mapping, got {_type_name(section)}")
        try:
            model.model_validate(section)
        except ValidationError as exc:
            raise SettingsError(_validation_message(source, exc, (name,))) from exc
    return settings


def load_feeds(path: Path | None = None, *, enabled_only: bool = True) -> list[FeedConfig]:
    """The feed list: ``config/feeds.yaml`` (or ``BITBYBIT_FEEDS_FILE``), or, without ``path`` and with
    ``BITBYBIT_FEEDS_SOURCE=database`` (prod default), the ``feeds`` table (:mod:`bitbybit_assets.feeds_store`)."""
    if path is None:
        from bitbybit_assets import feeds_store

        if feeds_store.feeds_source() == "database":
            return feeds_store.database_feeds(enabled_only=enabled_only)
    path = path or _path_from_env("BITBYBIT_FEEDS_FILE", config_dir() / "feeds.yaml")
    data = _read_yaml(path)
    items = data.get("feeds")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise SettingsError(f"{path}: feeds: expected a list of feeds, got {_type_name(items)}: {str(items)[:60]!r}")
    feeds = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise SettingsError(
                f"{path}: feeds[{i}]: expected a mapping with name and url, got {_type_name(item)}: "
                f"{str(item)[:60]!r}"
            )
        try:
            feeds.append(FeedConfig.model_validate(item))
        except ValidationError as exc:
            raise SettingsError(_validation_message(path, exc, ("feeds", i))) from exc
    names = [f.name for f in feeds]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SettingsError(f"{path}: duplicate feed names: {', '.join(dupes)}")
    return [f for f in feeds if f.enabled] if enabled_only else feeds
