"""The files bitbybit hands to people and other systems (under ``output/``).

Written atomically on local disk and, when ``BITBYBIT_OUTPUT_S3_URI`` is set (production: run tasks
have no lasting disk), copied to ``s3://bucket/prefix/<path relative to output/>``.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import tempfile
from pathlib import Path

from bitbybit_base import settings

log = logging.getLogger(__name__)


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so a
    reader never sees a half-written file; the result is world-readable (0644). Files under the
    output folder are then mirrored to S3 when configured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    mirror_to_s3(path)
    return path


def _s3_client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60)
    # a session of our own: credentials are read from the environment now, not from whatever
    # boto3's process-wide default session cached earlier
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def mirror_to_s3(path: Path) -> str | None:
    """Copy an output file to the configured S3 prefix; returns its URI (None when not configured
    or the file is outside the output folder)."""
    uri = settings.output_mirror_uri()
    if not uri:
        return None
    try:
        relative = path.resolve().relative_to(settings.output_dir().resolve())
    except ValueError:
        return None
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    key = "/".join(p for p in (prefix.strip("/"), relative.as_posix()) if p)
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type == "application/json":
        content_type += "; charset=utf-8"
    _s3_client().put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
    log.info("copied %s to s3://%s/%s", path, bucket, key)
    return f"s3://{bucket}/{key}"
