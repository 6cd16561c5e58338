"""Render benchmark results (the JSON-able dicts of bench.runner) as Markdown tables.

Tables and targets in :mod:`bench.report_table`, section 4 (scale) in :mod:`bench.report_scale`.
"""

from __future__ import annotations

from typing import Any

from bench.report_scale import growth_ratios, scale_section, scale_targets
from bench.report_table import GIB, TARGETS, cell, met, table

LAST_STAGE = "newsletters"


def _stamp(sec: dict[str, Any]) -> str:
    bits = [f"run {sec.get('when', '?')}"]
    if sec.get("load_before"):
        bits.append(f"load average (1/5/15 min) before {sec['load_before']}, after {sec.get('load_after', '?')}")
    if sec.get("quick"):
        bits.append("**--quick (smoke sizes, not the real figures)**")
    if sec.get("corpus"):
        bits.append(f"corpus `{sec['corpus']}`")
    return "_" + "; ".join(bits) + "_"


# ------------------------------------------------------------------ sections
def _embed(sec: dict[str, Any]) -> list[str]:
    r = sec["result"]
    info = r.get("pipeline_encoder", {})
    fast_name = f"pipeline encoder: {info.get('backend', '?')} {info.get('precision', '?')} on {info.get('device', '?')}"
    out = [
        f"{r['texts']} distinct article texts (title + lead, built by `curate.text.with_text`, "
        f"max {r['max_chars']} chars, mean {r['mean_chars']:.0f} chars) of {', '.join(r.get('text_days', []))}; "
        f"batch size {r.get('batch_size', 64)}; each model warmed up, then the best of {r['runs']} runs.",
        "",
        table(
            ["encoder", "articles/s", "best run (s)"],
            [
                ["plain sentence-transformers fp32 (torch, cpu)", r["reference_per_s"], r["reference_s"]],
                [fast_name, r["fast_per_s"], r["fast_s"]],
            ],
        ),
        "",
        table(
            ["agreement", "value"],
            [
                ["speed-up (pipeline / plain fp32)", f"{r['speedup']:.2f}×"],
                ["cosine between the two embeddings, min", f"{r['cosine_min']:.6f}"],
                ["cosine, mean", f"{r['cosine_mean']:.6f}"],
                [f"picks of {r.get('picks_day')} ({r['day_rows']} rows), same set",
                 f"{cell(r['picks_same_set'])} ({r['picks_overlap']}/{max(r['picks_reference'], r['picks_fast'])} shared)"],
                ["picks, same order", r["picks_same_order"]],
            ],
        ),
        "",
        "Picks: `curate_days` on that day's filtered_articles (no stored history), once with each set of "
        "embeddings, topic/ad prototypes embedded by the same model; compared by entry_key.",
    ]
    if r.get("classes"):
        out += ["", *_embed_classes(r["classes"])]
    return out


def _embed_classes(classes: list[dict[str, Any]]) -> list[str]:
    """One block per CPU class: plain ST fp32 and the encoder chosen for the class, side by side."""
    rows = []
    for c in classes:
        how = f"{c['class']} ({'emulated' if c.get('emulated') else 'this CPU'})"
        if c.get("error"):
            rows.append([how, "failed", "", "", "", "", "", "", "", c["error"][-120:].replace("\n", " ")])
            continue
        info = c.get("pipeline_encoder", {})
        load = f"{c.get('load_before', '?').split()[0]} → {c.get('load_after', '?').split()[0]}"
        rows.append([how, "plain sentence-transformers", "torch", "fp32", "–", c["reference_per_s"], "1.00×",
                     "1", "yes", load])
        rows.append([how, "pipeline encoder", info.get("backend"), info.get("precision"), info.get("threads"),
                     c["fast_per_s"], f"{c['speedup']:.2f}×", f"{c['cosine_min']:.6f}",
                     f"{cell(c['picks_same_set'])} ({c['picks_overlap']}/{max(c['picks_reference'], c['picks_fast'])})",
                     load])
    caps = "; ".join(
        f"{c['class']}: " + (", ".join(f"`{k}={v}`" for k, v in c.get("isa_env", {}).items()) or "none")
        for c in classes
    )
    flags = next((c.get("cpu_flags") for c in classes if c.get("cpu_flags")), "?")
    measured = "; ".join(f"{c['class']}: {c['pipeline_encoder']['measured']} → {c['pipeline_encoder'].get('precision')}"
                         for c in classes if c.get("pipeline_encoder", {}).get("measured", "-") != "-")
    return [
        "Per CPU class (`resources/embeddings.py` detects the class and chooses the backend; each class in its "
        "own child process, the two encoders timed alternately in it, so the ratio is side by side). "
        "Smaller classes are **emulated** on this CPU by capping the instruction set: the figures show the "
        "path chosen for that class running on this CPU's cores and memory, not a real machine of that class. "
        f"Caps: {caps}. CPU flags: `{flags}`."
        + (f" On a bf16 class the precision is the faster of bf16 and fp32 as timed once on the machine "
           f"(`resources/encoder_precision.py`, synthetic texts): {measured}." if measured else ""),
        "",
        table(["CPU class", "encoder", "backend", "precision", "threads", "articles/s", "ratio to plain fp32",
               "min cosine", "same picks", "load (1 min) before → after"], rows),
    ]


