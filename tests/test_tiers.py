"""design.tiers: the fast table path equals LatencyTable.predict; unit keys composed without building equal
the built modules' keys; tiers from bounds/quantiles; bad tiers."""
import numpy as np
import pytest

from gpuefficient.arch import blocks
from gpuefficient.arch import gpunet_space as space
from gpuefficient.arch.builder import build
from gpuefficient.design import tiers
from gpuefficient.design.tiers import TableLatency, TierError, latency_tiers, tier_bounds
from gpuefficient.measure.lut import LatencyTable, unit_key_config
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


def small_codes(n, seed):
    """Random networks with at most 3 layers a stage (so a later block still counts twice): the full
    prediction they are checked against builds and traces whole networks, seconds each at 15 layers."""
    rows = codes(n, seed)
    for i in range(4, 41, 6):
        rows[:, i] = np.minimum(rows[:, i], 3)
    return rows


@pytest.fixture
def fresh_keys(monkeypatch):
    """Empty per-process key memos, so a test sees every key derived (and every module built) anew."""
    for name in ("_KEY_CONFIGS", "_COMPOSABLE", "_CHILD_TEXTS"):
        monkeypatch.setattr(tiers, name, {})


class Recording(dict):
    """A stand-in for a filled table's medians: every entry "stored", the value a function of its key."""

    def get(self, key, default=None):
        return 1e-6 * (1 + len(key[0]) % 97) * int(key[1].split("x")[-1])


def tableless(stored=None):
    """A TableLatency over ``stored`` medians (default: every entry present, see Recording), without a table file."""
    latency = TableLatency.__new__(TableLatency)
    latency.table, latency.batch, latency.fill, latency._stored = None, 1, False, stored or Recording()
    latency._configs, latency._known, latency.hits, latency.misses = {}, {}, 0, 0
    latency.timings = {"keys_s": 0.0, "lookups_s": 0.0, "vectorised_s": 0.0}
    return latency


def unit_keys(rows):
    """The unit keys the vectorised path asks for (no key derived, nothing looked up)."""
    seen, latency = set(), tableless()
    latency.unit_seconds = lambda key, size: seen.add(key) or 1.0
    latency.encodings_ms(rows)
    return seen


def test_fast_path_equals_full_prediction_and_counts_cache(table, fresh_keys):
    rows = np.concatenate([small_codes(3, seed=3), small_codes(2, seed=11)])
    full = []
    for code in rows:  # the slow, exact path fills the table
        spec = space.from_encoding(list(code))
        full.append(1e3 * table.predict(build(spec), (1, 3, spec.resolution, spec.resolution), "block").total_s)
    fast = TableLatency(table)  # fill=False: every unit must be served from the table
    np.testing.assert_allclose(fast.encodings_ms(rows), full, rtol=1e-12)
    np.testing.assert_allclose([fast.spec_ms(space.from_encoding(list(c))) for c in rows], full, rtol=1e-12)
    assert fast.misses == 0 and fast.hits > 10
    assert len(fast._configs) > 20 and tiers._COMPOSABLE and all(tiers._COMPOSABLE.values())
    with pytest.raises(TierError, match="no entry for"):
        TableLatency(table).encodings_ms(codes(1, seed=99))  # a network whose units were never measured
    filling = TableLatency(table, fill=True)
    filling.encodings_ms(codes(1, seed=99))
    assert filling.misses > 0


def test_composed_keys_equal_the_built_modules_keys(fresh_keys):
    """Every kind of unit of 400 sampled networks, and block structures the GPUNet space lacks (expansion 1,
    SE at expansion 1, 'same' padding): the key composed from memoised children is the built module's."""
    keys = sorted(unit_keys(codes(400, seed=5)), key=repr)
    rng = np.random.default_rng(0)
    blocks_ = [k for k in keys if k[1] in ("mbconv", "fused_mbconv")]
    chosen = [k for k in keys if k[0] != "block" or k[1] == "conv"]
    chosen += [blocks_[i] for i in rng.choice(len(blocks_), 40, replace=False)]
    for block in ("mbconv", "fused_mbconv"):
        for expansion, se, stride, in_ch, padding in [(1.0, 0.25, 1, 48, "symmetric"), (1.0, 0.0, 2, 32, "symmetric"),
                                                      (3.0, 0.25, 1, 64, "symmetric"), (2.5, 0.0, 2, 40, "same"),
                                                      (6.0, 0.25, 2, 24, "same_static")]:
            chosen.append(tiers._block_key(block, in_ch, 64, 3, stride, expansion, se, "relu", padding))
    structures = {tiers._structure(k) for k in chosen if k[1] in ("mbconv", "fused_mbconv")}
    assert len(structures) >= 12 and len(chosen) > 60
    for key in chosen:
        built = unit_key_config(tiers._build_unit(key))
        assert tiers.unit_key_config(key) == built, key
        if key[1] in ("mbconv", "fused_mbconv"):
            assert tiers._composed_key(key) == built, key


def test_fast_path_builds_no_block_per_network(fresh_keys, monkeypatch):
    """Regression guard for the slow path (one ~5 ms build per distinct block, a minute for 10^4 networks):
    predicting 300 networks builds one MBConv / Fused-MBConv per block structure (the check), not one per
    distinct block, and gives the same latencies as keys from built modules."""
    built = []
    original = blocks._InvertedResidual.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)
    monkeypatch.setattr(blocks._InvertedResidual, "__init__", counting)
    rows = codes(300, seed=7)
    latency = tableless()
    fast = latency.encodings_ms(rows)
    distinct = [k for k in latency._configs if k[1] in ("mbconv", "fused_mbconv")]
    assert len(distinct) > 1000
    assert len(built) == len(tiers._COMPOSABLE) <= 16
    assert latency.timings["keys_s"] > 0 and latency.timings["lookups_s"] > 0
    # the same sum with every key taken from a built module (composition off): identical latencies
    monkeypatch.setattr(tiers, "_composed_key", lambda key: None)
    monkeypatch.setattr(tiers, "_KEY_CONFIGS", {})
    np.testing.assert_array_equal(tableless().encodings_ms(rows[:12]), fast[:12])


def test_a_wrong_composition_falls_back_to_building(fresh_keys, monkeypatch):
    key = tiers._block_key("mbconv", 96, 112, 5, 1, 4.0, 0.25, "swish")
    monkeypatch.setattr(tiers, "_nest", lambda name, children: f"{name}(changed)")
    with pytest.warns(RuntimeWarning, match="differs from the built module"):
        assert tiers.unit_key_config(key) == unit_key_config(tiers._build_unit(key))
    assert tiers._COMPOSABLE == {tiers._structure(key): False}


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
