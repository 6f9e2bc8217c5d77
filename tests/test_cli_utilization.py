"""The `utilization` command: argument errors in one line, and a real (tiny) run as strict JSON."""
import json

import pytest

from gpuefficient.cli import main


@pytest.mark.parametrize("argv, message", [
    (["utilization", "resnet18", "--batch", "0"], "--batch: got 0, expected an integer >= 1"),
    (["utilization", "resnet18", "--batch", "many"], "--batch: got 'many', expected an integer >= 1"),
    (["utilization", "resnet18", "--reference", "datasheet"], "--reference: invalid choice: 'datasheet'"),
    (["utilization", "genet_light", "--resolution", "30"], "resolution")])
def test_bad_arguments_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_small_run_prints_strict_json(capsys):
    assert main(["utilization", "resnet18", "--device", "cpu", "--batch", "2", "--resolution", "32",
                 "--reference", "catalog", "--warmup", "1", "--repeats", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["batch"] == 2 and out["reference"] == "catalog" and out["max_batch"] is None
    assert out["utilization"] == pytest.approx(out["throughput"] * out["flops_per_image"] / out["peak_flops"])
    assert out["bound"] in ("memory", "compute") and out["median_s"] > 0