def _child_row(name: str, c: dict[str, Any]) -> list[Any]:
    run = c.get("run") or {}
    status = "ok" if c.get("ok") else ("timed out" if c.get("timed_out") else f"failed (rc {c.get('returncode')})")
    outside = c["wall_s"] - run["run_s"] if c.get("wall_s") is not None and run.get("run_s") is not None else None
    return [name, c.get("wall_s"), run.get("run_s"), outside, c.get("cpu_s"), c.get("max_rss_mib"),
            c.get("tree_rss_mib"), status]


RUN_HEAD = ["run", "wall (s)", "Dagster run (s)", "outside the run (s)", "CPU (s)", "peak RSS (MiB)",
            "peak PSS with subprocesses (MiB)", "status"]


def _where(columns: dict[str, dict[str, Any]]) -> list[str]:
    """One line per run: the three largest steps and the time outside the Dagster run."""
    out = []
    for name, c in columns.items():
        run = c.get("run") or {}
        steps = [(k, v["seconds"]) for k, v in run.get("steps", {}).items()
                 if v["seconds"] is not None and not _is_check(k, run)]
        top = sorted(steps, key=lambda kv: -kv[1])[:3]
        if not top:
            continue
        outside = c["wall_s"] - run["run_s"] if run.get("run_s") is not None else None
        parts = [f"`{k}` {v:.1f} s" for k, v in top]
        if outside is not None:
            parts.append(f"outside the run (interpreter start, imports, definitions, exit) {outside:.1f} s")
        out.append(f"Where {name} time goes: " + ", ".join(parts) + f" of {c['wall_s']:.1f} s wall.")
    return [" ".join(out)] if out else []


def _is_check(step: str, run: dict[str, Any]) -> bool:
    """Asset-check steps: recorded as such, else named ``<asset>_<check>`` / ``freshness_check_*``."""
    if step in run.get("check_steps", []):
        return True
    assets = [a for a in run.get("assets", []) if "/" not in a]
    return step.startswith("freshness_check") or any(step.startswith(a + "_") for a in assets)


def _steps_table(columns: dict[str, dict[str, Any]]) -> str:
    """Seconds per asset step; asset-check steps summed in one row (failed ones named)."""
    names: list[str] = []
    for c in columns.values():
        run = c.get("run") or {}
        for k in run.get("steps", {}):
            if k not in names and not _is_check(k, run):
                names.append(k)
    rows = []
    for k in names:
        row: list[Any] = [k]
        for c in columns.values():
            st = (c.get("run") or {}).get("steps", {}).get(k)
            row.append(None if st is None else (st["seconds"] if st["ok"] else f"failed ({cell(st['seconds'])})"))
        rows.append(row)
    checks: list[Any] = []
    for c in columns.values():
        run = c.get("run") or {}
        mine = {k: v for k, v in run.get("steps", {}).items() if _is_check(k, run)}
        total = sum(v["seconds"] or 0 for v in mine.values())
        failed = [k for k, v in mine.items() if not v["ok"]]
        checks.append(f"{cell(total)} ({len(mine)} steps" + (f"; FAILED: {', '.join(failed)})" if failed else ")"))
    if any(((c.get("run") or {}).get("steps")) for c in columns.values()):
        rows.append(["asset checks, all", *checks])
    return table(["step", *[f"{n} (s)" for n in columns]], rows) if rows else "_no step events recorded_"


