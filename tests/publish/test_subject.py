"""Subject lines, preheader and intro: offline rules and the LLM path (local OpenAI-compatible server)."""

from __future__ import annotations

import json

import pytest

from bitbybit_assets.enhance import prompts
from bitbybit_assets.enhance.enhance import enhance_articles
from bitbybit_assets.publish.newsletter import build_day
from bitbybit_assets.publish.render import NewsletterSettings
from bitbybit_assets.publish.subject import choose_subject, offline_copy, subject_score
from resources.llm import LLMConfig, LLMResource
from tests.enhance.helpers import DAY, scored_frame
from tests.publish.helpers import enhanced_row, enhanced_rows
from tests.publish.test_xss import assert_no_executable_content
from tests.support.openai_server import OpenAIStubServer, Step

SETTINGS = NewsletterSettings(min_articles=0)
pytestmark = pytest.mark.timeout(60)


def session_for(server, cache=None, **cfg):
    config = LLMConfig(max_retries=1, backoff_base_seconds=0, timeout_seconds=5, **cfg)
    return LLMResource(base_url=server.base_url, api_key="k", model="stub-model").session(
        run_id="r1", prompt_version=prompts.PROMPT_VERSION, cache=cache, config=config, sleep=lambda s: None
    )


def test_offline_copy_candidates_and_choice():
    rows = enhanced_rows(8)
    copy = offline_copy(rows, day=DAY, newsletter_title="bitbybit", n=4)
    assert 3 <= len(copy.subject_candidates) <= 4
    assert len({c.lower() for c in copy.subject_candidates}) == len(copy.subject_candidates)
    assert copy.subject_line in copy.subject_candidates
    assert all(len(c) <= 80 for c in copy.subject_candidates)
    assert copy.subject_line == max(copy.subject_candidates, key=lambda c: copy.scores[c])
    assert 0 < len(copy.preheader) <= 100 and rows[1]["title"][:20] in copy.preheader
    assert "8 stories" in copy.intro and "Wednesday, August 5" in copy.intro
    assert copy.source == "offline"


def test_single_story_day():
    copy = offline_copy([enhanced_row(0)], day=DAY, newsletter_title="bitbybit", n=4)
    assert copy.subject_candidates and copy.preheader and "1 story from 1 source" in copy.intro


def test_subject_score_prefers_concrete_lines():
    lead = "Acme releases Falcon 3, an open-weight model for code"
    assert subject_score(lead, lead) > subject_score("Your daily tech newsletter is here", lead)
    assert subject_score("ACME RELEASES FALCON 3 TODAY!!!", lead) < subject_score(lead, lead)
    assert subject_score("You won't believe what Acme did", lead) < subject_score(lead, lead)
    best, scores = choose_subject(["Short", lead], lead)
    assert best == lead and set(scores) == {"Short", lead}


def test_llm_copy_is_used_and_cached():
    with OpenAIStubServer() as server:
        s1 = session_for(server)
        res = build_day(DAY, enhanced_rows(5), settings=SETTINGS, session=s1, write_files=False)
        assert res.row["copy_source"] == "llm" and res.row["llm_cost_usd"] > 0
        llm_lines = json.loads(server.answer(server.chat_requests[0]["body"]))["subject_lines"]
        assert set(llm_lines) <= set(res.row["subject_candidates"])
        assert res.row["intro"].startswith("Here are today's most important stories")
        assert [r["purpose"] for r in s1.ledger] == ["newsletter_copy"]
        cache = {r["cache_key"]: r["response_json"] for r in s1.new_cache_rows}

        s2 = session_for(server, cache=cache)
        again = build_day(DAY, enhanced_rows(5), settings=SETTINGS, session=s2, write_files=False)
        assert again.row["copy_source"] == "llm_cache" and len(server.chat_requests) == 1
        assert again.row["subject_line"] == res.row["subject_line"]
        assert again.row["newsletter_id"] == res.row["newsletter_id"]


def test_llm_copy_failure_falls_back_to_rules():
    with OpenAIStubServer() as server:
        server.script(Step(content="{broken"), Step(status=500))
        s = session_for(server)
        res = build_day(DAY, enhanced_rows(5), settings=SETTINGS, session=s, write_files=False)
        assert res.row["copy_source"] == "offline_fallback"
        assert (
            res.row["subject_line"]
            == offline_copy(enhanced_rows(5), day=DAY, newsletter_title="bitbybit", n=4).subject_line
        )
        assert [r["status"] for r in s.ledger] == ["invalid_json", "server_error"]


def test_hostile_model_output_is_inert():
    evil = '<script>alert(1)</script><img src=x onerror=alert(1)> <a href="javascript:alert(1)">x</a>'

    def answer(body):
        user = body["messages"][-1]["content"]
        if "subject lines" in body["messages"][0]["content"]:
            return json.dumps(
                {"subject_lines": [f"{evil} subject"], "preheader": f"{evil} pre", "intro": f"{evil} intro"}
            )
        ids = [a["id"] for a in prompts.unfence(user)]  # the fenced JSON array of the prompt
        return json.dumps(
            {
                "articles": [
                    {
                        "id": i,
                        "summary": f"{evil} A summary sentence here. Another one.",
                        "tags": ["<b onclick=x>t</b>", "t2", "t3"],
                    }
                    for i in ids
                ]
            }
        )

    with OpenAIStubServer(answer=answer) as server:
        s = session_for(server)
        enhanced = enhance_articles(scored_frame(3), session=s)
        assert enhanced["summary_source"].to_list() == ["llm"] * 3
        assert all("<" not in x for x in enhanced["summary"])  # model markup is stripped to text
        res = build_day(DAY, enhanced.to_dicts(), settings=SETTINGS, session=s, write_files=False)
        assert_no_executable_content(res.row["html"])
