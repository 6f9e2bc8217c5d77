import pytest
import torch

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
