#!/usr/bin/env python3
"""Mutation check: can the fast tests fail? Each mutant is one deliberate one-line bug.

Usage: ``.venv/bin/python scripts/mutate.py [-k SUBSTRING] [--list] [--check]``

The tracked and untracked (not ignored) files of the checkout are copied once to a temporary
directory; every mutant is applied there, the test modules that should catch it run there
(``pytest -q -x -p no:cacheprovider -m "not slow" <modules>``), and the file is restored in a
``finally``. The checkout itself is never modified. A table mutant -> killed/survived is printed;
the exit status is 1 if any mutant survived (or if the unmutated tests do not pass first), 2 if a
mutant's old text is not found exactly once in its file (the list has rotted: fix it).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
PYTEST_ARGS = ["-q", "-x", "-p", "no:cacheprovider", "-m", "not slow"]


class Mutant(NamedTuple):
    file: str                 # path relative to the repository root
    old: str                  # exact text, present exactly once in the file
    new: str
    modules: tuple[str, ...]  # test modules that must kill it
    description: str


M = Mutant
TIMER, ROOFLINE = "gpuefficient/measure/timer.py", "gpuefficient/analysis/roofline.py"
MUTANTS: list[Mutant] = [
    # --- issue 13, section 6: the kinds that survived the first mutation run ---
    M(TIMER, "return statistics.median(self.times_s)", "return statistics.fmean(self.times_s)",
      ("tests/test_latency.py",), "Measurement.median is the mean"),
    M(TIMER, "return trimmed_mean(self.times_s, 0.1)", "return trimmed_mean(self.times_s, 0.2)",
      ("tests/test_latency.py",), "Measurement.trimmed_mean trims 20%, not 10%"),
    M(TIMER, "def trimmed_mean(values, proportion: float = 0.1)", "def trimmed_mean(values, proportion: float = 0.2)",
      ("tests/test_latency.py",), "trimmed_mean's default trims 20%"),
    M(ROOFLINE, "return np.maximum(_amounts(\"flops\", flops)", "return np.add(_amounts(\"flops\", flops)",
      ("tests/test_roofline.py",), "roofline time bound: sum instead of max"),
    M(ROOFLINE, ">= self.ridge_point else", "> self.ridge_point * 1.1 else",
      ("tests/test_roofline.py",), "memory/compute boundary moved off the ridge point"),
    M(ROOFLINE, ">= self.ridge_point else", "> self.ridge_point else",
      ("tests/test_roofline.py",), "the ridge point itself is memory-bound"),
    M(TIMER, "times.append((time.perf_counter() - start) / inner)", "times.append(time.perf_counter() - start)",
      ("tests/test_latency.py",), "CPU samples not divided by inner"),
    M(TIMER, "return [s.elapsed_time(e) / 1e3 / inner for", "return [s.elapsed_time(e) / 1e3 for",
      ("tests/test_latency.py",), "CUDA samples not divided by inner"),
    M(TIMER, "torch.cuda.synchronize(dev)\n        return [s.elapsed_time", "return [s.elapsed_time",
      ("tests/test_latency.py",), "final CUDA synchronisation dropped"),
    M(TIMER, "torch.cuda.synchronize(dev)  # nothing queued before us is timed", "pass",
      ("tests/test_latency.py",), "first CUDA synchronisation dropped"),
    M("gpuefficient/arch/zoo.py",
      '_irb(depth=6, out_channels=144, stride=2, kernel=3, expansion=6.0, activation="swish")',
      '_irb(depth=6, out_channels=144, stride=2, kernel=3, expansion=6.0, activation="relu")',
      ("tests/test_zoo.py",), "GPUNet-2 stage 4 activation swish -> relu"),
    M("gpuefficient/arch/zoo.py",
      '_irb(depth=4, out_channels=160, stride=1, kernel=5, expansion=3.0, activation="relu")',
      '_irb(depth=4, out_channels=160, stride=1, kernel=3, expansion=3.0, activation="relu")',
      ("tests/test_zoo.py",), "GPUNet-2 stage 5 kernel 5 -> 3"),
    M("gpuefficient/arch/zoo.py", '_conv(depth=1, out_channels=24, activation="relu")',
      '_conv(depth=1, out_channels=24, activation="swish")',
      ("tests/test_zoo.py",), "GPUNet-1 conv stage activation relu -> swish"),
    M("gpuefficient/analysis/hardware.py", '_gpu("T4", "Turing", 8.1,', '_gpu("T4", "Turing", 8.2,',
      ("tests/test_hardware.py",), "catalog: T4 FP32 8.1 -> 8.2 TFLOP/s"),
    M("gpuefficient/analysis/hardware.py", "{\"tf32\": 2250, \"fp16\": 4500, \"bf16\": 4500, \"fp8\": 9000, "
      "\"int8\": 9000}, 8000, 126.5, 148,", "{\"tf32\": 2250, \"fp16\": 4500, \"bf16\": 4500, \"fp8\": 9000, "
      "\"int8\": 9000}, 8000, 126.5, 144,", ("tests/test_hardware.py",), "catalog: B200 SMs 148 -> 144"),
    M("gpuefficient/analysis/hardware.py", "_XEON_BANDWIDTH = 6 * 2666e6 * 8", "_XEON_BANDWIDTH = 6 * 2933e6 * 8",
      ("tests/test_hardware.py",), "catalog: generic CPU DDR4-2666 -> 2933"),
    M("gpuefficient/design/data.py", "kind = (labels % len(_SHAPES))[:, None, None]",
      "kind = (np.arange(n) % len(_SHAPES))[:, None, None]",
      ("tests/test_data_training.py",), "procedural data: shape cue detached from the label"),
    # --- further mutants: costs, rank, scaling, lut, predictors ---
    M("gpuefficient/analysis/costs.py", "math.prod(kernel) * c_out * c_in_per_group",
      "math.prod(kernel) * c_out * x.shape[1]", ("tests/test_costs.py",), "conv FLOPs ignore groups"),
    M("gpuefficient/analysis/costs.py", "return 2 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]",
      "return 2 * batch * a.shape[-2] * (a.shape[-1] + (op == \"addmm\")) * b.shape[-1]",
      ("tests/test_costs.py",), "linear FLOPs count the bias as a MAC"),
    M("gpuefficient/analysis/costs.py", "spatial = x.shape[2:] if transposed else out.shape[2:]",
      "spatial = out.shape[2:]", ("tests/test_costs.py",), "transposed conv FLOPs over the output"),
    M("gpuefficient/analysis/costs.py", "input_bytes=_nbytes(acts), weight_bytes=_nbytes(weights)",
      "input_bytes=_nbytes(acts), weight_bytes=_nbytes(weights[:1])", ("tests/test_costs.py",),
      "bytes: only the first weight operand (a bias or BN statistics lost)"),
    M("gpuefficient/analysis/rank.py", 'out[f"{key}_fraction"] = out[key] / full if full else 0.0',
      'out[f"{key}_fraction"] = out[key] / self.c_out if full else 0.0',
      ("tests/test_rank.py",), "rank fractions over c_out, not the possible rank"),
    M("gpuefficient/analysis/rank.py", "for r in (0.25, 0.5, 0.75, 1.0) if r >= fraction)",
      "for r in (0.25, 0.5, 0.75, 1.0) if r > fraction)", ("tests/test_rank.py",),
      "suggest_block: a BL ratio equal to rank95 is refused"),
    M("gpuefficient/arch/scaling.py", "int(scaled + divisor / 2) // divisor * divisor",
      "int(scaled) // divisor * divisor", ("tests/test_scaling.py",), "round_filters floors instead of rounding"),
    M("gpuefficient/arch/scaling.py", "if rounded < 0.9 * scaled:", "if rounded < 0.8 * scaled:",
      ("tests/test_scaling.py",), "round_filters may lose 20%"),
    M("gpuefficient/measure/lut.py",
      'return (unit.key_config, "x".join(map(str, unit.input_shape)), *self.context.values())',
      'return (unit.key_config, "", *self.context.values())',
      ("tests/test_lut.py",), "lookup-table key ignores the input shape"),
    M("gpuefficient/measure/lut.py", "row = (*key, m.median, m.trimmed_mean,", "row = (*key, m.trimmed_mean, m.median,",
      ("tests/test_lut.py",), "lookup table stores the trimmed mean as the median"),
    M("gpuefficient/analysis/predictors.py", "tied_y + (dy == 0)", "tied_y + (dy == 0 and dx != 0)",
      ("tests/test_lut.py",), "Kendall tau-b: joint ties not counted as ties in y"),
    M("gpuefficient/analysis/predictors.py", "concordant + (dx * dy > 0)", "concordant + (dx * dy >= 0)",
      ("tests/test_lut.py",), "Kendall tau-b: tied pairs counted concordant"),
]


def _files_to_copy() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and (ROOT / p).is_file()]


def _check_mutants(mutants: list[Mutant]) -> list[str]:
    """Every old text must occur exactly once in the checkout's file, and every module must exist."""
    problems = []
    for m in mutants:
        path = ROOT / m.file
        if not path.is_file():
            problems.append(f"{m.description}: {m.file} does not exist")
            continue
        count = path.read_text().count(m.old)
        if count != 1:
            problems.append(f"{m.description}: old text found {count} times in {m.file}, expected once: {m.old!r}")
        if m.old == m.new:
            problems.append(f"{m.description}: old and new text are the same")
        problems += [f"{m.description}: no test module {t}" for t in m.modules if not (ROOT / t).is_file()]
    return problems


