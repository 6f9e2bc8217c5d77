"""Distributed evaluation on Ray: each candidate's evaluation (latency + training) is one Ray task.

:class:`RayExecutor` plugs into :func:`~gpuefficient.design.search.run_search`. ``address`` (or the
``RAY_ADDRESS`` environment variable) names an existing cluster (``ray://host:10001`` for Ray Client,
``host:6379`` on a cluster node, ``auto``); without one Ray starts locally on this machine with
``workers`` CPUs. Each task asks for one CPU, and one GPU where the cluster has GPUs; on CPU it runs
``torch.set_num_threads(1)`` so that parallel evaluations do not fight over cores. A worker that dies
mid-task is retried by Ray (``max_retries``), not lost; results are collected with ``ray.wait`` as
they finish. Scheduling, transport and retries are Ray's: nothing home-made beyond a one-off TCP probe
of ``address`` so that an unreachable cluster costs one clear line within ``connect_timeout_s``
instead of Ray's long reconnect loop.
"""
from __future__ import annotations

import os
import socket
from typing import Callable

from gpuefficient import checks
from gpuefficient.design.search import Candidate, SearchError, evaluate

__all__ = ["RayExecutor", "import_ray", "probe_address"]


def import_ray():
    try:
        import ray
    except ImportError:
        raise SearchError("ray is not installed: pip install -e '.[search]' (or use --executor serial)") from None
    return ray


def probe_address(address: str, timeout_s: float = 5.0) -> None:
    """Raise :class:`SearchError` unless something accepts TCP connections at ``address`` (``[ray://]host:port``)."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SearchError(f"address: got {address!r}, expected 'ray://host:port', 'host:port' or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise SearchError(f"address {address}: no Ray cluster reachable there ({err.strerror or err}); start one "
                          "with `ray start --head` on that machine, or leave --address and RAY_ADDRESS unset to "
                          "run locally") from None


def _task(evaluator: Callable, candidate: dict, threads: int | None) -> dict:
    """The body of one Ray task: evaluate one candidate (single-threaded torch on a CPU worker)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return evaluate(evaluator, Candidate.from_dict(candidate))


class RayExecutor:
    """Evaluate candidates as Ray tasks; ``workers`` of them in flight (default: the cluster's CPUs)."""

    def __init__(self, evaluator: Callable, *, address: str | None = None, workers: int | None = None,
                 max_retries: int = 3, connect_timeout_s: float = 5.0, threads_per_task: int | None = 1):
        ray = import_ray()
        if not callable(evaluator):
            raise TypeError(f"evaluator: got {type(evaluator).__name__}, expected a callable (candidate) -> accuracy")
        address = address or os.environ.get("RAY_ADDRESS") or None
        workers = None if workers is None else checks.integer("workers", workers)
        self._started = False
        if not ray.is_initialized():
            if address:
                probe_address(address, connect_timeout_s)
                try:
                    ray.init(address=address, include_dashboard=False, log_to_driver=False)
                except Exception as err:  # noqa: BLE001 - Ray's connection errors vary by version
                    raise SearchError(f"address {address}: cannot join the Ray cluster there "
                                      f"({' '.join(str(err).split())[:200]})") from None
            else:
                os.environ.pop("RAY_ADDRESS", None)
                ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            self._started = True
        resources = ray.cluster_resources()
        gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        self.workers = workers or max(1, int(resources.get("CPU", 1)))
        self.address = address or "local"
        self._ray = ray
        self._remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=max_retries)(_task)
        self._evaluator = ray.put(evaluator)
        self._threads = None if gpus else threads_per_task
        self._refs: dict = {}

    def submit(self, candidate: Candidate) -> None:
        ref = self._remote.remote(self._evaluator, candidate.to_dict(), self._threads)
        self._refs[ref] = candidate.id

    def wait(self) -> tuple[str, dict]:
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1)
        cid = self._refs.pop(ready[0])
        try:
            return cid, ray.get(ready[0])
        except ray.exceptions.RayTaskError as err:
            cause = err.cause if getattr(err, "cause", None) is not None else err
            raise SearchError(f"evaluation of {cid} failed on a Ray worker: {type(cause).__name__}: "
                              f"{' '.join(str(cause).split())[:300]} (the checkpoint keeps it pending: resume "
                              "to retry)") from None
        except ray.exceptions.RayError as err:
            raise SearchError(f"evaluation of {cid} was lost after Ray's retries: {type(err).__name__}: "
                              f"{' '.join(str(err).split())[:200]} (the checkpoint keeps it pending: resume "
                              "to retry)") from None

    def close(self) -> None:
        for ref in list(self._refs):
            self._ray.cancel(ref, force=True)
        self._refs.clear()

    def shutdown(self) -> None:
        """Stop the local Ray this executor started (a joined cluster keeps running)."""
        self.close()
        if self._started:
            self._ray.shutdown()
