"""The embed benchmark's CPU classes: which are run (natively or emulated) and how they are reported."""

from __future__ import annotations

from bench.embed import EMULATE, class_runs
from bench.report import render


def test_class_runs_native_then_each_smaller_class_emulated():
    assert class_runs("amx") == [
        ("amx", {}),
        ("avx512_bf16", EMULATE["avx512_bf16"]),
        ("avx512", EMULATE["avx512"]),
        ("avx2", EMULATE["avx2"]),
    ]
    assert [c for c, _ in class_runs("avx512_bf16")] == ["avx512_bf16", "avx512", "avx2"]
    assert class_runs("avx2") == [("avx2", {})]
    assert class_runs("generic") == [("generic", {})]
    assert EMULATE["avx2"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"


def _result(cls: str, emulated: bool, speedup: float, backend: str, precision: str) -> dict:
    return {
        "class": cls,
        "emulated": emulated,
        "texts": 10,
        "mean_chars": 100.0,
        "max_chars": 2000,
        "runs": 1,
        "reference_s": 1.0,
        "fast_s": 1.0 / speedup,
        "reference_per_s": 10.0,
        "fast_per_s": 10.0 * speedup,
        "speedup": speedup,
        "cosine_min": 0.99999,
        "cosine_mean": 0.999999,
        "day_rows": 5,
        "picks_reference": 3,
        "picks_fast": 3,
        "picks_overlap": 3,
        "picks_same_set": True,
        "picks_same_order": True,
        "pipeline_encoder": {"backend": backend, "precision": precision, "device": "cpu", "threads": "2"},
        "cpu_flags": "avx2 avx512f",
        "isa_env": {"ONEDNN_MAX_CPU_ISA": "AVX2"} if emulated else {},
        "load_before": "1.00 1.00 1.00",
        "load_after": "1.10 1.00 1.00",
    }


def test_report_has_a_row_per_class_and_a_target():
    classes = [
        _result("avx512_bf16", False, 3.0, "openvino", "bf16"),
        _result("avx2", True, 1.8, "openvino", "fp32"),
    ]
    sec = {
        "when": "now",
        "result": {
            **{k: v for k, v in classes[0].items() if k not in ("class", "emulated")},
            "classes": classes,
        },
    }
    text = render({"sections": {"embed": sec}, "machine": {}})
    assert "| avx2 (emulated)" in text and "| avx512_bf16 (this CPU)" in text
    assert "`ONEDNN_MAX_CPU_ISA=AVX2`" in text
    assert "avx2* 1.80×" in text
    target = next(line for line in text.splitlines() if line.startswith("| encoder per CPU class"))
    assert "**yes**" in target
    classes[1]["picks_same_set"] = False
    text = render({"sections": {"embed": sec}, "machine": {}})
    target = next(line for line in text.splitlines() if line.startswith("| encoder per CPU class"))
    assert "**no**" in target