CACHE_WORDS = ("cache", "encoded", "reused", "re-used", "hit", "miss", "llm_calls", "tokens")


def _cache_table(columns: dict[str, dict[str, Any]]) -> str:
    """Numeric metadata whose name speaks of caches/encoding, per run (cold vs warm)."""
    keys: list[tuple[str, str]] = []
    for c in columns.values():
        for asset, meta in ((c.get("run") or {}).get("metadata") or {}).items():
            for k in meta:
                if any(w in k.lower() for w in CACHE_WORDS) and (asset, k) not in keys:
                    keys.append((asset, k))
    rows = [[f"{a}: {k}", *[((c.get("run") or {}).get("metadata") or {}).get(a, {}).get(k) for c in columns.values()]]
            for a, k in keys]
    return table(["metadata", *columns], rows) if rows else ""


def _pending(child: dict[str, Any]) -> list[str]:
    run = child.get("run") or {}
    assets = run.get("assets", [])
    out: list[str] = []
    failed = [k for k, v in run.get("steps", {}).items() if not v["ok"]]
    if failed:
        out += ["", f"**The run failed** at step(s) {', '.join(f'`{k}`' for k in failed)}."]
        for chk in run.get("failed_checks", []):
            out.append(f"Failed check: {chk}")
        for k, msg in run.get("errors", {}).items():
            out.append(f"`{k}`: {msg}")
    if LAST_STAGE in assets:
        return out
    reason = ("the run stopped before it" if failed else
              f"the `daily_pipeline` job does not reach `{LAST_STAGE}` yet;")
    return [*out, "",
            f"**Pending:** {reason} materialised `{LAST_STAGE}`; these figures cover only the assets it "
            f"materialised ({', '.join(a for a in assets if '/' not in a) or 'none'}"
            f"{', dbt models' if any('/' in a for a in assets) else ''}). Rerun `python -m bench --only day` "
            "(and `--only backfill`) once the whole pipeline runs."]


def _day(sec: dict[str, Any]) -> list[str]:
    r = sec["result"]
    out = [
        f"`python -m bitbybit_assets.cli run --start {r['day']} --end {r['day']}` in a child process with a fresh "
        "temporary `DAGSTER_HOME`, `BITBYBIT_LAKEHOUSE_ROOT`, `BITBYBIT_DATA_DIR` and `BITBYBIT_OUTPUT_DIR` "
        "(`BITBYBIT_FEED_SOURCE=archive`, `BITBYBIT_FEED_ARCHIVE` = the corpus). Day assignment needs the "
        "earlier days' `raw_feeds`, so they are materialised first in their own run (`python -m bench.prep`, "
        "not counted). Then the encoder's one-off conversion to OpenVINO IR in the model cache "
        "(`<data dir>/model_cache`, what the first run after installing pays once; timed, not counted). "
        "**cold** = first run of the day (empty embedding and LLM caches, new process: imports, "
        "definitions, model load from the model cache); **warm** = the same command again on the same lakehouse (a new process too, so "
        "imports and the model load are paid again; embeddings and LLM answers come from the caches). Wall time measured "
        "around the child; CPU (user+sys) from the child's rusage (`os.wait4`); peak RSS = the CLI process's "
        "`VmHWM`, and the largest sampled sum of PSS over it and its subprocesses (dbt); Dagster run and step times from "
        "the run's RUN_/STEP_ events in that instance's event log. Postgres loading is off (no DSN passed to the "
        f"child; the local DuckDB warehouse and dbt run in the temporary data folder); {r.get('llm', '')}.",
        "",
    ]
    if r.get("error"):
        out += [f"**Error:** {r['error']}", ""]
    rows = []
    if "prep" in r:
        d = r["prep"].get("days", ["?", "?"])
        rows.append(_child_row(f"prep: raw_feeds {d[0]}..{d[1]} (not counted)", r["prep"]))
    if "install" in r:
        rows.append(_child_row("install: encoder conversion, once per machine (not counted)", r["install"]))
    for k in ("cold", "warm"):
        if k in r:
            rows.append(_child_row(k, r[k]))
    out.append(table(RUN_HEAD, rows))
    cols = {k: r[k] for k in ("cold", "warm") if k in r}
    if cols:
        out += ["", "Time per stage (STEP_START → STEP_SUCCESS):", "", _steps_table(cols)]
        out += ["", *_where(cols)]
        caches = _cache_table(cols)
        if caches:
            out += ["", "Cache figures from the materialisation metadata:", "", caches]
        out += _pending(r.get("cold", {}))
        if r.get("cold", {}).get("ok") and "warm" in r and not r["warm"].get("ok"):
            out += ["", "Warm run:", *_pending(r["warm"])]
    for k in ("prep", "install", "cold", "warm"):
        c = r.get(k)
        if c and not c.get("ok"):
            out += ["", f"{k} output (tail):", "", "```", c.get("output_tail", "")[-1500:], "```"]
    return out


