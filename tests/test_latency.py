import time

import pytest
import torch

from gpuefficient.device import gpu_state, resolve_device
from gpuefficient.measure import timer
from gpuefficient.measure.timer import (Measurement, Task, measure, measure_interleaved, random_input, round_ratios,
                                        sweep, trimmed_mean)


def test_measure_times_real_work_and_reports_context():
    """Real work on the real clock: a 2 ms sleep never returns early, so every sample is at least 2 ms. No upper
    bound: on a loaded machine a sleep can overrun by any amount (an upper bound here failed under load); what
    the timer computes from the clock is checked exactly by the fake-clock tests below."""
    m = measure(lambda: time.sleep(0.002), device="cpu", warmup=1, repeats=7,
                task=Task(label="sleep", input_shape=(1, 3, 8, 8), details={"model": "none"}))
    assert m.repeats == 7 and m.warmup == 1 and m.timer == "perf_counter"
    assert m.min >= 0.002 and m.median >= 0.002
    row = m.row()
    assert row["batch"] == 1 and row["label"] == "sleep" and row["model"] == "none" and "version_torch" in row
    assert row["timestamp"] and row["threads"] == torch.get_num_threads() and row["device"]
    assert "sleep: median" in repr(m)


def test_inner_divides_per_call():
    calls = []
    m = measure(lambda: calls.append(1), device="cpu", warmup=2, repeats=3, inner=4)
    assert len(calls) == 2 + 3 * 4 and m.task.inner == 4


def test_inner_divides_each_sample(monkeypatch):
    """A fake clock advanced by each call, by varied amounts: each sample is its 4 calls' time / 4."""
    clock = {"t": 0.0}
    costs = iter([1.0, 3.0, 2.0, 2.0, 0.5, 0.5, 0.5, 0.5, 4.0, 8.0, 0.0, 0.0])
    monkeypatch.setattr(timer.time, "perf_counter", lambda: clock["t"])
    m = measure(lambda: clock.__setitem__("t", clock["t"] + next(costs)), device="cpu", warmup=0, repeats=3,
                inner=4)
    assert m.times_s == (2.0, 0.5, 3.0) and m.median == 2.0


#: Ten samples (ms) in timing order, skewed the way latencies are: every statistic differs from the others
#: (sorted: 1 2 3 4 5 6 7 9 30 100).
SKEWED_MS = (7.0, 100.0, 3.0, 1.0, 9.0, 5.0, 30.0, 2.0, 6.0, 4.0)


def test_statistics_of_skewed_samples_hand_computed():
    m = Measurement(Task(label="skewed"), tuple(t / 1e3 for t in SKEWED_MS), 0, "cpu", "perf_counter")
    ms = lambda seconds: round(seconds * 1e3, 9)  # noqa: E731
    assert ms(m.median) == 5.5  # (5 + 6) / 2
    assert ms(m.mean) == 16.7  # 167 / 10
    assert ms(m.trimmed_mean) == 8.25  # 10% each side: 1 and 100 dropped, 66 / 8 (20% would give 34 / 6)
    assert ms(m.iqr) == 5.25  # linear interpolation: q75 = 7 + 0.75 x 2 = 8.5, q25 = 3 + 0.25 x 1 = 3.25
    assert (ms(m.min), ms(m.max), m.repeats) == (1.0, 100.0, 10)
    row = m.row()
    assert (round(row["median_ms"], 9), round(row["trimmed_mean_ms"], 9), round(row["iqr_ms"], 9)) == (5.5, 8.25, 5.25)
    assert (row["min_ms"], row["max_ms"]) == pytest.approx((1.0, 100.0))
    assert "median 5.500 ms" in repr(m) and "trimmed mean 8.250 ms" in repr(m)
    odd = Measurement(Task(), (1.0, 2.0, 9.0), 0, "cpu", "perf_counter")
    assert odd.median == 2.0 and odd.mean == 4.0 and odd.iqr == 4.0


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
    assert trimmed_mean(SKEWED_MS) == 8.25 and trimmed_mean(SKEWED_MS, 0.2) == pytest.approx(34 / 6)
    assert trimmed_mean(SKEWED_MS, 0.0) == 16.7 and trimmed_mean(list(range(1, 20)) + [1000.0]) == 10.5
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


