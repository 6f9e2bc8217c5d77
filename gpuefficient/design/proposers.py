"""Proposers for the search loop: ``ask() -> Candidate | None`` and ``tell(candidate, result)``.

* :class:`RandomProposer`: uniform draws over GPUNet's 41-digit encoding, kept when the latency predictor
  puts them inside the tier (rejection sampling): the baseline.
* :class:`OptunaProposer`: Optuna's TPE (or GP) sampler over the same 41 digits, each an integer index
  into its allowed values, maximising accuracy with the tier as a constraint (``constraints_func``):
  a candidate the predictor puts outside the tier is told to the study at once as infeasible (it costs
  no evaluation) and the sampler is asked again.
* :class:`LLRProposer`: GENet's Local-Linear-Regression NAS (Lin et al., Sec. 4.2) from a GENet MasterNet.

Every proposer is deterministic given its seed and the sequence of calls, which is what lets
:func:`~gpuefficient.design.search.run_search` rebuild it on resume by replaying the calls. ``latency`` is
any ``f(candidate) -> ms`` (e.g. :func:`table_latency` of a filled lookup table); tiers are ``(low, high)``
in ms, a candidate is inside when ``low <= latency < high``.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Callable, Protocol, Sequence

import numpy as np

from gpuefficient import checks
from gpuefficient.arch import gpunet_space as space
from gpuefficient.design.search import Candidate, SearchError
from gpuefficient.design.tiers import TierError

__all__ = ["Proposer", "RandomProposer", "OptunaProposer", "LLRProposer", "table_latency", "check_tier",
           "fit_linear", "genet_spec", "LLR_RANGES", "PROPOSERS"]


class Proposer(Protocol):
    def ask(self) -> Candidate | None: ...  # None: nothing to propose until pending results are told

    def tell(self, candidate: Candidate, result: dict) -> None: ...

    def config(self) -> dict: ...  # what must match for a resume


def table_latency(latency) -> Callable[[Candidate], float]:
    """``f(candidate) -> ms`` from a :class:`~gpuefficient.design.tiers.TableLatency` (memoised by id)."""
    memo: dict[str, float] = {}

    def f(candidate: Candidate) -> float:
        if candidate.id not in memo:
            if candidate.space == "gpunet":
                memo[candidate.id] = float(latency.encodings_ms([candidate.params["encoding"]])[0])
            else:
                memo[candidate.id] = latency.spec_ms(candidate.spec())
        return memo[candidate.id]
    return f


def _check_tier(tier) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in tier)
    except (TypeError, ValueError):
        raise TierError(f"tier: got {tier!r}, expected (low, high) latencies in ms") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high):
        raise TierError(f"tier: got ({low:g}, {high:g}) ms, expected 0 <= low < high")
    return low, high


def check_tier(tier, fastest_ms: float) -> tuple[float, float]:
    """``tier`` as (low, high) ms, refusing one whose upper bound is at or below the fastest network."""
    low, high = _check_tier(tier)
    if high <= fastest_ms:
        raise TierError(f"tier: the upper bound {high:g} ms is at or below the fastest network of the space "
                        f"({fastest_ms:.4g} ms, every choice at its smallest), so the tier is empty; "
                        f"expected a bound above {fastest_ms:.4g} ms")
    return low, high


def _fastest_gpunet() -> Candidate:
    """The GPUNet network with every digit at its smallest value (fewest layers, narrowest, kernel 3, ReLU, no SE)."""
    return Candidate.gpunet([values[0] for _, values in space.DIGITS])


class RandomProposer:
    """Uniform random GPUNet networks inside the tier, by rejection (``max_tries`` draws per ask)."""

    kind = "random"

    def __init__(self, latency: Callable[[Candidate], float], tier, seed: int = 0, max_tries: int = 20000):
        self.latency, self.seed = latency, checks.integer("seed", seed, 0)
        self.tier = check_tier(tier, latency(_fastest_gpunet()))
        self.max_tries = checks.integer("max_tries", max_tries)
        self._rng = np.random.default_rng(self.seed)

    def config(self) -> dict:
        return {"proposer": self.kind, "seed": self.seed, "tier": list(self.tier), "space": "gpunet"}

    def ask(self) -> Candidate:
        low, high = self.tier
        for _ in range(self.max_tries):
            candidate = Candidate.gpunet(space.encode(self._rng.random(len(space.DIGITS))))
            if low <= self.latency(candidate) < high:
                return candidate
        raise TierError(f"tier [{low:g}, {high:g}) ms: none of {self.max_tries} random networks fell inside it; "
                        "expected a tier that holds networks of the space (see `search tiers`)")

    def tell(self, candidate: Candidate, result: dict) -> None:
        pass  # random search learns nothing


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise SearchError("optuna is not installed: pip install -e '.[search]' (or use --proposer random)") from None
    return optuna


class OptunaProposer:
    """Optuna's Bayesian samplers over GPUNet's encoding, the tier as a constraint.

    ``sampler``: "tpe" (``TPESampler``, multivariate) or "gp" (``GPSampler``, which needs scipy and
    torch). Each Table 2 digit is an integer parameter indexing its allowed values (ordered, so the
    sampler can exploit neighbourhoods). Rejected (out-of-tier) draws are told with accuracy 0 and a
    positive constraint violation, so the sampler learns where the tier is without spending evaluations.
    """

    def __init__(self, latency: Callable[[Candidate], float], tier, seed: int = 0, sampler: str = "tpe",
                 n_startup_trials: int = 10, max_rejects: int = 5000):
        optuna = _import_optuna()
        self.kind = checks.one_of("sampler", sampler, ("tpe", "gp"))
        self.latency, self.seed = latency, checks.integer("seed", seed, 0)
        self.tier = check_tier(tier, latency(_fastest_gpunet()))
        self.max_rejects, self.n_startup_trials = checks.integer("max_rejects", max_rejects), n_startup_trials
        optuna.logging.set_verbosity(optuna.logging.WARNING)

        # Optuna 5 reads a trial's constraint from Trial.set_constraint; Optuna 4 from constraints_func
        self._set_constraint = hasattr(optuna.trial.Trial, "set_constraint")
        constraints = None if self._set_constraint else (lambda trial: trial.user_attrs["constraint"])
        if self.kind == "tpe":
            chosen = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=n_startup_trials, multivariate=True,
                                                constraints_func=constraints)
        else:
            try:
                import scipy  # noqa: F401 - GPSampler's optimiser
            except ImportError:
                raise SearchError("--proposer gp needs scipy (Optuna's GPSampler): pip install scipy, "
                                  "or use --proposer tpe") from None
            chosen = optuna.samplers.GPSampler(seed=self.seed, n_startup_trials=n_startup_trials,
                                               constraints_func=constraints)
        self.study = optuna.create_study(direction="maximize", sampler=chosen)
        self._open: dict[str, deque] = {}
        self.rejected = 0

    def config(self) -> dict:
        return {"proposer": self.kind, "seed": self.seed, "tier": list(self.tier), "space": "gpunet",
                "n_startup_trials": self.n_startup_trials}

    def ask(self) -> Candidate:
        low, high = self.tier
        for _ in range(self.max_rejects):
            trial = self.study.ask()
            code = [values[trial.suggest_int(name, 0, len(values) - 1)] for name, values in space.DIGITS]
            candidate = Candidate.gpunet(code)
            latency = self.latency(candidate)
            violation = [latency - high, low - latency]  # feasible when both <= 0
            if self._set_constraint:
                trial.set_constraint("above_tier", violation[0])
                trial.set_constraint("below_tier", violation[1])
            else:
                trial.set_user_attr("constraint", violation)
            trial.set_user_attr("latency_ms", latency)
            if low <= latency < high:
                self._open.setdefault(candidate.id, deque()).append(trial)
                return candidate
            self.rejected += 1
            self.study.tell(trial, 0.0)
        raise TierError(f"tier [{low:g}, {high:g}) ms: {self.max_rejects} proposals in a row fell outside it; "
                        "expected a tier that holds networks of the space (see `search tiers`)")

    def tell(self, candidate: Candidate, result: dict) -> None:
        trials = self._open.get(candidate.id)
        if trials:
            self.study.tell(trials.popleft(), float(result["accuracy"]))


# --- GENet's LLR-NAS --------------------------------------------------------------------------------------------

#: GENet Sec. 5 (implementation details): the perturbation ranges of a super-block of width c and depth d.
LLR_RANGES = {"kernel": (3, 5), "width": (0.5, 2.0), "depth": (-2, 2), "bl_r": (0.5, 0.25), "dw_r": (3, 6, 9),
              "samples_per_block": 9}


def _master(base: str) -> dict:
    from gpuefficient.arch import zoo

    names = [n for n in zoo.names() if n.startswith("genet_")]
    name = base if base.startswith("genet_") else f"genet_{base}"
    if name not in names:
        raise ValueError(f"base: got {base!r}, expected one of {[n.removeprefix('genet_') for n in names]}")
    spec = zoo.get(name).spec
    return {"base": name, "resolution": spec.resolution,
            "stages": [[s.block, s.depth, s.out_channels, s.kernel, s.expansion] for s in spec.stages]}


def genet_spec(params, name: str | None = None):
    """The ``NetworkSpec`` of an LLR candidate: the GENet zoo base with its stages' block, depth, width,
    kernel and r replaced (stem, strides and head stay the MasterNet's)."""
    import dataclasses

    from gpuefficient.arch import zoo

    base = zoo.get(params["base"]).spec
    stages = tuple(dataclasses.replace(s, block=b, depth=int(d), out_channels=int(w), kernel=int(k), expansion=float(r))
                   for s, (b, d, w, k, r) in zip(base.stages, params["stages"], strict=True))
    return dataclasses.replace(base, stages=stages, resolution=int(params["resolution"]),
                               name=name or base.name, source=f"LLR-NAS candidate from {base.name}")


def fit_linear(features, gains) -> np.ndarray:
    """Least-squares coefficients ``g`` with features @ g ~= gains (minimum-norm when underdetermined):
    LLR-NAS's pseudo-gradient."""
    x, y = np.asarray(features, dtype=float), np.asarray(gains, dtype=float)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"features/gains: got shapes {x.shape} and {y.shape}, expected (n, k) and (n,)")
    return np.linalg.lstsq(x, y, rcond=None)[0]


