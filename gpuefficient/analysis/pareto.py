"""Pareto frontiers over any number of objectives, each maximised or minimised.

The utilization study (Kosaian & Phanishayee, Sec. 3.2 and 4.2) reads its survey and the
NATS-Bench size space through frontiers: throughput-accuracy, utilization-accuracy,
throughput-utilization. A point is on the frontier when no other point dominates it, and ``p``
dominates ``q`` when ``p`` is at least as good as ``q`` in every objective and strictly better in
one. Ties: points equal in every objective do not dominate each other, so duplicates of a
frontier point are all kept (every index is returned).

Two objectives take O(n log n) (one sort, a running maximum); more take a sort and a comparison
of each point with the frontier found so far (a point can only be dominated by one that sorts
before it lexicographically), fast when the frontier is small, as it is for real data.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["DIRECTIONS", "pareto_mask", "pareto_front", "dominates", "hypervolume_2d", "approximate_frontier"]

DIRECTIONS = ("max", "min")
_CHUNK = 256  # points compared with the frontier per vectorised step (k > 2)


def _as_maximised(points, directions: Sequence[str]) -> np.ndarray:
    """``points`` as an (n, k) float array with every "min" objective negated, checked."""
    if isinstance(directions, str) or not isinstance(directions, (list, tuple)) or not directions:
        raise ValueError(f"directions: got {directions!r}, expected a list with one of {list(DIRECTIONS)} "
                         "per objective, like ['max', 'min']")
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise ValueError(f"directions: got {bad[0]!r} in {list(directions)}, expected each one of {list(DIRECTIONS)}")
    try:
        array = np.asarray(points, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"points: got {type(points).__name__}, expected an (n, k) array of numbers "
                         f"({err})") from None
    k = len(directions)
    if array.ndim == 1 and k == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != k:
        raise ValueError(f"points: got shape {array.shape}, expected (n, {k}): one column per direction {list(directions)}")
    n = array.shape[0]
    if n == 0:
        raise ValueError("points: got an empty set, expected at least 2 points to compare")
    if n == 1:
        raise ValueError(f"points: got one point {array[0].tolist()}, expected at least 2 points (a frontier of one "
                         "point says nothing)")
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise ValueError(f"points: row {row} is {array[row].tolist()}, expected finite numbers (NaN or inf cannot be "
                         "ranked)")
    signs = np.array([1.0 if d == "max" else -1.0 for d in directions])
    return array * signs


def dominates(p, q, directions: Sequence[str]) -> bool:
    """Whether point ``p`` dominates ``q``: no worse in every objective, strictly better in one."""
    pair = _as_maximised([p, q], directions)
    return bool(np.all(pair[0] >= pair[1]) and np.any(pair[0] > pair[1]))


def _mask_2d(x: np.ndarray) -> np.ndarray:
    """Non-dominated mask of maximised 2-D points: sort by the first objective (descending), then
    a point survives when it is the best of its group in the second and beats every point with a
    strictly larger first objective."""
    order = np.lexsort((-x[:, 1], -x[:, 0]))           # first objective descending, ties by the second
    first, second = x[order, 0], x[order, 1]
    starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]])
    group = np.cumsum(np.r_[True, first[1:] != first[:-1]]) - 1
    best = second[starts]                               # best second objective within each group
    before = np.r_[-np.inf, np.maximum.accumulate(best)[:-1]]  # best among strictly larger first objectives
    keep_sorted = (second == best[group]) & (second > before[group])
    mask = np.zeros(len(x), dtype=bool)
    mask[order[keep_sorted]] = True
    return mask


def _mask_kd(x: np.ndarray) -> np.ndarray:
    """Non-dominated mask for any number of maximised objectives (sort, then compare with the frontier)."""
    order = np.lexsort(x.T[::-1] * -1)                  # lexicographically descending
    frontier = np.empty((0, x.shape[1]))
    kept: list[np.ndarray] = []
    for start in range(0, len(order), _CHUNK):
        idx = order[start:start + _CHUNK]
        chunk = x[idx]
        # dominated by a frontier point found so far (only earlier points can dominate)
        ge = (frontier[None, :, :] >= chunk[:, None, :]).all(-1)
        gt = (frontier[None, :, :] > chunk[:, None, :]).any(-1)
        alive = ~(ge & gt).any(1)
        # dominated by another point of this chunk
        ge = (chunk[None, :, :] >= chunk[:, None, :]).all(-1)
        gt = (chunk[None, :, :] > chunk[:, None, :]).any(-1)
        alive &= ~(ge & gt).any(1)
        kept.append(idx[alive])
        frontier = np.concatenate([frontier, chunk[alive]])
    mask = np.zeros(len(x), dtype=bool)
    mask[np.concatenate(kept)] = True
    return mask


def pareto_mask(points, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask over the rows of ``points`` (n x k): True where no other row dominates it.

    ``directions`` gives "max" or "min" per column. Rows equal in every objective are all kept.
    At least 2 points; NaN and inf are refused.
    """
    x = _as_maximised(points, directions)
    return _mask_2d(x) if x.shape[1] == 2 else _mask_kd(x)


