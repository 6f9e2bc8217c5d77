"""design.search + design.proposers: proposers, the loop, checkpoint/resume, kills, bad input, the CLI."""
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gpuefficient.arch import gpunet_space as space
from gpuefficient.design.proposers import (LLR_RANGES, LLRProposer, OptunaProposer, RandomProposer, fit_linear,
                                           genet_spec)
from gpuefficient.design.search import (CHECKPOINT, Candidate, SearchError, load_checkpoint, run_search,
                                        synthetic_evaluator, synthetic_latency)
from gpuefficient.design.tiers import TierError

TIER = (20.0, 35.0)


def test_candidate_id_is_stable_and_round_trips():
    code = [values[0] for _, values in space.DIGITS]
    a, b = Candidate.gpunet(code), Candidate.gpunet(list(code))
    assert a.id == b.id and len(a.id) == 16
    assert Candidate.from_dict(json.loads(json.dumps(a.to_dict()))).id == a.id
    assert Candidate.gpunet(code[:-1] + [space.DIGITS[-1][1][1]]).id != a.id
    assert a.spec().resolution == 224


def test_random_respects_the_tier_and_is_seeded():
    p, q = RandomProposer(synthetic_latency, TIER, seed=3), RandomProposer(synthetic_latency, TIER, seed=3)
    drawn = [p.ask() for _ in range(30)]
    assert all(TIER[0] <= synthetic_latency(c) < TIER[1] for c in drawn)
    assert [c.id for c in drawn] == [q.ask().id for _ in range(30)]
    assert len({c.id for c in drawn}) == 30


def test_tier_below_the_fastest_network_and_empty_tier():
    with pytest.raises(TierError, match="below the fastest"):
        RandomProposer(synthetic_latency, (0.1, 0.5))
    with pytest.raises(TierError, match="none of 50 random"):
        RandomProposer(synthetic_latency, (41.9, 41.95), max_tries=50).ask()  # only the largest networks
    with pytest.raises(TierError, match="low < high"):
        RandomProposer(synthetic_latency, (5, 3))


def test_tpe_beats_random_on_a_synthetic_objective(tmp_path):
    tpe = run_search(OptunaProposer(synthetic_latency, TIER, seed=0), synthetic_evaluator, 40, tmp_path / "t")
    rnd = run_search(RandomProposer(synthetic_latency, TIER, seed=0), synthetic_evaluator, 40, tmp_path / "r")
    assert all(TIER[0] <= r["latency_ms"] < TIER[1] for r in tpe.records)
    assert tpe.best["accuracy"] > rnd.best["accuracy"] + 0.02


def test_llr_perturbations_stay_in_the_papers_ranges():
    p = LLRProposer(synthetic_latency, (0.5, 4.0), base="light", seed=0)
    master = p.master["stages"]
    for i, (block, d, c, _, _) in enumerate(master):
        for _ in range(50):
            b, d2, c2, k, r = p.perturb(i)
            assert b == block and k in (3, 5) and max(1, d - 2) <= d2 <= d + 2 and 0.5 * c <= c2 <= 2 * c
            assert r in {"bl": (0.5, 0.25), "dw": (3, 6, 9)}.get(block, (master[i][4],))
    distill = [c for _, c in p._distill]
    assert len(distill) == 1 + LLR_RANGES["samples_per_block"] * len(master)
    for (stage, cand) in p._distill[1:]:  # only super-block `stage` differs from the MasterNet
        changed = [j for j, (a, b) in enumerate(zip(cand.params["stages"], master)) if list(a) != list(b)]
        assert changed in ([], [stage])
    genet_spec(distill[1].params)  # a valid NetworkSpec


def test_llr_selection_steps_within_the_latency_budget(tmp_path):
    p = LLRProposer(synthetic_latency, (0.5, 4.0), base="light", seed=0, pool=300)
    result = run_search(p, synthetic_evaluator, 60, tmp_path)
    selected = result.records[len(p._distill):]
    assert selected and all(0.5 <= synthetic_latency(Candidate.from_dict(r["candidate"])) < 4.0 for r in selected)
    best_predicted = p.predict(Candidate.from_dict(selected[0]["candidate"]).params["stages"])
    assert best_predicted >= max(p.predict(Candidate.from_dict(r["candidate"]).params["stages"]) for r in selected)


