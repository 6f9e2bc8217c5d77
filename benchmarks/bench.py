"""Benchmarks of the package itself (not tests): ``python benchmarks/bench.py [--notebooks]``.

Prints (1) the cost-analysis time of resnet50 after import, (2) with ``--notebooks`` the
quick-mode execution time of each notebook, and (3) on a CUDA GPU the timing core's overhead
against a bare CUDA-event loop on the same work and the measured matmul/copy ceilings against
the best a plain torch loop reaches, (4) the run-to-run spread of a model's median latency,
(5) with ``--lut`` the lookup table's accuracy on held-out GPUNet-space networks, (6) the command
line's start-up: --help, zoo list, hardware and argument errors in a fresh process, (7) with ``--search``
the time to Sobol-sample and tier 100,000 GPUNet networks in a fresh process from a lookup table filled
first with fake medians for their units (only the prediction is timed; ``--tiers`` runs this alone),
Ray's overhead per evaluation (sleeping evaluations on 2 local workers against the ideal) and the 2-worker speed-up on single-threaded CPU evaluations.
Targets: CLI start-up <= 1.5 s each, analysis <= 0.5 s, each notebook <= 3 min in quick mode on a 2-core CPU, timing
overhead <= 1%, ceilings within 5% / 10%, run-to-run spread <= 2% for work of 1 ms or more;
on an H100 lookup-table RMSPE <= 5%, >= 95% of held-out networks within 10%, Kendall tau >= 0.9;
search: tiering 100,000 networks <= 30 s on CPU, Ray overhead <= 5% of a 10 s evaluation, 2 workers >= 1.6x.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def cost_analysis_time() -> dict:
    from gpuefficient.analysis.costs import analyze
    from gpuefficient.arch.models import create_model

    model = create_model("resnet50")
    first_start = time.perf_counter()
    analyze(model, (1, 3, 224, 224))
    first = time.perf_counter() - first_start
    warm = []
    for _ in range(5):
        start = time.perf_counter()
        analyze(model, (1, 3, 224, 224))
        warm.append(time.perf_counter() - start)
    return {"resnet50_analysis_first_s": first, "resnet50_analysis_median_s": statistics.median(warm)}


def notebook_times() -> dict:
    from gpuefficient.book.notebooks import execute, find_notebooks

    return {f"notebook_{s.stem}_quick_s": execute(s, parameters={"quick": True}) for s in find_notebooks()}


def timing_overhead(size: int = 4096, repeats: int = 200) -> dict:
    """measure() against a bare loop of CUDA events around the same matmul."""
    from gpuefficient.measure.timer import measure, random_input

    x = random_input((size, size), torch.float16, "cuda")
    for _ in range(20):
        x @ x
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    torch.cuda.synchronize()
    for s, e in zip(starts, ends):
        s.record()
        x @ x
        e.record()
    torch.cuda.synchronize()
    bare = statistics.median(s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends))
    ours = measure(lambda: x @ x, device="cuda", warmup=20, repeats=repeats).median
    return {"bare_event_loop_s": bare, "measure_s": ours, "overhead": ours / bare - 1}


def reference_ceilings() -> dict:
    """Best bf16 matmul rate and copy bandwidth a plain torch loop reaches, for comparison."""
    best_rate = 0.0
    for n in (4096, 8192, 16384):
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        for _ in range(5):
            a @ a
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(20):
            a @ a
        torch.cuda.synchronize()
        best_rate = max(best_rate, 2 * n**3 * 20 / (time.perf_counter() - start))
        del a
    src = torch.randn(2**28, device="cuda")  # 1 GiB
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(20):
        dst.copy_(src)
    torch.cuda.synchronize()
    bandwidth = 2 * src.numel() * 4 * 20 / (time.perf_counter() - start)
    return {"torch_bf16_matmul_flops": best_rate, "torch_copy_bandwidth": bandwidth}


def run_to_run_spread(runs: int = 5) -> dict:
    """Spread of the median across independent ``measure()`` runs of the same model.

    Latency chapter target: <= 2% for work of 1 ms or more. Each run is a fresh measurement
    (own warm-up and samples) of resnet50 at batch 1 (fp16 channels-last on CUDA, fp32 on CPU).
    """
    from gpuefficient.measure.timer import measure_model
    from gpuefficient.arch.models import create_model

    cuda = torch.cuda.is_available()
    model = create_model("resnet50")
    dtype = torch.float16 if cuda else torch.float32
    medians = [measure_model(model, (1, 3, 224, 224), dtype=dtype, channels_last=cuda, warmup=10,
                             repeats=50 if cuda else 10).median for _ in range(runs)]
    middle = statistics.median(medians)
    return {"resnet50_b1_run_medians_ms": [m * 1e3 for m in medians],
            "resnet50_b1_run_to_run_spread": (max(medians) - min(medians)) / middle}


def lut_accuracy(n: int = 40) -> dict:
    """Held-out error metrics of the lookup table (chapter 2's study) on ``n`` Sobol networks.

    CUDA: fp16 at 224 px, eager and CUDA-graph backends; CPU: fp32 at 64 px, eager only.
    """
    import tempfile

    from gpuefficient.analysis import predictors
    from gpuefficient.arch import gpunet_space
    from gpuefficient.arch.builder import build
    from gpuefficient.measure import lut

    cuda = torch.cuda.is_available()
    res, dtype = (224, "fp16") if cuda else (64, "fp32")
    nets = {s.name: (build(s).eval(), (1, 3, res, res)) for s in gpunet_space.sample_networks(n, resolution=res)}
    out = {}
    for backend in (["eager", "cudagraph"] if cuda else ["eager"]):
        with tempfile.TemporaryDirectory() as folder, \
                lut.LatencyTable(f"{folder}/t.sqlite", backend=backend, dtype=dtype, repeats=50 if cuda else 10) as t:
            rows, _ = predictors.held_out_metrics(lut.compare(t, nets))
        for r in rows:
            key = f"lut_{backend}_{r['unit']}_{r['predictor'].replace(' ', '_')}"
            out.update({f"{key}_{m}": r[m] for m in ("rmspe_pct", "within", "bias_us", "kendall_tau")})
    return out


#: Commands that must answer at once (issue target: <= 1.5 s each on a 2-core CPU); none computes anything.
CLI_QUICK = {"help": ["--help"], "zoo list": ["zoo", "list"], "hardware": ["hardware"],
             "bad dtype": ["costs", "resnet18", "--dtype", "int4"], "bad backend": ["latency", "x", "--backend", "trt"],
             "bad size": ["costs", "genet_normal", "--resolution", "225"]}


def cli_startup(runs: int = 3) -> dict:
    """Wall time of each CLI_QUICK command in a fresh process (median of ``runs``)."""
    import subprocess
    import sys

    out = {}
    for name, args in CLI_QUICK.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gpuefficient", *args], capture_output=True, timeout=120)
            times.append(time.perf_counter() - start)
        out[f"cli_{name.replace(' ', '_')}_s"] = statistics.median(times)
    return out


def _fake_timer(module, x):
    from gpuefficient.measure.timer import Measurement, Task

    t = 1e-6 + 1e-9 * sum(p.numel() for p in module.parameters()) + 1e-12 * x.numel()
    return Measurement(Task(label="fake"), (1.2 * t, t, 0.9 * t), 0, "fake", "fake")


def _sleep_half_second(candidate):
    time.sleep(0.5)
    return 0.5


def _busy(candidate):
    """About a second of single-threaded matmuls (the task sets torch's threads to 1)."""
    a = torch.randn(256, 256)
    for _ in range(600):
        a = torch.tanh(a @ a * 1e-2)
    return float(a.abs().mean())


_TIER_RUN = """
import json, sys, time
start = time.perf_counter()
from gpuefficient.design.tiers import TableLatency, latency_tiers
from gpuefficient.measure.lut import LatencyTable
imported = time.perf_counter()
with LatencyTable(sys.argv[1], device="cpu", timer=lambda m, x: None) as table:
    latency = TableLatency(table)  # reads every stored median in one query
    opened = time.perf_counter()
    report = latency_tiers(int(sys.argv[2]), latency, quantiles=4)
print(json.dumps({"import_s": imported - start, "open_table_s": opened - imported, "tiers_s": report.seconds,
                  "total_s": time.perf_counter() - start, "hits": report.cache_hits, "misses": report.cache_misses,
                  "unit_configs": len(latency._configs), "sizes": report.sizes, **report.timings}))
"""


def _fill_tier_table(table_path: str, n: int, seed: int = 0) -> int:
    """Give the table an entry for every unit of the ``n`` networks ``latency_tiers`` samples (seed 0), with
    fake medians written through the store's own columns (measuring ~10^5 units takes hours); returns the
    entries added. The keys are the ones ``TableLatency`` derives (composed without building, and checked
    against built modules by the tests), so the timed prediction path is the real one."""
    import sqlite3

    import numpy as np

    from gpuefficient.arch import gpunet_space as space
    from gpuefficient.design import tiers
    from gpuefficient.measure import lut
    from gpuefficient.measure.timer import Measurement, Task

    with lut.LatencyTable(table_path, timer=_fake_timer, device="cpu") as table:
        latency = tiers.TableLatency(table)
        wanted: dict = {}

        class Recording(dict):  # every lookup "hits": collects the (key_config, shape) entries a prediction uses
            def get(self, key, default=None):
                wanted.setdefault(key, 1e-6 * (1 + len(key[0]) % 97) * (1 + int(key[1].split("x")[-1]) / 224))
                return wanted[key]
        latency._stored = Recording()
        latency.encodings_ms(tiers._encode_many(space.sobol(n, len(space.DIGITS), seed)))
        stored = table.medians()
        rows = []
        for (config, shape), median in wanted.items():
            if (config, shape) in stored:
                continue
            m = Measurement(Task(label="fake"), (median,) * 3, 0, "fake", "fake")
            rows.append((config, shape, *table.context.values(), median, median, 0.0, 3, m.timestamp,
                         json.dumps(m.to_dict(), sort_keys=True)))
    with sqlite3.connect(table_path) as conn:
        conn.executemany(f"INSERT OR IGNORE INTO latency VALUES ({', '.join('?' * len(lut._COLUMNS))})", rows)
    return len(rows)


def tier_benchmark(n: int = 100_000, table_path: str = "/tmp/gpuefficient_bench_tiers.sqlite") -> dict:
    """Sobol-sample and tier ``n`` networks in a fresh process from a table filled for their units (target <= 30 s)."""
    import subprocess
    import sys

    added = _fill_tier_table(table_path, n)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _TIER_RUN, table_path, str(n)], capture_output=True, text=True,
                          timeout=600, check=True)
    wall = time.perf_counter() - start
    run = json.loads(done.stdout.strip().splitlines()[-1])
    out = {"search_tier_n": n, "search_tier_fresh_process_s": wall, "search_tier_entries_added": added}
    out.update({f"search_tier_{k}": v for k, v in run.items()})
    print(f"tiering {n:,} GPUNet networks from a filled table: {wall:.1f} s in a fresh process "
          f"(target <= 30 s; import {run['import_s']:.1f} s, table {run['open_table_s']:.1f} s, "
          f"sampling + tiering {run['tiers_s']:.1f} s)", file=sys.stderr)
    return out


