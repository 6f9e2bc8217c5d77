"""The utilization study's survey (Appendix Tables 1-2) against the paper text, and what it implies."""
import re
from pathlib import Path

import numpy as np
import pytest

from gpuefficient.papers import (UTILIZATION_SURVEY, V100_FP16_ACHIEVABLE_TFLOPS, V100_FP16_CMR,
                                 utilization_survey_rows)

PAPER = Path(__file__).resolve().parents[2] / "shared" / "papers" / "003_0c8c3c0402f86927.txt"
needs_text = pytest.mark.skipif(not PAPER.exists(), reason="the papers' text (../shared/papers) is not beside this checkout")


def paper_rows():
    cell = r"<td>(.*?)</td>"
    return re.findall(r"<tr>" + cell * 7 + r"</tr>", PAPER.read_text())


@needs_text
def test_every_survey_row_matches_the_paper_text():
    rows = paper_rows()
    assert len(rows) == len(UTILIZATION_SURVEY) == 93
    for ours, theirs in zip(UTILIZATION_SURVEY, rows):
        name, top1, throughput, tflops, *flags = theirs
        assert ours[0] == name
        assert ours[1:4] == (float(top1), float(throughput), float(tflops)), name
        assert list(ours[4:]) == [flag == "X" for flag in flags], name
        assert set(flags) <= {"X", "-"}, name


@needs_text
def test_the_peak_and_cmr_are_the_papers():
    text = PAPER.read_text()
    assert f"V100 to achieve {V100_FP16_ACHIEVABLE_TFLOPS} TFLOPs/sec. in FP16" in text
    assert f"CMR of the V100 GPU ({V100_FP16_CMR})" in text


@pytest.mark.parametrize("objectives, flag", [
    (("throughput", "top1"), "on_tput_acc_frontier"),
    (("tflops", "top1"), "on_tflops_acc_frontier"),
    (("throughput", "tflops"), "on_tput_tflops_frontier"),
])
def test_our_pareto_frontier_reproduces_the_papers_marks(objectives, flag):
    from gpuefficient.analysis.pareto import pareto_mask

    rows = utilization_survey_rows()
    points = np.array([[row[key] for key in objectives] for row in rows])
    marked = [row[flag] for row in rows]
    assert pareto_mask(points, ["max", "max"]).tolist() == marked
    assert 1 <= sum(marked) < len(rows)


def test_utilization_is_tflops_over_the_achievable_peak():
    rows = {row["model"]: row for row in utilization_survey_rows()}
    assert rows["tresnet_m"]["utilization"] == pytest.approx(0.9686)
    assert all(0 < row["utilization"] < 1 for row in rows.values())


@pytest.mark.parametrize("model", ["resnet18", "resnet50"])
def test_the_survey_counts_two_flops_per_multiply_add(model):
    """TFLOP/s / throughput is the FLOPs per image; it matches 2 x our cost model's MACs, not 1 x."""
    import timm
    import torch

    from gpuefficient.analysis.costs import analyze

    row = next(r for r in utilization_survey_rows() if r["model"] == model)
    paper_flops = row["tflops"] * 1e12 / row["throughput"]
    with torch.device("meta"):
        net = timm.create_model(model)
    macs = analyze(net, (1, 3, 224, 224)).macs
    assert paper_flops / (2 * macs) == pytest.approx(1.0, abs=0.02)