def test_linear_fit_recovers_a_known_function():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 3))
    g = np.array([0.5, -2.0, 0.25])
    np.testing.assert_allclose(fit_linear(x, x @ g), g, atol=1e-10)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    r = run_search(RandomProposer(synthetic_latency, TIER, seed=1), synthetic_evaluator, 6, tmp_path)
    data = load_checkpoint(tmp_path)
    assert set(data["results"]) == set(r.ids()) and data["pending"] == []
    rec = data["results"][r.ids()[0]]
    assert {"host", "pid", "device", "torch", "finished_utc", "seconds"} <= set(rec["provenance"])
    with pytest.raises(SearchError, match="already holds a search"):
        run_search(RandomProposer(synthetic_latency, TIER, seed=1), synthetic_evaluator, 6, tmp_path)
    with pytest.raises(SearchError, match=r"seed is 2 now but 1 in the checkpoint"):
        run_search(RandomProposer(synthetic_latency, TIER, seed=2), synthetic_evaluator, 6, tmp_path, resume=True)
    again = run_search(RandomProposer(synthetic_latency, TIER, seed=1), synthetic_evaluator, 6, tmp_path, resume=True)
    assert again.ids() == r.ids() and again.resumed  # nothing re-evaluated, nothing new


@pytest.mark.parametrize("garbage", ["{not json", '{"format": "other"}', ""])
def test_corrupt_checkpoint_is_reported_and_left_as_is(tmp_path, garbage):
    (tmp_path / CHECKPOINT).write_text(garbage)
    with pytest.raises(SearchError, match="is corrupt.*left as is"):
        run_search(RandomProposer(synthetic_latency, TIER), synthetic_evaluator, 3, tmp_path, resume=True)
    assert (tmp_path / CHECKPOINT).read_text() == garbage


def test_tampered_checkpoint_is_corrupt(tmp_path):
    run_search(RandomProposer(synthetic_latency, TIER), synthetic_evaluator, 3, tmp_path)
    data = json.loads((tmp_path / CHECKPOINT).read_text())
    cid = next(iter(data["candidates"]))
    data["candidates"][cid]["params"]["encoding"][0] = 256
    (tmp_path / CHECKPOINT).write_text(json.dumps(data))
    with pytest.raises(SearchError, match="id does not match"):
        load_checkpoint(tmp_path)


def test_budget_zero_and_bad_evaluator(tmp_path):
    with pytest.raises(ValueError, match="budget: got 0"):
        run_search(RandomProposer(synthetic_latency, TIER), synthetic_evaluator, 0, tmp_path)
    with pytest.raises(SearchError, match="expected an accuracy"):
        run_search(RandomProposer(synthetic_latency, TIER), lambda c: "high", 2, tmp_path / "b")


class CountingEvaluator:
    def __init__(self):
        self.seen = []

    def __call__(self, c):
        self.seen.append(c.id)
        return synthetic_evaluator(c)


class Crash(Exception):
    pass


