"""The search loop: a proposer asks for candidates, an executor evaluates them, everything is checkpointed.

``run_search(proposer, evaluator, budget, checkpoint_dir)`` keeps ``executor.workers`` candidates in
flight; every finished evaluation is told to the proposer and written, with its provenance, to one
JSON checkpoint (``search.json``, temp file + fsync + ``os.replace``: the old file or the new one,
never half). The checkpoint holds the configuration, every candidate, every result, the candidates
in flight, and the ordered log of the proposer's ask/tell calls. Resuming replays that log against a
fresh proposer (which must be deterministic given its seed and the calls, as all of
:mod:`gpuefficient.design.proposers` are), resubmits the candidates that were in flight, and never
evaluates a finished candidate again. A candidate that a proposer proposes twice is told its stored
result instead of being evaluated twice.

Evaluators are callables ``evaluator(candidate) -> accuracy`` or ``-> {"accuracy": ..., ...}``:
:class:`TrainingEvaluator` (the package's proxy-task training oracle plus a latency), any user
callable (``--evaluator module:function`` on the command line), or the toy
:func:`synthetic_evaluator` used by tests and demos. Executors: :class:`SerialExecutor` here, Ray
in :mod:`gpuefficient.design.distributed`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from gpuefficient import checks

__all__ = ["Candidate", "SearchError", "SearchResult", "SerialExecutor", "TrainingEvaluator", "run_search",
           "evaluate", "load_checkpoint", "resolve_callable", "synthetic_evaluator", "synthetic_latency",
           "CHECKPOINT", "FORMAT"]

CHECKPOINT = "search.json"
FORMAT = "gpuefficient-search/1"


class SearchError(ValueError):
    """A search that cannot start or go on: bad input, corrupt checkpoint, mismatched resume, failed evaluation."""


@dataclass(frozen=True, eq=False)
class Candidate:
    """One network to evaluate: ``space`` ("gpunet": ``params["encoding"]``, GPUNet Table 2's 41 integers;
    "genet": ``params`` = base zoo name, per-stage [block, depth, width, kernel, r] and resolution).
    ``id`` hashes space and params: the same network always has the same id."""

    space: str
    params: Mapping[str, Any]

    @property
    def id(self) -> str:
        text = json.dumps({"space": self.space, "params": self.params}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def gpunet(cls, code) -> "Candidate":
        return cls("gpunet", {"encoding": [int(v) for v in code]})

    def to_dict(self) -> dict:
        return {"space": self.space, "params": json.loads(json.dumps(self.params))}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Candidate":
        if not isinstance(data, Mapping) or data.get("space") not in ("gpunet", "genet") \
                or not isinstance(data.get("params"), Mapping):
            raise SearchError(f"candidate: got {str(data)[:80]!r}, expected {{'space': 'gpunet'|'genet', 'params': {{...}}}}")
        return cls(data["space"], data["params"])

    def spec(self):
        """The candidate's ``NetworkSpec``."""
        if self.space == "gpunet":
            from gpuefficient.arch.gpunet_space import from_encoding

            return from_encoding(self.params["encoding"], name=f"gpunet_{self.id}")
        from gpuefficient.design.proposers import genet_spec

        return genet_spec(self.params, name=f"genet_{self.id}")


# --- evaluators -------------------------------------------------------------------------------------------------

def synthetic_latency(candidate: Candidate) -> float:
    """A toy latency (ms), deterministic and increasing in every choice: 1 + the sum of the normalised
    GPUNet digits (so 1..42 ms), or for a GENet candidate the sum of depth x width / 1000 per stage x
    (resolution / 224)^2. For tests, demos and the kill test; no measurement behind it."""
    if candidate.space == "gpunet":
        from gpuefficient.arch.gpunet_space import normalized_encoding

        return 1.0 + float(normalized_encoding(candidate.params["encoding"]).sum())
    stages = candidate.params["stages"]
    scale = (candidate.params["resolution"] / 224) ** 2
    return scale * sum(d * w * (k / 3) * (1 + 0.1 * r) for _, d, w, k, r in stages) / 1000


