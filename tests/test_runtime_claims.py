import pytest
import torch

from gpuefficient.book.claims import Claim, claims_table, verdict
from gpuefficient.book.runtime import setup


def test_setup_picks_quick_on_cpu_and_seeds(capsys):
    rt = setup("cpu", None, seed=3)
    a = torch.rand(2)
    assert rt.quick and not rt.is_cuda and rt.pick(1, 2) == 1
    torch.manual_seed(3)
    assert torch.equal(a, torch.rand(2))
    assert "running on the CPU" in capsys.readouterr().out
    assert not setup("cpu", False).quick


def test_setup_rejects_bad_quick():
    with pytest.raises(ValueError, match="quick: got 'yes'"):
        setup("cpu", "yes")


def test_claims_table_and_verdicts():
    table = claims_table([Claim("c", "paper, Table 3", "1", "2 (analytic)", verdict(2 > 1))])
    assert list(table.columns) == ["Claim", "Source", "Paper", "Ours", "Verdict"]
    assert table.iloc[0]["Verdict"] == "holds" and verdict(False) == "does not hold"
    with pytest.raises(ValueError, match="verdict: got 'maybe'"):
        Claim("c", "s", "1", "2", "maybe")
