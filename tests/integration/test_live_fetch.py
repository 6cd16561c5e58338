"""raw_feeds fetched live over HTTP from a local server: validators kept in the lakehouse, 304,
Retry-After, HTTP errors as error rows, the SSRF guard on by default."""

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from bitbybit_assets.definitions import build_resources
from bitbybit_assets.ingest.assets import feed_entries, raw_feeds
from resources.feeds import FeedSource
from resources.lakehouse import Lakehouse
from tests.conftest import PROJECT_ROOT, SAMPLE_ARCHIVE
from tests.integration.helpers import materialize_days
from tests.support.http_server import Response

pytestmark = pytest.mark.integration


@pytest.fixture
def live_config(isolated_env, http_server, monkeypatch):
    config = isolated_env / "config"
    config.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "production.yaml", config / "production.yaml")
    names = ["techcrunch", "cacm", "missing-feed", "busy-feed"]
    lines = ["feeds:"]
    for name in names:
        lines += [f"  - name: {name}", f"    url: {http_server.url(f'/{name}.xml')}", "    trust: 0.8"]
    (config / "feeds.yaml").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("BITBYBIT_CONFIG_DIR", str(config))
    monkeypatch.setenv("BITBYBIT_FEED_SOURCE", "http")
    monkeypatch.setenv("BITBYBIT_FEED_ARCHIVE", "none")
    return http_server


def doc(name: str) -> bytes:
    return (SAMPLE_ARCHIVE / "2026-08-05" / f"{name}.xml").read_bytes()


def test_live_day_with_validators_retry_after_and_errors(live_config):
    server = live_config
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    server.route("/techcrunch.xml", Response(body=doc("techcrunch"), etag='"tc-1"'))
    server.route("/cacm.xml", Response(body=doc("cacm"), last_modified="Wed, 05 Aug 2026 20:00:00 GMT"))
    server.route("/missing-feed.xml", Response(status=404, body=b"not here"))
    server.route("/busy-feed.xml", Response(status=429, headers={"Retry-After": "1"}),
                 Response(body=doc("cursor-blog")))
    resources = build_resources("local") | {"feed_source": FeedSource(allow_private_addresses=True)}

    # an earlier day remembered the validators of techcrunch and cacm
    lh = Lakehouse()
    earlier = yesterday - timedelta(days=1)
    from bitbybit_assets.ingest.bronze import raw_feed_rows
    from resources.fetch_types import FetchResult

    prior = [
        FetchResult("techcrunch", server.url("/techcrunch.xml"), "http", "ok", datetime.now(UTC),
                    http_status=200, content=doc("techcrunch"), etag='"tc-1"'),
        FetchResult("cacm", server.url("/cacm.xml"), "http", "ok", datetime.now(UTC), http_status=200,
                    content=doc("cacm"), last_modified="Wed, 05 Aug 2026 20:00:00 GMT"),
        # busy-feed was watched before (other posts), so today's posts are new to it, however old their dates;
        # a feed's very first snapshot keeps only posts since the day before (tests/ingest/test_first_snapshot.py)
        FetchResult("busy-feed", server.url("/busy-feed.xml"), "http", "ok", datetime.now(UTC), http_status=200,
                    content=doc("anthropic-news")),
    ]
    lh.write_days("raw_feeds", raw_feed_rows(earlier, prior), earlier, earlier)

    materialize_days([raw_feeds, feed_entries], yesterday.isoformat(), resources=resources)
    raw = {r["feed_name"]: r for r in lh.read_days("raw_feeds", yesterday, yesterday).iter_rows(named=True)}
    assert raw["techcrunch"]["fetch_status"] == "not_modified" and raw["techcrunch"]["http_status"] == 304
    assert server.requests("/techcrunch.xml")[0].headers["if-none-match"] == '"tc-1"'
    assert raw["cacm"]["fetch_status"] == "not_modified"
    assert server.requests("/cacm.xml")[0].headers["if-modified-since"] == "Wed, 05 Aug 2026 20:00:00 GMT"
    assert raw["missing-feed"]["fetch_status"] == "error" and raw["missing-feed"]["http_status"] == 404
    assert raw["busy-feed"]["fetch_status"] == "ok" and server.hits("/busy-feed.xml") == 2
    assert all("bitbybit" in r.headers["user-agent"] for r in server.requests())
    entries = lh.read_days("feed_entries", yesterday, yesterday)
    assert set(entries["feed_name"]) == {"busy-feed"}  # 304s bring nothing new; the 404 nothing at all


def test_private_addresses_refused_by_default(live_config):
    server = live_config
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    server.route("/techcrunch.xml", Response(body=doc("techcrunch")))
    resources = build_resources("local")  # FeedSource with the configured guard (private refused)
    result = materialize_days([raw_feeds], yesterday.isoformat(), resources=resources)
    assert result.success
    raw = Lakehouse().read_days("raw_feeds", yesterday, yesterday)
    assert set(raw["fetch_status"]) == {"error"}
    assert raw["error"].str.contains("refused").all()
    assert server.hits("/techcrunch.xml") == 0


def test_old_day_cannot_be_fetched_live(live_config):
    with pytest.raises(Exception, match="too old to fetch live"):
        materialize_days([raw_feeds], "2026-08-01")