def search_benchmarks(table_path: str = "/tmp/gpuefficient_bench_tiers.sqlite") -> dict:
    from gpuefficient.design.distributed import RayExecutor
    from gpuefficient.design.proposers import RandomProposer
    from gpuefficient.design.search import run_search, synthetic_latency
    import tempfile

    out = tier_benchmark(table_path=table_path)
    tier = (20.0, 35.0)

    def timed(executor, evaluator, k):
        with tempfile.TemporaryDirectory() as d:
            start = time.perf_counter()
            run_search(RandomProposer(synthetic_latency, tier, seed=0), evaluator, k, d, executor=executor)
            return time.perf_counter() - start
    ray_sleep = RayExecutor(_sleep_half_second, workers=2)
    timed(ray_sleep, None, 2)  # warm the workers
    k = 20
    wall = timed(ray_sleep, None, k)
    ideal = k * 0.5 / 2
    out["search_ray_overhead_per_eval_s"] = (wall - ideal) * 2 / k
    out["search_ray_overhead_pct_of_10s_eval"] = 100 * out["search_ray_overhead_per_eval_s"] / 10
    ray_sleep.shutdown()
    torch.set_num_threads(1)
    serial = timed(None, _busy, 6)
    ray_busy = RayExecutor(_busy, workers=2)
    timed(ray_busy, None, 2)
    parallel = timed(ray_busy, None, 6)
    ray_busy.shutdown()
    out["search_busy_serial_s"], out["search_busy_ray2_s"] = serial, parallel
    out["search_2worker_speedup"] = serial / parallel
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", action="store_true", help="also time each notebook in quick mode")
    parser.add_argument("--lut", action="store_true", help="also measure the lookup table's held-out accuracy")
    parser.add_argument("--search", action="store_true", help="only the search benchmarks (tiers, Ray)")
    parser.add_argument("--tiers", action="store_true", help="only the 100,000-network tiering benchmark")
    args = parser.parse_args()
    if args.tiers:
        print(json.dumps(tier_benchmark(), indent=1))
        return
    if args.search:
        print(json.dumps(search_benchmarks(), indent=1))
        return
    out = cli_startup()
    out.update(cost_analysis_time())
    out.update(run_to_run_spread())
    if args.notebooks:
        out.update(notebook_times())
    if args.lut:
        out.update(lut_accuracy())
    if torch.cuda.is_available():
        from gpuefficient.measure.ceilings import measure_ceilings

        out.update(timing_overhead())
        ceilings = measure_ceilings("cuda")
        ref = reference_ceilings()
        out.update(ref)
        out["ceiling_matmul_bf16_vs_torch"] = ceilings.matmul_flops["bf16"] / ref["torch_bf16_matmul_flops"]
        out["ceiling_copy_vs_torch"] = ceilings.copy_bandwidth / ref["torch_copy_bandwidth"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
