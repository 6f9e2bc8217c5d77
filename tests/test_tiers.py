"""design.tiers: the fast table path equals LatencyTable.predict; tiers from bounds/quantiles; bad tiers."""
import numpy as np
import pytest

from gpuefficient.arch import gpunet_space as space
from gpuefficient.arch.builder import build
from gpuefficient.design.tiers import TableLatency, TierError, latency_tiers, tier_bounds
from gpuefficient.measure.lut import LatencyTable
from gpuefficient.measure.timer import Measurement, Task


def fake_timer(module, x):
    t = 1e-6 + 1e-9 * sum(p.numel() for p in module.parameters()) + 1e-12 * x.numel()
    return Measurement(Task(label=type(module).__name__), (1.2 * t, t, 0.9 * t), 0, "fake", "fake")


@pytest.fixture
def table(tmp_path):
    with LatencyTable(tmp_path / "t.sqlite", timer=fake_timer, device="cpu") as t:
        yield t


def codes(n, seed=3):
    return np.array([space.encode(u) for u in space.sobol(n, 41, seed)])


def test_fast_path_equals_full_prediction_and_counts_cache(table):
    rows = codes(3)
    full = []
    for code in rows:  # the slow, exact path fills the table
        spec = space.from_encoding(list(code))
        full.append(1e3 * table.predict(build(spec), (1, 3, spec.resolution, spec.resolution), "block").total_s)
    fast = TableLatency(table)  # fill=False: every unit must be served from the table
    np.testing.assert_allclose(fast.encodings_ms(rows), full, rtol=1e-12)
    np.testing.assert_allclose([fast.spec_ms(space.from_encoding(list(c))) for c in rows], full, rtol=1e-12)
    assert fast.misses == 0 and fast.hits > 10
    with pytest.raises(TierError, match="no entry for"):
        TableLatency(table).encodings_ms(codes(1, seed=99))  # a network whose units were never measured
    filling = TableLatency(table, fill=True)
    filling.encodings_ms(codes(1, seed=99))
    assert filling.misses > 0


def test_quantile_and_explicit_tiers():
    lat = lambda c: 1.0 + space.np.asarray([space.normalized_encoding(list(r)).sum() for r in c])  # noqa: E731
    report = latency_tiers(300, lat, quantiles=4, seed=0)
    assert sum(report.sizes) == 300 and len(report.sizes) == 4
    assert max(report.sizes) - min(report.sizes) <= 2  # equal-count tiers
    for i in range(4):
        low, high = report.tier(i)
        member = report.latencies_ms[report.tier_of == i]
        assert member.min() >= low and (member.max() < high or i == 3)
        assert len(report.members(i)) == report.sizes[i]
    fixed = latency_tiers(300, lat, bounds=[18, 22], seed=0)
    assert fixed.edges[1:3] == [18, 22] and sum(fixed.sizes) == 300
    assert fixed.sizes[0] == int((fixed.latencies_ms < 18).sum())
    assert report.to_dict()["tiers"][0]["size"] == report.sizes[0]


def test_bad_tiers_are_one_clear_error():
    lat = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TierError, match="at or below the fastest"):
        tier_bounds(lat, bounds=[0.5, 2])
    with pytest.raises(TierError, match="increasing"):
        tier_bounds(lat, bounds=[3, 2])
    with pytest.raises(ValueError, match="exactly one"):
        tier_bounds(lat)
    f = lambda c: np.where(np.arange(len(c)) % 2, 1.0, 5.0)  # noqa: E731 - two clusters: 1 and 5 ms
    with pytest.raises(TierError, match=r"tier 1 .* holds none"):
        latency_tiers(10, f, bounds=[2, 3])


def test_sobol_covers_more_evenly_than_uniform():
    report = latency_tiers(256, lambda c: np.arange(len(c), dtype=float), quantiles=2, seed=0, discrepancy_n=256)
    assert report.discrepancy["sobol"] < report.discrepancy["uniform"]
