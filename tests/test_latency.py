import time

import pytest
import torch

from gpuefficient.device import gpu_state, resolve_device
from gpuefficient.measure import timer
from gpuefficient.measure.timer import (Measurement, Task, measure, measure_interleaved, random_input, round_ratios,
                                        sweep, trimmed_mean)


def test_measure_times_real_work_and_reports_context():
    m = measure(lambda: time.sleep(0.002), device="cpu", warmup=1, repeats=7,
                task=Task(label="sleep", input_shape=(1, 3, 8, 8), details={"model": "none"}))
    assert m.repeats == 7 and m.warmup == 1 and m.timer == "perf_counter"
    assert 0.002 <= m.median < 0.05
    assert m.min <= m.median <= m.max and m.iqr >= 0
    row = m.row()
    assert row["batch"] == 1 and row["label"] == "sleep" and row["model"] == "none" and "version_torch" in row
    assert row["median_ms"] == pytest.approx(m.median * 1e3)
    assert "sleep: median" in repr(m)


def test_inner_divides_per_call():
    calls = []
    m = measure(lambda: calls.append(1), device="cpu", warmup=2, repeats=3, inner=4)
    assert len(calls) == 2 + 3 * 4 and m.task.inner == 4


def test_inner_divides_each_sample(monkeypatch):
    """A fake clock that advances 1 s per call: every sample of 4 calls must read 1 s per call."""
    clock = {"t": 0.0}
    monkeypatch.setattr(timer.time, "perf_counter", lambda: clock["t"])
    m = measure(lambda: clock.__setitem__("t", clock["t"] + 1.0), device="cpu", warmup=0, repeats=3, inner=4)
    assert m.times_s == (1.0, 1.0, 1.0)


def test_median_is_the_median_not_the_mean():
    m = Measurement(Task(), (1.0, 2.0, 9.0), 0, "cpu", "perf_counter")
    assert m.median == 2.0 and m.mean == 4.0 and m.iqr == 4.0 and m.min == 1.0 and m.max == 9.0


def test_garbage_collection_is_paused_while_sampling():
    import gc

    seen = []
    measure(lambda: seen.append(gc.isenabled()), device="cpu", warmup=0, repeats=3)
    assert seen == [False] * 3 and gc.isenabled()


def test_task_details_cannot_overwrite_a_statistic():
    with pytest.raises(ValueError, match="details: got keys \\['median_ms'\\]"):
        Task(details={"median_ms": 1.0})
    with pytest.raises(ValueError, match="label: give it in the task"):
        measure(lambda: None, device="cpu", task=Task(label="a"), label="b")


def test_trimmed_mean_drops_ten_percent_each_side():
    values = [100.0] + [1.0] * 8 + [-100.0]
    assert trimmed_mean(values) == 1.0
    assert trimmed_mean([3.0]) == 3.0
    with pytest.raises(ValueError, match="proportion: got 0.5"):
        trimmed_mean(values, 0.5)


def test_record_round_trip_through_json():
    import json

    m = measure(lambda: None, device="cpu", warmup=0, repeats=3,
                task=Task(label="x", backend="eager", dtype="float16", input_shape=(2, 3), details={"n": 3}))
    assert m.task.dtype == "fp16"  # one canonical name whatever the spelling
    again = Measurement.from_dict(json.loads(json.dumps(m.to_dict())))
    assert again == m
    with pytest.raises(ValueError, match="expected a Measurement.to_dict"):
        Measurement.from_dict({"task": {}})


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

    from gpuefficient.measure.timer import measure_model

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    m = measure_model(model, (2, 3, 16, 16), device="cpu", channels_last=True, warmup=1, repeats=3, label="tiny")
    row = m.row()
    assert row["batch"] == 2 and row["input_shape"] == "2x3x16x16" and row["memory_format"] == "channels_last"
    assert row["backend"] == "eager" and row["dtype"] == "fp32" and m.median > 0
    assert m.task.cudnn_benchmark is None  # recorded on CUDA only