def _backfill(sec: dict[str, Any]) -> list[str]:
    r = sec["result"]
    c = r["run"]
    out = [
        f"`python -m bitbybit_assets.cli run --start {r['first']} --end {r['last']}` ({r['days']} days) on a fresh "
        "temporary lakehouse and instance, as for the day figures; the CLI runs the range as one run of "
        "`backfill_ingest_curate`, one `backfill_publish_day` run per day, one `backfill_warehouse` run per stretch "
        "of published days and one `warehouse_tests` run (the dbt tests) — "
        f"{(c.get('run') or {}).get('runs', '?')} Dagster runs in one process, their times summed below; "
        f"{r.get('llm', '')}. The encoder's conversion into the model cache runs first in its own process "
        "(`python -m resources.embeddings prepare`, what `make setup` does), timed and not counted.",
        "",
        table(RUN_HEAD, [*([_child_row("install: encoder conversion, once per machine (not counted)", r["install"])]
                           if "install" in r else []), _child_row(f"{r['days']}-day backfill", c)]),
        "",
        "Time per stage:",
        "",
        _steps_table({"backfill": c}),
    ]
    out += ["", *_where({"backfill": c})]
    out += _pending(c)
    if not c.get("ok"):
        out += ["", "output (tail):", "", "```", c.get("output_tail", "")[-1500:], "```"]
    return out


GPU_TEXT = [
    "No GPU machine was lent to the session that produced these figures (the device tool reported this task "
    "as not drawn), so there is no GPU figure yet. On a CUDA machine the encoder picks torch fp16/bf16 on the "
    "GPU by itself; get the figure with `python -m bench --only embed` there (the pipeline encoder row then "
    "reads `torch bf16 on cuda`), or with `scripts/check_gpu.py` where present.",
]


