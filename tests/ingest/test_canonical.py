from bitbybit_assets.ingest.canonical import article_id, canonical_url, domain_of, entry_key


def test_scheme_host_lowercased_and_default_port_dropped():
    assert canonical_url("HTTPS://TechCrunch.COM:443/2026/08/05/x/") == "https://techcrunch.com/2026/08/05/x/"
    assert canonical_url("http://Example.com:80") == "http://example.com/"
    assert canonical_url("http://example.com:8080/a") == "http://example.com:8080/a"


def test_tracking_parameters_and_fragment_removed_other_query_kept():
    url = "https://ex.com/a?id=7&utm_source=rss&UTM_Medium=x&fbclid=abc&gclid=1&page=2#comments"
    assert canonical_url(url) == "https://ex.com/a?id=7&page=2"


def test_path_case_and_trailing_slash_kept():
    assert canonical_url("https://ex.com/A/b/") == "https://ex.com/A/b/"
    assert canonical_url("https://ex.com/A/b") != canonical_url("https://ex.com/a/b")


def test_non_http_and_garbage_rejected():
    for bad in (None, "", "javascript:alert(1)", "ftp://ex.com/x", "mailto:a@b.c", "not a url", "http://"):
        assert canonical_url(bad) is None


def test_ids_stable_and_tracking_insensitive():
    a = article_id(canonical_url("https://ex.com/story?utm_campaign=x"))
    b = article_id(canonical_url("https://EX.com/story#top"))
    assert a == b and len(a) == 32
    assert entry_key("techcrunch", "https://techcrunch.com/?p=1") != entry_key("techcrunch-startups", "https://techcrunch.com/?p=1")


def test_domain_strips_www():
    assert domain_of("https://www.anthropic.com/news/x") == "anthropic.com"
    assert domain_of(None) is None