def synthetic_evaluator(candidate: Candidate) -> dict:
    """A toy accuracy in (0, 1], deterministic: peaked at the normalised encoding 0.7 in every digit (GPUNet)
    or increasing with depth and width and falling with kernel (GENet); plus :func:`synthetic_latency`.
    ``GPUEFFICIENT_SYNTHETIC_SLEEP`` (seconds) makes each call sleep, to stand in for a slow evaluation."""
    delay = float(os.environ.get("GPUEFFICIENT_SYNTHETIC_SLEEP", "0") or 0)
    if delay > 0:
        time.sleep(delay)
    if candidate.space == "gpunet":
        from gpuefficient.arch.gpunet_space import normalized_encoding

        x = normalized_encoding(candidate.params["encoding"])
        accuracy = float(math.exp(-4 * np.mean((x - 0.7) ** 2)))
    else:
        stages = candidate.params["stages"]
        accuracy = 1 - 1 / (1 + sum(0.01 * d + 0.001 * w - 0.002 * k for _, d, w, k, _ in stages))
    return {"accuracy": accuracy, "latency_ms": synthetic_latency(candidate)}


class TrainingEvaluator:
    """Accuracy by :class:`~gpuefficient.design.oracles.TrainingOracle` (short training on the procedural proxy
    task) and latency (ms) from ``table`` (a LatencyTable path: predicted by the fast unit path, measuring
    missing units into the table) or, without one, measured end to end with the eager timer. Picklable:
    a Ray task gets a copy and opens the table itself."""

    def __init__(self, table: str | os.PathLike | None = None, device="auto", **oracle_kwargs):
        self.table = None if table is None else str(table)
        self.device, self.oracle_kwargs = device, oracle_kwargs

    def __call__(self, candidate: Candidate) -> dict:
        import torch

        from gpuefficient.arch.builder import build
        from gpuefficient.design.oracles import TrainingOracle
        from gpuefficient.measure.lut import LatencyTable

        spec = candidate.spec()
        accuracy = TrainingOracle(device=self.device, **self.oracle_kwargs)(spec)
        if self.table is not None:
            from gpuefficient.design.tiers import TableLatency

            with LatencyTable(self.table, device=self.device) as table:
                latency_ms = TableLatency(table, fill=True).spec_ms(spec)
        else:
            from gpuefficient.measure.lut import eager_timer
            from gpuefficient.measure.timer import random_input

            with tempfile.TemporaryDirectory() as scratch:
                table = LatencyTable(Path(scratch) / "t.sqlite", device=self.device)
                model = build(spec)
                latency_ms = 1e3 * table.measure_network(model, (1, 3, spec.resolution, spec.resolution)).median
                table.close()
        return {"accuracy": float(accuracy), "latency_ms": float(latency_ms), "torch_threads": torch.get_num_threads()}


def resolve_callable(text: str) -> Callable:
    """``"package.module:function"`` -> the callable (the CLI's ``--evaluator`` and ``--latency``)."""
    module, _, name = str(text).partition(":")
    if not module or not name:
        raise SearchError(f"callable: got {text!r}, expected 'module:function' (e.g. "
                          "'gpuefficient.design.search:synthetic_evaluator')")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise SearchError(f"callable: cannot import {text!r} ({err}); expected 'module:function' importable "
                          "here (and on every Ray worker)") from err
    if not callable(obj):
        raise SearchError(f"callable: {text!r} is a {type(obj).__name__}, expected a function")
    return obj