# ------------------------------------------------------------------ targets
def _targets(sections: dict[str, Any]) -> str:
    rows = []
    emb = (sections.get("embed") or {}).get("result")
    if emb:
        rows.append(["embedding speed-up over plain fp32", f"≥ {TARGETS['speedup']}×", f"{emb['speedup']:.2f}×",
                     met(emb["speedup"] >= TARGETS["speedup"])])
        same = emb["cosine_min"] >= TARGETS["cosine"] and emb["picks_same_set"]
        rows.append(["equivalent embeddings", f"cosine ≥ {TARGETS['cosine']}, same picks",
                     f"min cosine {emb['cosine_min']:.6f}, picks {'same' if emb['picks_same_set'] else 'differ'}",
                     met(same)])
        ok_classes = [c for c in emb.get("classes", []) if not c.get("error")]
        if ok_classes:
            good = all(c["speedup"] > 1 and c["cosine_min"] >= TARGETS["cosine"] and c["picks_same_set"]
                       for c in ok_classes) and len(ok_classes) == len(emb["classes"])
            rows.append(["encoder per CPU class (* emulated)", f"> 1× plain fp32, cosine ≥ {TARGETS['cosine']}, "
                         "same picks, every class",
                         ", ".join(f"{c['class']}{'*' if c.get('emulated') else ''} {c['speedup']:.2f}× "
                                   f"(min cos {c['cosine_min']:.5f}, picks {'same' if c['picks_same_set'] else 'differ'})"
                                   for c in ok_classes), met(good)])
    else:
        rows.append(["embedding speed-up over plain fp32", f"≥ {TARGETS['speedup']}×", "not run", met(None)])
    day = (sections.get("day") or {}).get("result") or {}
    complete_day = LAST_STAGE in ((day.get("cold") or {}).get("run") or {}).get("assets", [])
    rss: list[float] = []
    for k, goal in (("cold", "day_cold_s"), ("warm", "day_warm_s")):
        c = day.get(k)
        if c:
            rss.append(max(c["max_rss_mib"], c.get("tree_rss_mib") or 0))
            note = "" if complete_day else " (partial pipeline)"
            rows.append([f"one day {k}, wall", f"≤ {TARGETS[goal]:.0f} s", f"{c['wall_s']:.1f} s{note}",
                         met(c["ok"] and c["wall_s"] <= TARGETS[goal]) if complete_day else met(None)])
        else:
            rows.append([f"one day {k}, wall", f"≤ {TARGETS[goal]:.0f} s", "not run", met(None)])
    bf = (sections.get("backfill") or {}).get("result") or {}
    c = bf.get("run")
    if c:
        rss.append(max(c["max_rss_mib"], c.get("tree_rss_mib") or 0))
        complete = LAST_STAGE in (c.get("run") or {}).get("assets", [])
        rows.append([f"{bf['days']}-day backfill, wall", f"≤ {TARGETS['backfill_s'] / 60:.0f} min",
                     f"{c['wall_s'] / 60:.1f} min" + ("" if complete else " (partial pipeline)"),
                     met(c["ok"] and c["wall_s"] <= TARGETS["backfill_s"]) if complete else met(None)])
    else:
        rows.append(["30-day backfill, wall", f"≤ {TARGETS['backfill_s'] / 60:.0f} min", bf.get("skipped", "not run"),
                     met(None)])
    if rss:
        rows.append(["peak RSS (day cold/warm, backfill)", f"≤ {TARGETS['rss_mib'] / GIB:g} GiB", f"{max(rss):.0f} MiB",
                     met(max(rss) <= TARGETS["rss_mib"]) if complete_day else met(None)])
    sc = (sections.get("scale") or {}).get("result")
    if sc:
        g = growth_ratios(sc["sizes"], ("content filter", "curate_days"))
        rows.append(["cost per article, smallest → largest size", "flat", "; ".join(g) or "n/a", "see §4"])
        rows += scale_targets(sc["sizes"])
    return table(["target", "goal", "measured", "met"], rows)


ORDER = (("embed", "1. Embedding throughput", _embed), ("day", "2. One day end to end (CLI)", _day),
         ("backfill", "3. Backfill in one run", _backfill), ("scale", "4. Scale: synthetic days", scale_section))


def render(results: dict[str, Any]) -> str:
    sections = results.get("sections", {})
    machine = results.get("machine", {})
    out = [
        "# Benchmarks",
        "",
        "Speed, memory and scale of the pipeline on one small machine. Regenerate with `make bench` "
        "(`.venv/bin/python -m bench`); one section: `python -m bench --only embed|day|backfill|scale` "
        "(the other sections keep their last figures, from `.bench/results.json`); smoke run: `--quick`; "
        "corpus: `--corpus PATH` (default `../shared/data/feeds`, else `sample_data/feeds`). "
        "Each section says when it ran and the machine load at the time: other work on the same cores "
        "slows every figure down.",
        "",
        "## Targets",
        "",
        _targets(sections),
        "",
        "## Machine",
        "",
        table(["", ""], [[k, v] for k, v in machine.items()]),
    ]
    for key, title, fn in ORDER:
        out += ["", f"## {title}", ""]
        sec = sections.get(key)
        if not sec:
            out.append("_not run yet_")
            continue
        out += [_stamp(sec), ""]
        if sec.get("error"):
            out.append(f"**Failed:** `{sec['error']}`")
        elif sec.get("result", {}).get("skipped"):
            out.append(f"Skipped: {sec['result']['skipped']}.")
        else:
            out += fn(sec)
    out += ["", "## 5. GPU", "", *GPU_TEXT, ""]
    return "\n".join(out)
