"""Every setting in one place, read at call time (never at import time): the bottom layer.

Locations and secrets come from environment variables (the functions below); thresholds come from
``config/production.yaml``, parsed into the typed :class:`Settings` (models in
:mod:`bitbybit_base.settings_models`) by :func:`load_settings`, which only :func:`runtime_settings`
calls. No Dagster, nothing from ``bitbybit_assets``/``resources``/``sensors``: every layer imports this.

``BITBYBIT_ENV`` picks the deployment: ``local`` (default: embedded, on-disk lakehouse, DuckDB for dbt)
or ``prod`` (lakehouse on S3, Postgres for the Dagster instance and warehouse). Thresholds come from
``config/production.yaml`` and the feed list from ``config/feeds.yaml``; locations and secrets come
from environment variables.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import yaml
from pydantic import ValidationError

from bitbybit_base.settings_models import (  # noqa: F401  (re-exported: one import path for settings)
    ECS_CPU_UNITS,
    AdSettings,
    AlertSettings,
    CheckSettings,
    ConfigChangeSettings,
    ContentFilterSettings,
    CostSettings,
    CurationSettings,
    DbtTarget,
    DeliverySettings,
    DeploymentSettings,
    EmbeddingSettings,
    EnhancementSettings,
    FeedConfig,
    FetchSettings,
    IngestLimits,
    IngestSettings,
    KeywordGroup,
    LLMConfig,
    MaintenanceSettings,
    MetricsSettings,
    NewsletterSettings,
    OperationsSettings,
    PipelineSettings,
    PostgresSettings,
    RunTrackingSettings,
    ScoreWeights,
    Settings,
    Topic,
    TopicSettings,
    TranslationSettings,
    WarehouseSettings,
)

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


def model_cache_dir() -> Path:
    """Converted/compiled models (OpenVINO IR and compiled blobs): ``BITBYBIT_MODEL_CACHE``, default
    ``<data dir>/model_cache``. Safe to delete (the next run converts again)."""
    return _path_from_env("BITBYBIT_MODEL_CACHE", data_dir() / "model_cache")


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


def gpu_runner(configured: str) -> Literal["ecs", "batch"]:
    """Where GPU runs go: ``BITBYBIT_GPU_RUNNER`` (set by the stack of an environment with
    ``batch: true``) or ``configured`` (``deployment.gpu_runner``)."""
    value = (os.environ.get("BITBYBIT_GPU_RUNNER", "").strip().lower() or configured).lower()
    if value not in ("ecs", "batch"):
        raise SettingsError(f"BITBYBIT_GPU_RUNNER={value!r} is not one of ecs, batch")
    return value  # type: ignore[return-value]


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
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


# ---------------------------------------------------------------- configuration files


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


def load_settings(path: Path | None = None) -> Settings:
    """Parse ``config/production.yaml`` (or ``BITBYBIT_SETTINGS_FILE``).

    Every section is validated here, at load, by its model: a bad value fails at once with the
    file, the key and what was expected, not when the stage that reads it runs. Code outside this
    module calls :func:`runtime_settings` (the one call site)."""
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
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping at the top level, got {_type_name(data)}")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_validation_message(source, exc)) from exc
    except ValueError as exc:
        if isinstance(exc, SettingsError):
            raise
        raise SettingsError(f"{source}: {exc}") from exc
    return settings


_RUNTIME: dict[Path, tuple[tuple[int, int], Settings]] = {}


def runtime_settings() -> Settings:
    """The settings of this process: :func:`load_settings` of :func:`settings_file`, parsed once and
    parsed again only when the file changes (its mtime or size). The one call site of the loader:
    definitions, sensors, the CLI and the desk get their :class:`Settings` here, and hand it on."""
    path = settings_file()
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        return load_settings(path)  # missing: load_settings names the file
    cached = _RUNTIME.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    loaded = load_settings(path)
    _RUNTIME[path] = (stamp, loaded)
    return loaded


def feeds_file() -> Path:
    """``config/feeds.yaml`` (or ``BITBYBIT_FEEDS_FILE``)."""
    return _path_from_env("BITBYBIT_FEEDS_FILE", config_dir() / "feeds.yaml")


def read_feeds_file(path: Path | None = None, *, enabled_only: bool = True) -> list[FeedConfig]:
    """The feeds of the YAML file ``path`` (default :func:`feeds_file`), validated. The pipeline's
    feed list (YAML or the ``feeds`` table) is :func:`bitbybit_assets.feeds_store.load_feeds`."""
    path = path or feeds_file()
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
