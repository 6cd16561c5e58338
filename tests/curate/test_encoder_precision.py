"""The encoder's precision on a bf16 CPU class is measured once per machine and recorded
(:mod:`resources.encoder_precision`); the measurement itself runs on fakes here."""

from __future__ import annotations

import json

import pytest

from resources import encoder_precision as ep
from resources.embeddings import Encoder


class FakeModel:
    """``encode`` that takes ``cost`` seconds of pretend work per call (counted, not slept)."""

    def __init__(self, precision: str, clock: list[float], cost: float) -> None:
        self.precision, self.clock, self.cost, self.calls = precision, clock, cost, 0

    def encode(self, texts: list[str], batch_size: int) -> list[str]:
        self.calls += 1
        self.clock[0] += self.cost
        return texts


@pytest.fixture
def fake_clock(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(ep.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(ep, "fingerprint", lambda threads: f"machine-{threads}")
    return clock


def test_calibration_texts_are_deterministic_and_span_the_corpus_lengths():
    texts = ep.calibration_texts()
    assert texts == ep.calibration_texts() and len(texts) == 42
    assert {len(t.split()) for t in texts} == set(ep._LENGTHS)


def test_choose_takes_the_faster_and_fp32_on_a_tie():
    assert ep.choose({"bf16": 300.0, "fp32": 60.0}, ("bf16", "fp32")) == "bf16"
    assert ep.choose({"bf16": 66.0, "fp32": 86.0}, ("bf16", "fp32")) == "fp32"
    assert ep.choose({"bf16": 80.0, "fp32": 80.0}, ("bf16", "fp32")) == "fp32"


@pytest.mark.parametrize(("bf16_cost", "fp32_cost", "expected"), [(1.0, 5.0, "bf16"), (1.5, 1.0, "fp32")])
def test_measures_once_then_reads_the_record(tmp_path, fake_clock, bf16_cost, fp32_cost, expected):
    cost = {"bf16": bf16_cost, "fp32": fp32_cost}
    loads: list[str] = []

    def load(precision: str) -> FakeModel:
        loads.append(precision)
        return FakeModel(precision, fake_clock, cost[precision])

    chosen, model, rates = ep.recorded_or_measured(tmp_path, ("bf16", "fp32"), 2, load)
    assert chosen == expected and model.precision == expected
    assert model.calls == 1 + ep.ROUNDS  # a warm-up pass, then the timed ones
    record = json.loads((tmp_path / ep.RECORD).read_text())["machine-2"]
    n = len(ep.calibration_texts())
    assert record["choice"] == expected and record["threads"] == 2
    assert record["texts_per_s"] == rates == {"bf16": round(n / bf16_cost, 1), "fp32": round(n / fp32_cost, 1)}

    loads.clear()
    again, model, again_rates = ep.recorded_or_measured(tmp_path, ("bf16", "fp32"), 2, load)
    assert again == expected and loads == [expected] and model.calls == 0  # read, not measured
    assert again_rates == rates

    loads.clear()  # another machine (here: another thread count) measures for itself
    ep.recorded_or_measured(tmp_path, ("bf16", "fp32"), 1, load)
    assert sorted(loads) == ["bf16", "fp32"]
    assert set(json.loads((tmp_path / ep.RECORD).read_text())) == {"machine-1", "machine-2"}


def test_one_candidate_is_not_measured(tmp_path, fake_clock):
    chosen, model, rates = ep.recorded_or_measured(tmp_path, ("fp32",), 2, lambda p: FakeModel(p, fake_clock, 1.0))
    assert chosen == "fp32" and model.calls == 0 and rates == {} and not (tmp_path / ep.RECORD).exists()


def test_a_corrupt_or_unwritable_record_measures_again(tmp_path, fake_clock):
    (tmp_path / ep.RECORD).write_text("{not json")
    assert ep.read_records(tmp_path) == {}
    chosen, _, _ = ep.recorded_or_measured(tmp_path / "missing", ("bf16", "fp32"), 2,
                                        lambda p: FakeModel(p, fake_clock, 1.0 if p == "bf16" else 2.0))
    assert chosen == "bf16"  # the folder does not exist: logged, not raised


def test_fingerprint_follows_the_isa_cap(monkeypatch):
    pytest.importorskip("openvino")
    plain = ep.fingerprint(2)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert ep.fingerprint(2) != plain and ep.fingerprint(1) != ep.fingerprint(2)


def test_encoder_precision_argument_is_checked():
    with pytest.raises(ValueError, match="precision"):
        Encoder(precision="int8")
    with pytest.raises(ValueError, match="bf16 needs a bf16 CPU class"):
        Encoder(device="cpu", backend="openvino", cpu_class="avx2", precision="bf16").info()
