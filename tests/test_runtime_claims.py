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


def test_run_time_line_states_this_build_and_the_saved_gpu_run(tmp_path):
    from dataclasses import replace

    from gpuefficient.book.claims import judge, Criterion, save_claims
    from gpuefficient.book.runtime import run_time_line

    rt = setup("cpu", None)
    rt = replace(rt, started=rt.started - 150)  # as if setup() ran 150 s ago
    line = run_time_line(rt, "demo", tmp_path)
    assert line.startswith("This build ran the chapter in 2.5 min (quick mode, CPU: ")
    assert "no reference run saved" in line
    claim = judge("c", source="s", paper="p", criterion=Criterion("x", ">", 0), values=1, basis="computed")
    save_claims([claim], "demo", tmp_path, "cpu", settings=rt.run_settings())
    assert "no reference run saved" in run_time_line(rt, "demo", tmp_path)  # a quick CPU run is not it
    save_claims([claim], "demo", tmp_path, "cpu", settings={**rt.run_settings(), "quick": False})
    assert "no reference run saved" in run_time_line(rt, "demo", tmp_path)  # nor a full CPU run
    gpu = {"run_seconds": 420.0, "quick": False, "device_type": "cuda"}
    save_claims([claim], "demo", tmp_path, "cpu", settings=gpu)
    assert "Full mode on a GPU took 7.0 min (" in run_time_line(rt, "demo", tmp_path)