def test_cold_cache_flushes_before_every_sample_outside_the_timing():
    calls = []
    warm = measure(lambda: calls.append(1), device="cpu", warmup=0, repeats=3)
    cold = measure(lambda: calls.append(1), device="cpu", warmup=0, repeats=3, flush_cache=True)
    assert warm.task.cache == "warm" and cold.task.cache == "cold"
    # overwriting 128 MiB takes milliseconds; an empty call timed after it must stay far below that
    assert cold.median < 1e-3
    with pytest.raises(ValueError, match="inner: got 4 with flush_cache=True"):
        measure(lambda: None, device="cpu", inner=4, flush_cache=True)


def test_sweep_skips_out_of_memory_and_goes_on():
    def measure_at(batch):
        if batch == 64:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if batch == 128:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 TB")
        return measure(lambda: None, device="cpu", warmup=0, repeats=2, task=Task(input_shape=(batch, 3)))

    points = sweep(measure_at, [1, 64, 128, 2])
    assert [p.value for p in points] == [1, 64, 128, 2]
    assert [p.measurement is None for p in points] == [False, True, True, False]
    assert points[1].skipped.startswith("out of memory: CUDA out of memory")
    assert points[3].measurement.task.batch == 2


def test_sweep_does_not_swallow_other_errors():
    def measure_at(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        sweep(measure_at, [1])


def test_gpu_state_parses_nvidia_smi_and_is_empty_on_cpu():
    from gpuefficient.device import _parse_smi

    assert gpu_state("cpu") == {}
    state = _parse_smi("1980, 2619, 1980, 41, 118.52, P0, 0x0000000000000000\n",
                       ["sm_clock_mhz", "memory_clock_mhz", "max_sm_clock_mhz", "temperature_c", "power_w",
                        "pstate", "throttle_reasons"])
    assert state == {"sm_clock_mhz": 1980.0, "memory_clock_mhz": 2619.0, "max_sm_clock_mhz": 1980.0,
                     "temperature_c": 41.0, "power_w": 118.52, "pstate": "P0",
                     "throttle_reasons": "0x0000000000000000"}
    assert _parse_smi("[N/A]", ["power_w"]) == {"power_w": None}


def test_interleaved_rounds_alternate_and_cancel_drift(monkeypatch):
    """A machine that slows down over time (a fake clock: each call takes 2% longer than the last):
    interleaved rounds keep the per-round ratio of two equal workloads near 1."""
    calls, clock = [], {"t": 0.0, "cost": 1.0}
    monkeypatch.setattr(timer.time, "perf_counter", lambda: clock["t"])

    def work(name):
        def fn():
            calls.append(name)
            clock["t"] += clock["cost"]
            clock["cost"] *= 1.02
        return fn

    result = measure_interleaved({"a": work("a"), "b": work("b")}, device="cpu", warmup=1, rounds=4, repeats=3)
    assert calls[:2] == ["a", "b"] and len(calls) == 2 * (1 + 4 * 3)
    assert calls[2:8] == ["a"] * 3 + ["b"] * 3 and calls[8:14] == ["b"] * 3 + ["a"] * 3  # the order rotates
    a, b = result["a"], result["b"]
    assert a.repeats == b.repeats == 12 and a.task.rounds == 4 and a.task.interleaved_with == ("a", "b")
    ratios = round_ratios(a, b)
    # round 0: a ran first (cheaper), round 1: b first; drift within a round is 3 calls of 2%
    assert ratios[0] == pytest.approx(1.02 ** -3) and ratios[1] == pytest.approx(1.02 ** 3)
    sequential_a = measure(work("a"), device="cpu", warmup=0, repeats=12)
    sequential_b = measure(work("b"), device="cpu", warmup=0, repeats=12)
    assert sequential_b.median / sequential_a.median == pytest.approx(1.02 ** 12)  # what interleaving avoids
    with pytest.raises(ValueError, match="expected two measurements of one measure_interleaved call"):
        round_ratios(a, measure(lambda: None, device="cpu", warmup=0, repeats=12))
    with pytest.raises(TypeError, match="expected a non-empty dict"):
        measure_interleaved({}, device="cpu")
    with pytest.raises(ValueError, match="rounds: got 0"):
        measure_interleaved({"a": lambda: None}, device="cpu", rounds=0)
