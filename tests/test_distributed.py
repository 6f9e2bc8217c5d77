"""design.distributed: the search on a local Ray (2 CPUs), Ray's retry of a killed worker, an unreachable address."""
import os
import time

import pytest

pytest.importorskip("ray")

from gpuefficient.design.distributed import RayExecutor, probe_address  # noqa: E402
from gpuefficient.design.proposers import RandomProposer  # noqa: E402
from gpuefficient.design.search import SearchError, run_search, synthetic_evaluator, synthetic_latency  # noqa: E402

TIER = (20.0, 35.0)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    os.environ.pop("RAY_ADDRESS", None)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_search_on_ray_matches_serial(ray_local, tmp_path):
    executor = RayExecutor(synthetic_evaluator)
    assert executor.workers == 2
    on_ray = run_search(RandomProposer(synthetic_latency, TIER, seed=2), None, 8, tmp_path / "ray", executor=executor)
    serial = run_search(RandomProposer(synthetic_latency, TIER, seed=2), synthetic_evaluator, 8, tmp_path / "serial")
    assert sorted(on_ray.ids()) == sorted(serial.ids())
    assert len({r["provenance"]["pid"] for r in on_ray.records} - {os.getpid()}) >= 1  # ran in Ray workers
    assert all(r["provenance"]["torch_threads"] == 1 for r in on_ray.records)  # single-threaded CPU tasks


def test_a_killed_worker_is_retried_not_lost(ray_local, tmp_path):
    marker = tmp_path / "died"

    def dies_once(candidate):  # a closure: Ray ships it by value to the worker
        if not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies mid-task
        return synthetic_evaluator(candidate)
    result = run_search(RandomProposer(synthetic_latency, TIER, seed=4), None, 3, tmp_path / "s",
                        executor=RayExecutor(dies_once, max_retries=3))
    assert marker.exists() and len(result.records) == 3


def test_a_failing_evaluator_is_one_error_and_keeps_the_candidate_pending(ray_local, tmp_path):
    def fails(candidate):
        raise RuntimeError("out of memory on the worker")
    with pytest.raises(SearchError, match="failed on a Ray worker: RuntimeError: out of memory"):
        run_search(RandomProposer(synthetic_latency, TIER), None, 2, tmp_path, executor=RayExecutor(fails))
    from gpuefficient.design.search import load_checkpoint

    assert len(load_checkpoint(tmp_path)["pending"]) == 2 and not load_checkpoint(tmp_path)["results"]


def test_unreachable_address_is_one_clear_line_fast():
    start = time.monotonic()
    with pytest.raises(SearchError, match=r"no Ray cluster reachable there.*ray start --head"):
        probe_address("ray://127.0.0.1:1", timeout_s=2)
    with pytest.raises(SearchError, match="expected 'ray://host:port'"):
        probe_address("nonsense")
    assert time.monotonic() - start < 5
