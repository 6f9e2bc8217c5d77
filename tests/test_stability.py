"""When a measurement cannot be trusted: spread, bounded re-takes, reference drift, impossible values."""
import itertools

import pytest

from gpuefficient.measure import stability
from gpuefficient.measure.stability import Reference, exceeds, instability, relative_spread, take_stable
from gpuefficient.measure.timer import Measurement, Task


def fake(times, label="m"):
    return Measurement(Task(label=label), tuple(times), 1, "cpu", "perf_counter")


STEADY = [1.00, 1.02, 0.99, 1.01, 1.03, 0.98, 1.00, 1.01]
NOISY = [1.0, 3.0, 0.5, 2.2, 1.1, 4.0, 0.7, 1.9]


def test_relative_spread_is_iqr_over_median():
    m = fake(NOISY)
    assert relative_spread(m) == pytest.approx(m.iqr / m.median)
    assert relative_spread(fake(STEADY)) < 0.05


def test_instability_names_the_worst_measurement_and_the_limit():
    assert instability(fake(STEADY)) is None
    reason = instability({"a": fake(STEADY, "a"), "b": fake(NOISY, "b")})
    assert reason.startswith("b: IQR") and "limit 25%" in reason
    assert instability([fake(NOISY)], max_spread=10) is None
    with pytest.raises(ValueError, match="holds no Measurement"):
        instability([])


def test_take_stable_retakes_a_bounded_number_of_times():
    takes = iter([fake(NOISY), fake(STEADY)])
    taken = take_stable(lambda: next(takes))
    assert taken.attempts == 2 and taken.unstable is None and taken.result.times_s == tuple(STEADY)
    calls = itertools.count(1)
    taken = take_stable(lambda: (next(calls), fake(NOISY))[1], attempts=3)
    assert taken.attempts == 3 and next(calls) == 4 and taken.unstable.endswith("after 3 takes")


def test_reference_drift(monkeypatch):
    medians = iter([STEADY, [2 * t for t in STEADY]])
    monkeypatch.setattr(Reference, "_take", lambda self: fake(next(medians)))
    ref = Reference("cpu")
    assert ref.drift() == pytest.approx(2.0)
    assert ref.unstable().startswith("reference workload drift: 2.00x")
    medians = iter([STEADY, [1.1 * t for t in STEADY]])
    assert Reference("cpu").unstable() is None


def test_reference_times_a_real_workload():
    ref = Reference("cpu", budget_s=0.02)
    assert ref.start.median > 0 and ref.drift() > 0


def test_exceeds_flags_impossible_evidence():
    assert exceeds(1.2, 1.0, "ReLU bandwidth").startswith("ReLU bandwidth: 1.2 exceeds")
    assert exceeds(1.04, 1.0, "x") is None and exceeds(0.5, 1.0, "x") is None
    assert exceeds(1.04, 1.0, "x", tolerance=0.0) is not None
    with pytest.raises(ValueError, match="ceiling: got 0"):
        exceeds(1.0, 0, "x")


def test_thresholds_are_documented_constants():
    assert 0 < stability.MAX_SPREAD < 1 and 0 < stability.MAX_DRIFT < 1 and stability.ATTEMPTS >= 2