def pareto_front(points, directions: Sequence[str]) -> np.ndarray:
    """Indices (ascending) of the non-dominated rows of ``points``; see :func:`pareto_mask`."""
    return np.flatnonzero(pareto_mask(points, directions))


def hypervolume_2d(points, directions: Sequence[str], reference) -> float:
    """Area dominated by ``points`` (n x 2) and bounded by ``reference`` (one point worse than all of them
    in both objectives): one number for how good a whole frontier is, larger is better.

    The utilization study compares the frontiers that two searches return (Sec. 4.3, Figs. 5 and 6)
    by eye; the area they dominate against a common reference compares them by a number.
    """
    if len(directions) != 2 or np.shape(reference) != (2,):
        raise ValueError(f"directions, reference: got {list(directions)} and {reference!r}, expected two of each "
                         "(a frontier in two objectives)")
    x = _as_maximised(np.vstack([np.asarray(points, dtype=float).reshape(-1, 2),
                                 np.asarray(reference, dtype=float)[None]]), directions)
    ref, pts = x[-1], x[:-1]
    if (pts <= ref).any():
        bad = np.asarray(points, dtype=float)[(pts <= ref).any(axis=1)][0]
        raise ValueError(f"reference: got {list(np.asarray(reference, dtype=float))}, expected a point strictly "
                         f"worse than every point in both objectives ({list(bad)} is not better)")
    front = pts[_mask_2d(pts)]
    front = front[np.argsort(-front[:, 0])]  # first objective falling, second rising along the frontier
    area, reached = 0.0, ref[1]
    for a, b in front:
        if b > reached:
            area += (a - ref[0]) * (b - reached)
            reached = b
    return float(area)


def approximate_frontier(throughput, proxy, accuracy) -> np.ndarray:
    """The utilization study's approximate filtering (Sec. 4.3.1): the throughput-``proxy`` frontier
    first (cheap: every candidate), then accuracy only for its members, then their throughput-accuracy
    frontier. ``accuracy`` is a callable (index -> accuracy), called once per frontier member: in a
    real search each call trains a network. Returns the indices of the frontier found, ascending."""
    throughput, proxy = np.asarray(throughput, dtype=float), np.asarray(proxy, dtype=float)
    if throughput.shape != proxy.shape or throughput.ndim != 1:
        raise ValueError(f"throughput, proxy: got shapes {throughput.shape} and {proxy.shape}, expected two "
                         "equal-length vectors")
    if not callable(accuracy):
        raise ValueError(f"accuracy: got {type(accuracy).__name__}, expected a callable index -> accuracy")
    candidates = pareto_front(np.c_[throughput, proxy], ("max", "max"))
    if len(candidates) == 1:
        return candidates
    scores = np.array([accuracy(int(i)) for i in candidates], dtype=float)
    return candidates[pareto_mask(np.c_[throughput[candidates], scores], ("max", "max"))]
