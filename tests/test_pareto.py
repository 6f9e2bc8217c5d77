import time

import numpy as np
import pytest

from gpuefficient.analysis.pareto import dominates, pareto_front, pareto_mask


def brute_force(points, directions):
    """Every pair compared: the definition, written independently of the module."""
    pts = np.asarray(points, dtype=float) * np.array([1.0 if d == "max" else -1.0 for d in directions])
    return [i for i, q in enumerate(pts) if not np.any(np.all(pts >= q, axis=1) & np.any(pts > q, axis=1))]


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_ties_and_duplicates(k, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    # few distinct values per objective: many ties in one objective and exact duplicates
    points = rng.integers(0, 6 if seed % 2 else 40, size=(n, k)).astype(float)
    points[n // 2:n // 2 + 3] = points[0]  # exact duplicates of one point
    directions = [("max", "min")[(seed + j) % 2] for j in range(k)]
    assert pareto_front(points, directions).tolist() == brute_force(points, directions)


def test_continuous_points_and_more_than_one_chunk():
    rng = np.random.default_rng(7)
    points = rng.normal(size=(600, 3))
    points[:, 2] = -points[:, 0] + 0.1 * points[:, 2]  # anti-correlated: a large frontier
    assert pareto_front(points, ["max", "max", "max"]).tolist() == brute_force(points, ["max"] * 3)


def test_equal_points_are_all_kept_and_dominated_ones_dropped():
    points = [[1, 5], [1, 5], [0, 5], [2, 1], [2, 1], [2, 0]]
    assert pareto_front(points, ["max", "max"]).tolist() == [0, 1, 3, 4]
    assert pareto_front(points, ["min", "min"]).tolist() == [2, 5]
    assert pareto_mask(points, ["max", "min"]).tolist() == [False, False, False, False, False, True]
    assert dominates([2, 1], [2, 0], ["max", "max"]) and not dominates([2, 1], [2, 1], ["max", "max"])


def test_32768_points_in_two_objectives_is_fast():
    rng = np.random.default_rng(0)
    points = rng.random((32768, 2))
    start = time.perf_counter()
    front = pareto_front(points, ["max", "min"])
    assert time.perf_counter() - start < 1.0
    x, y = points[front, 0], points[front, 1]
    order = np.argsort(-x)
    assert np.all(np.diff(y[order]) < 0)  # along a max-min frontier, less x means less y
    # nothing outside the frontier beats it: each other point has a frontier point no worse in both
    others = np.setdiff1d(np.arange(len(points)), front)[:500]
    for i in others:
        assert np.any((x >= points[i, 0]) & (y <= points[i, 1]))


@pytest.mark.parametrize("points, directions, match", [
    (np.empty((0, 2)), ["max", "max"], "empty"),
    ([[3.0, 4.0]], ["max", "max"], r"one point \[3.0, 4.0\].*at least 2 points"),
    ([[1, 2], [3, 4]], ["max"], r"shape \(2, 2\)"),
    ([[1, 2], [3, 4]], ["max", "up"], "'up'"),
    ([[1, 2], [3, 4]], "max", "directions"),
    ([[1, float("nan")], [3, 4]], ["max", "max"], "row 0"),
])
def test_errors_name_the_bad_value(points, directions, match):
    with pytest.raises(ValueError, match=match):
        pareto_front(points, directions)


def grid_hypervolume(points, directions, reference, cells=400):
    """The dominated area counted on a fine grid: the definition, written independently of the module."""
    pts = np.asarray(points, dtype=float) * np.array([1.0 if d == "max" else -1.0 for d in directions])
    ref = np.asarray(reference, dtype=float) * np.array([1.0 if d == "max" else -1.0 for d in directions])
    top = pts.max(axis=0)
    xs = ref[0] + (np.arange(cells) + 0.5) * (top[0] - ref[0]) / cells
    ys = ref[1] + (np.arange(cells) + 0.5) * (top[1] - ref[1]) / cells
    gx, gy = np.meshgrid(xs, ys)
    covered = np.zeros_like(gx, dtype=bool)
    for a, b in pts:
        covered |= (gx <= a) & (gy <= b)
    return covered.mean() * (top[0] - ref[0]) * (top[1] - ref[1])


@pytest.mark.parametrize("directions", [("max", "max"), ("max", "min"), ("min", "min")])
@pytest.mark.parametrize("seed", range(3))
def test_hypervolume_matches_a_grid_count(directions, seed):
    from gpuefficient.analysis.pareto import hypervolume_2d

    rng = np.random.default_rng(seed)
    points = rng.integers(1, 9, size=(12, 2)).astype(float)  # ties and duplicates included
    reference = [0.0 if d == "max" else 10.0 for d in directions]
    assert hypervolume_2d(points, directions, reference) == pytest.approx(
        grid_hypervolume(points, directions, reference), rel=0.02)


def test_hypervolume_by_hand_and_errors():
    from gpuefficient.analysis.pareto import hypervolume_2d

    # (3, 1) and (1, 2) against (0, 0): 3 x 1 + 1 x (2 - 1) = 4; (1, 1) is dominated and adds nothing
    assert hypervolume_2d([[3, 1], [1, 2], [1, 1]], ("max", "max"), (0, 0)) == 4.0
    assert hypervolume_2d([[2, 2]], ("max", "max"), (0, 0)) == 4.0
    with pytest.raises(ValueError, match="strictly worse"):
        hypervolume_2d([[3, 1], [1, 2]], ("max", "max"), (1, 0))
    with pytest.raises(ValueError, match="two of each"):
        hypervolume_2d([[3, 1], [1, 2]], ("max", "max", "max"), (0, 0))


def test_approximate_filtering_evaluates_accuracy_only_on_the_proxy_frontier():
    from gpuefficient.analysis.pareto import approximate_frontier

    throughput = np.array([10.0, 9.0, 8.0, 7.0, 1.0])
    proxy = np.array([1.0, 2.0, 1.5, 3.0, 0.5])  # proxy frontier: 0, 1, 3 (2 and 4 dominated)
    accuracy = {0: 0.5, 1: 0.4, 3: 0.7}
    asked = []
    found = approximate_frontier(throughput, proxy, lambda i: asked.append(i) or accuracy[i])
    assert sorted(asked) == [0, 1, 3]          # never trained a network off the proxy frontier
    assert list(found) == [0, 3]               # 1 is slower and less accurate than 0
    with pytest.raises(ValueError, match="equal-length"):
        approximate_frontier(throughput, proxy[:3], accuracy.get)