@pytest.mark.parametrize("kind", ["random", "tpe", "llr"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, kind):
    make = {"random": lambda: RandomProposer(synthetic_latency, TIER, seed=5),
            "tpe": lambda: OptunaProposer(synthetic_latency, TIER, seed=5),
            "llr": lambda: LLRProposer(synthetic_latency, (0.5, 4.0), seed=5, pool=200)}[kind]
    budget = 25 if kind != "llr" else 52
    whole = run_search(make(), synthetic_evaluator, budget, tmp_path / "whole")
    ev, calls = CountingEvaluator(), [0]

    def dying(c):
        calls[0] += 1
        if calls[0] in (7, 19):
            raise Crash  # the driver dies mid-evaluation
        return ev(c)
    for _ in range(3):
        try:
            resumed = run_search(make(), dying, budget, tmp_path / "cut", resume=True)
            break
        except Crash:
            pass
    assert resumed.ids() == whole.ids()
    assert len(ev.seen) == len(set(ev.seen)) == budget  # each candidate evaluated once


# large enough that 20 kills land before the search can finish (about 2 results between kills at 20 ms each;
# with 40 and 10 ms, a fast machine finished the search before the 20th kill)
KILL_BUDGET = 200


def _driver(directory, seed):
    run_search(RandomProposer(synthetic_latency, TIER, seed=seed), synthetic_evaluator, KILL_BUDGET, directory,
               resume=True)


def test_driver_sigkilled_twenty_times_resumes_without_loss_or_duplicates(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUEFFICIENT_SYNTHETIC_SLEEP", "0.02")
    ctx = multiprocessing.get_context("fork")  # torch is imported already: a fork starts in milliseconds
    rng, kills = random.Random(0), 0
    for _ in range(200):
        proc = ctx.Process(target=_driver, args=(tmp_path / "cut", 5))
        proc.start()
        time.sleep(rng.uniform(0.0, 0.1))
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.join()
        if kills >= 20:
            break
    assert kills >= 20
    cut = load_checkpoint(tmp_path / "cut")
    assert 0 < len(cut["results"]) < KILL_BUDGET  # the kills landed mid-search, not before it started or after it ended
    monkeypatch.delenv("GPUEFFICIENT_SYNTHETIC_SLEEP")
    final = run_search(RandomProposer(synthetic_latency, TIER, seed=5), synthetic_evaluator, KILL_BUDGET,
                       tmp_path / "cut", resume=True)
    whole = run_search(RandomProposer(synthetic_latency, TIER, seed=5), synthetic_evaluator, KILL_BUDGET,
                       tmp_path / "whole")
    assert len(final.ids()) == len(set(final.ids())) == KILL_BUDGET
    assert set(final.ids()) == set(whole.ids())
    data = load_checkpoint(tmp_path / "cut")
    asks = [cid for kind, cid in data["events"] if kind == "ask"]
    assert len(asks) == len(set(asks)) == KILL_BUDGET  # no candidate asked (so evaluated) twice


CLI = [sys.executable, "-m", "gpuefficient"]
FAKE = ["--latency", "gpuefficient.design.search:synthetic_latency",
        "--evaluator", "gpuefficient.design.search:synthetic_evaluator"]


def test_cli_search_run_and_tiers_json(tmp_path):
    out = subprocess.run(CLI + ["search", "run", "--tier", "20,35", "--proposer", "random", "--budget", "4",
                                "--out", str(tmp_path / "s"), "--executor", "serial", "--json", *FAKE],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["evaluated"] == 4 and data["best"]["accuracy"] > 0
    assert out.stderr.count("evaluated, best") == 4 and "ETA" in out.stderr
    bad = subprocess.run(CLI + ["search", "run", "--tier", "0.1,0.5", "--proposer", "random", "--budget", "4",
                                "--out", str(tmp_path / "b"), "--executor", "serial", *FAKE],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "below the fastest" in bad.stderr
    tiers = subprocess.run(CLI + ["search", "tiers", "--n", "64", "--quantiles", "2", "--json", "--latency",
                                  "numpy:sum"], capture_output=True, text=True, timeout=120)
    assert tiers.returncode == 2 and "returned shape" in tiers.stderr  # numpy.sum of the matrix: one number


@pytest.mark.slow
def test_cli_driver_killed_twenty_times(tmp_path):
    """The issue's kill test through `search run` itself (each start imports torch, ~5 s: slow)."""
    cmd = CLI + ["search", "run", "--tier", "20,35", "--proposer", "tpe", "--budget", "30", "--resume",
                 str(tmp_path / "cut"), "--executor", "serial", "--quiet", "--json", *FAKE]
    env = {**os.environ, "GPUEFFICIENT_SYNTHETIC_SLEEP": "0.02"}
    rng = random.Random(1)
    checkpoint = tmp_path / "cut" / CHECKPOINT
    for _ in range(20):
        before = checkpoint.stat().st_mtime_ns if checkpoint.exists() else 0
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and \
                (not checkpoint.exists() or checkpoint.stat().st_mtime_ns == before):
            time.sleep(0.01)  # until this run has written (started searching)
        time.sleep(rng.uniform(0.0, 0.1))
        proc.kill()
        proc.wait()
    assert 0 < len(load_checkpoint(tmp_path / "cut")["results"]) < 30
    final = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300).stdout)
    whole = json.loads(subprocess.run([c if c != str(tmp_path / "cut") else str(tmp_path / "whole") for c in cmd],
                                      capture_output=True, text=True, check=True, timeout=300).stdout)
    ids = [r["id"] for r in final["records"]]
    assert len(ids) == len(set(ids)) == 30 and ids == [r["id"] for r in whole["records"]]


def test_cli_unreachable_address_is_one_line(tmp_path, capsys):
    from gpuefficient.cli import main

    status = main(["search", "run", "--tier", "20,35", "--proposer", "random", "--budget", "2", "--out",
                   str(tmp_path), "--address", "ray://127.0.0.1:1", *FAKE])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "no Ray cluster reachable" in err
    assert not (tmp_path / CHECKPOINT).exists()