def _pytest(work: Path, modules, env) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "pytest", *PYTEST_ARGS, *modules], cwd=work, env=env,
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutants whose description contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="only check that every old text is found once")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the running pytest is killed and the temporary copy removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    mutants = [m for m in MUTANTS if args.k.lower() in m.description.lower()]
    if args.list:
        for m in mutants:
            print(f"{m.description}  [{m.file}; {' '.join(m.modules)}]")
        return 0
    problems = _check_mutants(mutants)
    if problems:
        print("mutate.py: the mutant list does not match the code:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.check:
        print(f"{len(mutants)} mutants: every old text found exactly once")
        return 0
    if not mutants:
        print(f"no mutant matches -k {args.k!r}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="gpuefficient-mutants-") as tmp:
        work = Path(tmp) / "repo"
        for rel in _files_to_copy():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, work / rel)
        env = {**os.environ, "PYTHONPATH": str(work) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "HF_HUB_OFFLINE": "1"}
        where = subprocess.run([sys.executable, "-c", "import gpuefficient; print(gpuefficient.__file__)"],
                               cwd=work, env=env, capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(work)):
            print(f"mutate.py: the copy's gpuefficient is not the one imported ({where!r})", file=sys.stderr)
            return 2

        modules = sorted({t for m in mutants for t in m.modules})
        start = time.perf_counter()
        code, output = _pytest(work, modules, env)
        print(f"baseline (no mutant): {' '.join(modules)}: rc {code} in {time.perf_counter() - start:.0f} s")
        if code != 0:
            print(output[-4000:])
            print("mutate.py: the unmutated tests fail; a mutant's failure would mean nothing", file=sys.stderr)
            return 1

        results = []
        for i, m in enumerate(mutants, 1):
            path = work / m.file
            original = path.read_text()
            start = time.perf_counter()
            try:
                path.write_text(original.replace(m.old, m.new, 1))
                code, output = _pytest(work, m.modules, env)
            finally:
                path.write_text(original)
            status = "killed" if code != 0 else "SURVIVED"
            failed = next((line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))), "")
            results.append((m, status, time.perf_counter() - start, failed))
            print(f"[{i}/{len(mutants)}] {status:8} {m.description} ({time.perf_counter() - start:.0f} s)"
                  + (f"\n           by {failed[:150]}" if failed else ""), flush=True)

    width = max(len(m.description) for m, *_ in results)
    print(f"\n{'mutant':{width}}  {'result':8}  file")
    for m, status, seconds, _ in results:
        print(f"{m.description:{width}}  {status:8}  {m.file}")
    survived = [m for m, status, *_ in results if status != "killed"]
    print(f"\n{len(results) - len(survived)} of {len(results)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
