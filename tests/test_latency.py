import time

import pytest
import torch

from gpuefficient.latency import (Measurement, gpu_state, measure, measure_interleaved, random_input, resolve_device,
                                  round_ratios, sweep, trimmed_mean)


def test_measure_times_real_work_and_reports_context():
    m = measure(lambda: time.sleep(0.002), device="cpu", warmup=1, repeats=7, label="sleep",
                settings={"batch": 1})
    assert m.repeats == 7 and m.warmup == 1 and m.timer == "perf_counter"
    assert 0.002 <= m.median < 0.05
    assert m.min <= m.median <= m.max and m.iqr >= 0
    row = m.to_dict()
    assert row["batch"] == 1 and row["label"] == "sleep" and "version_torch" in row
    assert row["median_ms"] == pytest.approx(m.median * 1e3)
    assert "sleep: median" in repr(m)


def test_inner_divides_per_call():
    calls = []
    m = measure(lambda: calls.append(1), device="cpu", warmup=2, repeats=3, inner=4)
    assert len(calls) == 2 + 3 * 4 and m.inner == 4


def test_trimmed_mean_drops_ten_percent_each_side():
    values = [100.0] + [1.0] * 8 + [-100.0]
    assert trimmed_mean(values) == 1.0
    assert trimmed_mean([3.0]) == 3.0
    with pytest.raises(ValueError, match="proportion: got 0.5"):
        trimmed_mean(values, 0.5)


def test_record_round_trip():
    m = measure(lambda: None, device="cpu", warmup=0, repeats=3)
    again = Measurement.from_dict(m.as_record())
    assert again == m


def test_random_input_is_seeded_and_not_zero():
    a, b = random_input((2, 3, 4, 4), seed=1, device="cpu"), random_input((2, 3, 4, 4), seed=1, device="cpu")
    assert torch.equal(a, b) and a.abs().sum() > 0
    assert random_input((1, 2), torch.bfloat16, "cpu").dtype == torch.bfloat16


@pytest.mark.parametrize("kwargs, message", [
    (dict(repeats=0), "repeats: got 0"),
    (dict(warmup=-1), "warmup: got -1"),
    (dict(inner=1.5), "inner: got 1.5"),
    (dict(repeats=True), "repeats: got True"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        measure(lambda: None, device="cpu", **kwargs)


def test_bad_device_and_fn():
    with pytest.raises(ValueError, match="device: got 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(TypeError, match="expected a callable"):
        measure(3, device="cpu")
    with pytest.raises(ValueError, match="shape: got"):
        random_input((0, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_events_time_gpu_work():
    x = random_input((4096, 4096), torch.float16, "cuda")
    m = measure(lambda: x @ x, device="cuda", warmup=3, repeats=10)
    assert m.timer == "cuda_event" and m.median > 0


def test_measure_model_records_settings():
    from torch import nn

    from gpuefficient.latency import measure_model

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    m = measure_model(model, (2, 3, 16, 16), device="cpu", channels_last=True, warmup=1, repeats=3, label="tiny")
    row = m.to_dict()
    assert row["batch"] == 2 and row["input_shape"] == "2x3x16x16" and row["memory_format"] == "channels_last"
    assert row["backend"] == "eager" and row["dtype"] == "float32" and m.median > 0


def test_cold_cache_flushes_before_every_sample_outside_the_timing():
    calls = []
    warm = measure(lambda: calls.append(1), device="cpu", warmup=0, repeats=3)
    cold = measure(lambda: calls.append(1), device="cpu", warmup=0, repeats=3, flush_cache=True)
    assert warm.settings["cache"] == "warm" and cold.settings["cache"].startswith("cold")
    # overwriting 128 MiB takes milliseconds; an empty call timed after it must stay far below that
    assert cold.median < 1e-3


def test_sweep_skips_out_of_memory_and_goes_on():
    def measure_at(batch):
        if batch == 64:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if batch == 128:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 TB")
        return measure(lambda: None, device="cpu", warmup=0, repeats=2, settings={"batch": batch})

    points = sweep(measure_at, [1, 64, 128, 2], device="cpu")
    assert [p.value for p in points] == [1, 64, 128, 2]
    assert [p.measurement is None for p in points] == [False, True, True, False]
    assert points[1].skipped.startswith("out of memory: CUDA out of memory")
    assert points[3].measurement.settings["batch"] == 2


def test_sweep_does_not_swallow_other_errors():
    def measure_at(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        sweep(measure_at, [1], device="cpu")


def test_gpu_state_parses_nvidia_smi_and_is_empty_on_cpu():
    from gpuefficient.latency import _parse_smi

    assert gpu_state("cpu") == {}
    state = _parse_smi("1980, 2619, 1980, 41, 118.52, P0, 0x0000000000000000\n",
                       ["sm_clock_mhz", "memory_clock_mhz", "max_sm_clock_mhz", "temperature_c", "power_w",
                        "pstate", "throttle_reasons"])
    assert state == {"sm_clock_mhz": 1980.0, "memory_clock_mhz": 2619.0, "max_sm_clock_mhz": 1980.0,
                     "temperature_c": 41.0, "power_w": 118.52, "pstate": "P0",
                     "throttle_reasons": "0x0000000000000000"}
    assert _parse_smi("[N/A]", ["power_w"]) == {"power_w": None}


def test_interleaved_rounds_alternate_and_cancel_drift():
    """A machine that slows down over time: sequential timing makes the later callable look slower;
    interleaved rounds keep the per-round ratio honest."""
    calls, clock = [], {"slowdown": 1.0}

    def work(name, seconds):
        def fn():
            calls.append(name)
            time.sleep(seconds * clock["slowdown"])
            clock["slowdown"] += 0.02  # drift: every call makes the next one 2% slower
        return fn

    result = measure_interleaved({"a": work("a", 0.002), "b": work("b", 0.002)}, device="cpu", warmup=1, rounds=4,
                                 repeats=3)
    assert calls[:2] == ["a", "b"] and len(calls) == 2 * (1 + 4 * 3)
    assert calls[2:8] == ["a"] * 3 + ["b"] * 3 and calls[8:14] == ["b"] * 3 + ["a"] * 3  # the order rotates
    a, b = result["a"], result["b"]
    assert a.repeats == b.repeats == 12 and a.settings["rounds"] == 4 and a.settings["interleaved_with"] == ["a", "b"]
    ratios = round_ratios(a, b)
    assert len(ratios) == 4 and all(0.7 < r < 1.4 for r in ratios)  # equal work, equal within each round
    with pytest.raises(ValueError, match="expected two measurements of one measure_interleaved call"):
        round_ratios(a, measure(lambda: None, device="cpu", warmup=0, repeats=12))
    with pytest.raises(TypeError, match="expected a non-empty dict"):
        measure_interleaved({}, device="cpu")
    with pytest.raises(ValueError, match="rounds: got 0"):
        measure_interleaved({"a": lambda: None}, device="cpu", rounds=0)