def provenance(seconds: float) -> dict:
    """Where and when an evaluation ran: host, pid, device, versions, UTC time, duration."""
    import platform

    import torch

    import gpuefficient

    cuda = torch.cuda.is_available()
    return {"host": socket.gethostname(), "pid": os.getpid(), "worker": f"{socket.gethostname()}:{os.getpid()}",
            "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.processor() or platform.machine()})",
            "torch": torch.__version__, "gpuefficient": gpuefficient.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(), "seconds": seconds,
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def evaluate(evaluator: Callable, candidate: Candidate) -> dict:
    """Run ``evaluator`` on ``candidate``: ``{"accuracy": float, ...the evaluator's extra numbers, "provenance"}``."""
    start = time.perf_counter()
    out = evaluator(candidate)
    seconds = time.perf_counter() - start
    record = dict(out) if isinstance(out, Mapping) else {"accuracy": out}
    try:
        accuracy = float(record["accuracy"])
    except (KeyError, TypeError, ValueError):
        raise SearchError(f"evaluator {getattr(evaluator, '__name__', type(evaluator).__name__)}: returned "
                          f"{str(out)[:80]!r} for {candidate.id}, expected an accuracy (a number) or a mapping "
                          "with 'accuracy'") from None
    if not math.isfinite(accuracy):
        raise SearchError(f"evaluator: returned accuracy {accuracy!r} for {candidate.id}, expected a finite number")
    record["accuracy"] = accuracy
    record["provenance"] = provenance(seconds)
    return record


class SerialExecutor:
    """Evaluates one candidate at a time in this process: the default when Ray is not wanted or installed."""

    workers = 1

    def __init__(self, evaluator: Callable):
        if not callable(evaluator):
            raise TypeError(f"evaluator: got {type(evaluator).__name__}, expected a callable (candidate) -> accuracy")
        self.evaluator, self._queue = evaluator, []

    def submit(self, candidate: Candidate) -> None:
        self._queue.append(candidate)

    def wait(self) -> tuple[str, dict]:
        """The next finished (candidate id, result record)."""
        candidate = self._queue.pop(0)
        return candidate.id, evaluate(self.evaluator, candidate)

    def close(self) -> None:
        self._queue.clear()


# --- checkpoint -------------------------------------------------------------------------------------------------

def _write_atomic(path: Path, data: dict) -> None:
    """Strict JSON, temp file in the same folder + fsync + os.replace: readers see the old or the new file."""
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a power cut only once the folder is synced
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint's state, checked; a corrupt or foreign file raises :class:`SearchError` (and is left as is)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    problem = None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        data, problem = None, f"not valid JSON ({err})"
    if problem is None:
        keys = {"format", "config", "candidates", "results", "events", "pending"}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            problem = f"not a search checkpoint (expected format {FORMAT!r})"
        elif not keys <= set(data):
            problem = f"missing {sorted(keys - set(data))}"
        else:
            c, r, ev, pend = data["candidates"], data["results"], data["events"], data["pending"]
            if not (isinstance(c, dict) and isinstance(r, dict) and isinstance(ev, list) and isinstance(pend, list)):
                problem = "fields of the wrong type"
            elif not (set(r) <= set(c) and set(pend) <= set(c)):
                problem = "results or pending candidates that are not in its candidate list"
            elif any(not (isinstance(e, list) and len(e) == 2 and e[0] in ("ask", "tell") and e[1] in c) for e in ev):
                problem = "an event log entry that is not ['ask'|'tell', known candidate id]"
            elif any(Candidate.from_dict(v).id != k for k, v in c.items()):
                problem = "a candidate whose id does not match its parameters"
    if problem:
        raise SearchError(f"checkpoint {path} is corrupt: {problem}; it was left as is: move it away to start "
                          "afresh, or resume from another directory")
    return data


@dataclass
class SearchResult:
    """The finished search: every record in the order it finished (``id``, ``candidate``, ``accuracy``, the
    evaluator's extra numbers, ``provenance``), the best one, and the checkpoint it lives in."""

    records: list[dict]
    checkpoint: Path
    config: dict
    resumed: bool = False
    duplicates: int = 0
    seconds: float = 0.0
    stopped: str = ""

    @property
    def best(self) -> dict | None:
        return max(self.records, key=lambda r: r["accuracy"], default=None)

    def ids(self) -> list[str]:
        return [r["id"] for r in self.records]

    def to_dict(self) -> dict:
        return {"evaluated": len(self.records), "best": self.best, "checkpoint": str(self.checkpoint),
                "config": self.config, "resumed": self.resumed, "duplicates": self.duplicates,
                "seconds": self.seconds, "stopped": self.stopped, "records": self.records}


def _json_config(config: Mapping) -> dict:
    return json.loads(json.dumps(dict(config), sort_keys=True))


def run_search(proposer, evaluator: Callable | None, budget: int, checkpoint_dir: str | os.PathLike, *,
               executor=None, config: Mapping | None = None, resume: bool = False,
               progress: Callable[[dict], None] | None = None, max_duplicates: int = 1000) -> SearchResult:
    """Evaluate ``budget`` distinct candidates that ``proposer`` asks for; checkpoint after every result.

    ``executor``: anything with ``workers``, ``submit(candidate)``, ``wait() -> (id, record)``, ``close()``
    (default :class:`SerialExecutor` of ``evaluator``; :class:`~gpuefficient.design.distributed.RayExecutor`
    for Ray). ``config``: extra settings stored and, on ``resume``, compared with the checkpoint's
    (together with ``proposer.config()`` and ``budget``): a mismatch raises naming the field.
    ``resume=True`` continues the search in ``checkpoint_dir`` (a missing checkpoint starts afresh);
    ``False`` refuses a directory that already holds one. ``progress(info)`` is called after every result
    with ``done``, ``budget``, ``best``, ``eta_s``, ``record``.
    """
    budget = checks.integer("budget", budget, 1)
    directory = Path(checkpoint_dir)
    path = directory / CHECKPOINT
    full_config = _json_config({**proposer.config(), **(config or {}), "budget": budget})
    if path.exists() and not resume:
        raise SearchError(f"{path} already holds a search; resume it (--resume {directory}) or choose another "
                          "directory (nothing was overwritten)")
    state = {"format": FORMAT, "config": full_config, "candidates": {}, "results": {}, "events": [], "pending": []}
    resumed = False
    if resume and path.exists():
        state = load_checkpoint(path)
        old = state["config"]
        for key in sorted(set(old) | set(full_config)):
            if old.get(key) != full_config.get(key):
                raise SearchError(f"resume {directory}: {key} is {full_config.get(key)!r} now but "
                                  f"{old.get(key)!r} in the checkpoint; expected the same settings (the checkpoint "
                                  "was left as is)")
        resumed = True
    directory.mkdir(parents=True, exist_ok=True)
    candidates = {k: Candidate.from_dict(v) for k, v in state["candidates"].items()}
    results: dict[str, dict] = state["results"]
    events: list[list[str]] = state["events"]
    # replay the proposer's history: the same calls in the same order give the same state
    asked_open: dict[str, int] = {}
    for kind, cid in events:
        if kind == "ask":
            got = proposer.ask()
            if got is None or got.id != cid:
                raise SearchError(f"resume {directory}: replaying the proposer's history gave candidate "
                                  f"{None if got is None else got.id} where the checkpoint has {cid}; expected a "
                                  "deterministic proposer with the same seed and settings (the checkpoint was left as is)")
            asked_open[cid] = asked_open.get(cid, 0) + 1
        else:
            proposer.tell(candidates[cid], results[cid])
            asked_open[cid] -= 1
    executor = executor or SerialExecutor(evaluator)
    inflight: dict[str, Candidate] = {}
    for cid in state["pending"]:
        if cid not in results:
            inflight[cid] = candidates[cid]
            executor.submit(candidates[cid])
    waiting = {cid: n for cid, n in asked_open.items() if n > 0 and cid not in inflight and cid in results}
    for cid in list(waiting):  # asked again and answered from the store, but the tell was lost: tell now
        for _ in range(waiting[cid]):
            events.append(["tell", cid])
            proposer.tell(candidates[cid], results[cid])
    twins: dict[str, int] = {}  # asked again while in flight: told when the result arrives
    for cid, n in asked_open.items():
        if cid in inflight and n > 1:
            twins[cid] = n - 1
    duplicates, stopped = 0, ""
    start, done_at_start = time.perf_counter(), len(results)

    def save() -> None:
        state.update(candidates={k: c.to_dict() for k, c in candidates.items()}, results=results, events=events,
                     pending=list(inflight))
        _write_atomic(path, state)

    def refill() -> None:
        nonlocal duplicates, stopped
        streak = 0
        while len(inflight) < executor.workers and len(results) + len(inflight) < budget:
            candidate = proposer.ask()
            if candidate is None:
                return
            cid = candidate.id
            candidates.setdefault(cid, candidate)
            events.append(["ask", cid])
            if cid in results or cid in inflight:
                duplicates, streak = duplicates + 1, streak + 1
                if cid in results:
                    events.append(["tell", cid])
                    proposer.tell(candidate, results[cid])
                else:
                    twins[cid] = twins.get(cid, 0) + 1
                if streak >= max_duplicates:
                    stopped = f"the proposer repeated known candidates {streak} times in a row"
                    return
                continue
            streak = 0
            inflight[cid] = candidate
            executor.submit(candidate)

    try:
        refill()
        save()
        if not inflight and len(results) < budget and not stopped:
            stopped = stopped or "the proposer had nothing more to propose"
        while inflight:
            cid, record = executor.wait()
            candidate = inflight.pop(cid)
            record = {"id": cid, "candidate": candidate.to_dict(), **record}
            results[cid] = record
            events.append(["tell", cid])
            proposer.tell(candidate, record)
            for _ in range(twins.pop(cid, 0)):
                events.append(["tell", cid])
                proposer.tell(candidate, record)
            refill()
            save()
            if progress is not None:
                done = len(results)
                rate = (time.perf_counter() - start) / max(1, done - done_at_start)  # wall s per result
                best = max(results.values(), key=lambda r: r["accuracy"])
                progress({"done": done, "budget": budget, "best": best, "record": record,
                          "eta_s": rate * (budget - done)})
            if not inflight and len(results) < budget and not stopped:
                stopped = "the proposer had nothing more to propose"
    finally:
        executor.close()
    order = [cid for kind, cid in events if kind == "tell"]
    seen, records = set(), []
    for cid in order:
        if cid not in seen:
            seen.add(cid)
            records.append(results[cid])
    return SearchResult(records, path, full_config, resumed, duplicates, time.perf_counter() - start, stopped)