class LLRProposer:
    """GENet's Local-Linear-Regression NAS (Lin et al., Sec. 4.2 and 5) on a GENet MasterNet (``base``).

    1. *Distillation*: the MasterNet, then for each super-block (stage) i, ``samples_per_block`` (9 in
       the paper) networks with only S_i perturbed within :data:`LLR_RANGES`: kernel {3, 5}, width in
       [0.5c, 2c] (multiples of 8), depth in [d-2, d+2] (at least 1), r {0.5, 0.25} for BL and {3, 6, 9}
       for DW blocks (XX blocks have none; the block family itself stays).
    2. *Regression*: per super-block, least squares of the accuracy change against the depth and
       width changes, ``g1 (d - d_i) + g2 (c - c_i) + b_T``. Simplified: the paper fits one (g1, g2)
       per super-block *and block type* T; with 9 samples per super-block this shares the slopes and
       gives each type (kernel, r) its own intercept b_T instead.
    3. *Selection*: ``pool`` random structures (every super-block perturbed) at each of ``resolutions``,
       scored by the summed linear model; the best one within the latency tier is proposed first, then
       the next best, and so on (each asked candidate is evaluated for real).

    Simplified: "fine-tune the perturbed super-block until convergent" is whatever the evaluator does
    (the training oracle trains the whole network briefly from scratch). While distillation results
    are outstanding :meth:`ask` returns None (selection needs all of them). Distillation candidates are
    not held to the tier (the paper perturbs freely to learn the gradient); selected ones are.
    """

    kind = "llr"

    def __init__(self, latency: Callable[[Candidate], float], tier, base: str = "light", seed: int = 0,
                 samples_per_block: int = LLR_RANGES["samples_per_block"], pool: int = 2000,
                 resolutions: Sequence[int] | None = None):
        self.master = _master(base)
        self.latency, self.seed = latency, checks.integer("seed", seed, 0)
        self.samples_per_block, self.pool = checks.integer("samples_per_block", samples_per_block), checks.integer("pool", pool)
        self.resolutions = [int(r) for r in (resolutions or [self.master["resolution"]])]
        fastest = min(latency(self._candidate(self._smallest(), r)) for r in self.resolutions)
        self.tier = check_tier(tier, fastest)
        self._rng = np.random.default_rng(self.seed)
        master = self._candidate(self.master["stages"], self.master["resolution"])
        self._distill: list[tuple[int, Candidate]] = [(-1, master)]
        for i in range(len(self.master["stages"])):
            self._distill += [(i, self._candidate(self._perturb_all(i), self.master["resolution"]))
                              for _ in range(self.samples_per_block)]
        self._next = 0
        self._accuracy: dict[str, float] = {}
        self._ranked: list[Candidate] | None = None
        self._asked: set[str] = set()
        self.models: list[np.ndarray] | None = None

    def config(self) -> dict:
        return {"proposer": self.kind, "seed": self.seed, "tier": list(self.tier), "space": "genet",
                "base": self.master["base"], "samples_per_block": self.samples_per_block, "pool": self.pool,
                "resolutions": self.resolutions}

    def _candidate(self, stages, resolution) -> Candidate:
        return Candidate("genet", {"base": self.master["base"], "resolution": int(resolution),
                                   "stages": [[b, int(d), int(w), int(k), float(r)] for b, d, w, k, r in stages]})

    def _smallest(self) -> list:
        out = []
        for block, d, c, _, r in self.master["stages"]:
            r_min = {"bl": min(LLR_RANGES["bl_r"]), "dw": min(LLR_RANGES["dw_r"])}.get(block, r)
            out.append([block, max(1, d + LLR_RANGES["depth"][0]), self._widths(c)[0], 3, r_min])
        return out

    @staticmethod
    def _widths(c: int) -> list[int]:
        lo, hi = math.ceil(LLR_RANGES["width"][0] * c), math.floor(LLR_RANGES["width"][1] * c)
        eights = [w for w in range(lo, hi + 1) if w % 8 == 0]
        return eights or list(range(lo, hi + 1))

    def perturb(self, stage: int) -> list:
        """One random perturbation of super-block ``stage`` within :data:`LLR_RANGES` ([block, d, c, k, r])."""
        block, d, c, _, r = self.master["stages"][stage]
        rng = self._rng
        depth = int(rng.integers(max(1, d + LLR_RANGES["depth"][0]), d + LLR_RANGES["depth"][1] + 1))
        width = int(rng.choice(self._widths(c)))
        kernel = int(rng.choice(LLR_RANGES["kernel"]))
        r = {"bl": lambda: float(rng.choice(LLR_RANGES["bl_r"])), "dw": lambda: float(rng.choice(LLR_RANGES["dw_r"]))
             }.get(block, lambda: float(r))()
        return [block, depth, width, kernel, r]

    def _perturb_all(self, stage: int) -> list:
        stages = [list(s) for s in self.master["stages"]]
        stages[stage] = self.perturb(stage)
        return stages

    def _features(self, i: int, stage) -> np.ndarray:
        """[d - d_i, (c - c_i) / c_i, one-hot of the (kernel, r) type]: the regression's inputs."""
        block, d0, c0, _, _ = self.master["stages"][i]
        _, d, c, k, r = stage
        types = self._types(i)
        onehot = [1.0 if (k, r) == t else 0.0 for t in types]
        return np.array([d - d0, (c - c0) / c0, *onehot])

    def _types(self, i: int) -> list[tuple]:
        block, _, _, k0, r0 = self.master["stages"][i]
        rs = {"bl": LLR_RANGES["bl_r"], "dw": LLR_RANGES["dw_r"]}.get(block, (r0,))
        return [(k, float(r)) for k in LLR_RANGES["kernel"] for r in rs if (k, float(r)) != (k0, float(r0))]

    def _fit(self) -> None:
        master_id = self._distill[0][1].id
        base = self._accuracy[master_id]
        self.models = []
        for i in range(len(self.master["stages"])):
            rows = [(self._features(i, c.params["stages"][i]), self._accuracy[c.id] - base)
                    for s, c in self._distill if s == i]
            self.models.append(fit_linear(np.array([r[0] for r in rows]), np.array([r[1] for r in rows])))
        pool = []
        low, high = self.tier
        for resolution in self.resolutions:
            for _ in range(self.pool):
                stages = [self.perturb(i) for i in range(len(self.master["stages"]))]
                candidate = self._candidate(stages, resolution)
                score = self.predict(stages)
                pool.append((score, len(pool), candidate))
        pool.sort(key=lambda t: (-t[0], t[1]))
        self._ranked = [c for _, _, c in pool if low <= self.latency(c) < high] if pool else []

    def predict(self, stages) -> float:
        """Predicted accuracy gain over the MasterNet of a structure (the fitted linear model summed over super-blocks)."""
        if self.models is None:
            raise SearchError("LLR: predict before the regression: tell all distillation results first")
        return float(sum(self._features(i, s) @ g for i, (s, g) in enumerate(zip(stages, self.models))))

    def ask(self) -> Candidate | None:
        if self._next < len(self._distill):
            candidate = self._distill[self._next][1]
            self._next += 1
            self._asked.add(candidate.id)
            return candidate
        if any(c.id not in self._accuracy for _, c in self._distill):
            return None  # regression needs every distillation result
        if self._ranked is None:
            self._fit()
            if not self._ranked:
                low, high = self.tier
                raise TierError(f"tier [{low:g}, {high:g}) ms: none of the {self.pool * len(self.resolutions)} "
                                "perturbed GENet structures fell inside it; expected a tier around the MasterNet's latency")
        while self._ranked:
            candidate = self._ranked.pop(0)
            if candidate.id not in self._asked:
                self._asked.add(candidate.id)
                return candidate
        return None

    def tell(self, candidate: Candidate, result: dict) -> None:
        self._accuracy[candidate.id] = float(result["accuracy"])


#: The proposer names the CLI accepts.
PROPOSERS = ("random", "tpe", "gp", "llr")
