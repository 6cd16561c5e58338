"""Output files are mirrored to S3 when BITBYBIT_OUTPUT_S3_URI is set (real S3 API server)."""

import pytest

from bitbybit_assets.output_files import write_text_atomic
from bitbybit_base.settings import SettingsError, output_dir, output_mirror_uri

pytestmark = pytest.mark.integration


def test_output_file_copied_to_s3(isolated_env, s3_test_server, monkeypatch):
    for k, v in s3_test_server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("BITBYBIT_OUTPUT_S3_URI", s3_test_server.uri("output"))
    path = write_text_atomic(output_dir() / "newsletter" / "2026-08-05.html", "<html>hé</html>")
    assert path.read_text() == "<html>hé</html>" and oct(path.stat().st_mode & 0o777) == "0o644"
    obj = s3_test_server.client().get_object(Bucket=s3_test_server.bucket, Key="output/newsletter/2026-08-05.html")
    assert obj["Body"].read().decode() == "<html>hé</html>"
    assert obj["ContentType"].startswith("text/html")


def test_no_mirror_by_default_and_bad_uri_refused(isolated_env, monkeypatch):
    assert output_mirror_uri() is None
    write_text_atomic(output_dir() / "api" / "x.json", "{}")  # no S3 involved
    monkeypatch.setenv("BITBYBIT_OUTPUT_S3_URI", "/tmp/not-s3")
    with pytest.raises(SettingsError):
        output_mirror_uri()