def test_cold_cache_flushes_before_every_sample_outside_the_timing(monkeypatch):
    """Deterministic (a fake clock; the real-clock version, "an empty call after a 128 MiB flush stays under
    1 ms", failed under load): the flush costs 1 s of fake time, the calls 1-3 ms, and no sample holds a flush."""
    clock, log = {"t": 0.0}, []
    monkeypatch.setattr(timer.time, "perf_counter", lambda: clock["t"])

    def fake_flusher(dev):
        assert dev.type == "cpu"

        def flush():
            log.append("flush")
            clock["t"] += 1.0
        return flush

    monkeypatch.setattr(timer, "_cache_flusher", fake_flusher)
    costs = iter([1e-3, 3e-3, 2e-3])

    def call():
        log.append("call")
        clock["t"] += next(costs)

    cold = measure(call, device="cpu", warmup=0, repeats=3, flush_cache=True)
    assert log == ["flush", "call"] * 3 and cold.task.cache == "cold"
    assert cold.times_s == pytest.approx((1e-3, 3e-3, 2e-3), abs=1e-12)
    with pytest.raises(ValueError, match="inner: got 4 with flush_cache=True"):
        measure(lambda: None, device="cpu", inner=4, flush_cache=True)


def test_real_cache_flusher_overwrites_a_buffer_twice_the_cache(monkeypatch):
    monkeypatch.setattr(timer, "last_level_cache_bytes", lambda dev: 3 << 20)  # a 3 MiB cache
    flush = timer._cache_flusher(torch.device("cpu"))
    (buffer,) = [c.cell_contents for c in flush.__closure__ if isinstance(c.cell_contents, torch.Tensor)]
    assert buffer.numel() * buffer.element_size() == 6 << 20
    buffer.zero_()
    flush()
    assert bool((buffer == 1).all())
    warm = measure(lambda: None, device="cpu", warmup=0, repeats=2)
    cold = measure(lambda: None, device="cpu", warmup=0, repeats=2, flush_cache=True)
    assert warm.task.cache == "warm" and cold.task.cache == "cold"


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


class FakeCudaStream:
    """Records what the CUDA path of the timer does, on a CPU: ``fn`` queues work of a given cost on a fake GPU
    clock; an event records the queue's clock when recorded; ``synchronize`` completes every event recorded
    so far; ``elapsed_time`` refuses events not yet completed, as CUDA does ("Both events must be completed
    before calculating elapsed time")."""

    def __init__(self, costs_s):
        self.log, self.gpu_t, self.costs = [], 0.0, iter(costs_s)
        stream = self

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing
                self.t, self.done = None, False

            def record(self):
                stream.log.append("record")
                self.t, self.done = stream.gpu_t, False
                stream.pending.append(self)

            def elapsed_time(self, end):
                stream.log.append("elapsed")
                if not (self.done and end.done):
                    raise RuntimeError("Both events must be completed before calculating elapsed time.")
                return (end.t - self.t) * 1e3  # ms

        self.Event, self.pending = Event, []

    def fn(self):
        self.log.append("call")
        self.gpu_t += next(self.costs)

    def flush(self):
        self.log.append("flush")
        self.gpu_t += 1.0  # queued outside the events: never timed

    def synchronize(self, device=None):
        assert torch.device(device).type == "cuda"
        self.log.append("sync")
        for event in self.pending:
            event.done = True
        self.pending = []


@pytest.fixture
def fake_cuda(monkeypatch):
    import contextlib

    def install(costs_s):
        stream = FakeCudaStream(costs_s)
        monkeypatch.setattr(torch.cuda, "Event", stream.Event)
        monkeypatch.setattr(torch.cuda, "synchronize", stream.synchronize)
        monkeypatch.setattr(torch.cuda, "device", lambda dev: contextlib.nullcontext())
        return stream
    return install


def test_cuda_samples_synchronise_before_reading_and_divide_by_inner(fake_cuda):
    """The CUDA path on a CPU, with recording fakes: one synchronisation before the first event (nothing queued
    earlier is timed), none between samples, one after the last call of fn and before any elapsed time is
    read; each sample is its events' interval / inner, the flush outside the interval."""
    stream = fake_cuda([1e-3, 3e-3, 2e-3, 2e-3, 4e-3, 8e-3])
    times = timer._samples(stream.fn, torch.device("cuda"), repeats=3, inner=2, flush=stream.flush)
    assert times == pytest.approx([2e-3, 2e-3, 6e-3], abs=1e-12)
    per_sample = ["flush", "record", "call", "call", "record"]
    assert stream.log == ["sync", *per_sample * 3, "sync", *["elapsed"] * 3]
    last_call = max(i for i, entry in enumerate(stream.log) if entry == "call")
    first_read = stream.log.index("elapsed")
    assert "sync" in stream.log[last_call:first_read]


def test_cuda_samples_of_single_calls(fake_cuda):
    stream = fake_cuda([5e-3, 1e-3])
    assert timer._samples(stream.fn, torch.device("cuda"), repeats=2, inner=1) == pytest.approx([5e-3, 1e-3])
    assert stream.log == ["sync", "record", "call", "record", "record", "call", "record", "sync", "elapsed", "elapsed"]
