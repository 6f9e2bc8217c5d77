"""The command line, on zoo networks at resolution 32 (a zoo name never imports timm: seconds saved).

Every ``--json`` command runs once, in the module fixture ``outputs``; the tests read its results.
"""
import argparse
import contextlib
import io
import json
import subprocess
import sys
import time

import pytest

from gpuefficient import cli
from gpuefficient.cli import build_parser, main

SMALL = ["--resolution", "32", "--device", "cpu", "--warmup", "1", "--repeats", "2"]


def _json_commands(table: str) -> dict[str, list[str]]:
    """One small run of every command that takes --json (dtypes spelled as aliases where there is a --dtype)."""
    lut = ["--table", table, "--granularity", "block", *SMALL, "--dtype", "float32"]
    return {
        "costs": ["costs", "genet_light", "--resolution", "32", "--batch", "2", "--dtype", "half"],
        "latency": ["latency", "genet_light", *SMALL, "--dtype", "float32"],
        "lut build": ["lut", "build", "genet_light", *lut],
        "lut predict": ["lut", "predict", "genet_light", *lut, "--measure"],  # after build: all units known
        "rank": ["rank", "genet_light", "--resolution", "32"],
        "zoo list": ["zoo", "list"],
        "zoo show": ["zoo", "show", "genet_light"],
        "scale": ["scale", "efficientnet_x_b0_gpu", "--alpha", "1.29", "--beta", "1.16", "--gamma", "1.07",
                  "--phi", "0.326"],
        "hardware": ["hardware", "--device", "cpu"],
        "utilization": ["utilization", "genet_light", "--device", "cpu", "--batch", "2", "--resolution", "32",
                        "--reference", "catalog", "--dtype", "float32", "--warmup", "1", "--repeats", "3"],
    }


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small convolutions on one thread: on a busy machine, a second thread waiting for its turn makes
    each conv of a 32 x 32 input tens of times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, one_thread):
    """command -> (exit status, stdout) of each ``_json_commands`` run with --json."""
    table = str(tmp_path_factory.mktemp("lut") / "t.sqlite")
    results = {}
    for key, argv in _json_commands(table).items():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main([*argv, "--json"])
        results[key] = status, out.getvalue()
    return results


def _strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))


def _load(outputs, key):
    status, text = outputs[key]
    assert status == 0 and text.count("\n") == 1, text[-500:]
    return _strict(text)


def _dtype_spellings(value, where="") -> list[str]:
    """Places in a JSON document that spell a dtype any other way than its canonical name."""
    from gpuefficient.dtypes import CANONICAL

    aliases = {"float", "float32", "float16", "half", "bfloat16", "float8", "float8_e4m3fn", "float8_e5m2"}
    odd = lambda s: s.lower() in aliases or s.startswith("torch.")  # noqa: E731
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if odd(k):
                found.append(f"{where}/{k} (key)")
            if k.endswith("dtype") and isinstance(v, str) and v and v not in CANONICAL:
                found.append(f"{where}/{k} = {v!r}")
            found += _dtype_spellings(v, f"{where}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _dtype_spellings(v, f"{where}/{i}")
    elif isinstance(value, str) and odd(value):
        found.append(f"{where} = {value!r}")
    return found


def test_every_command_with_json_is_run():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    with_json = {name for name, p in sub.choices.items() if any("--json" in a.option_strings for a in p._actions)}
    assert with_json == {key.split()[0] for key in _json_commands("t.sqlite")}


@pytest.mark.parametrize("key", list(_json_commands("t.sqlite")))
def test_json_is_one_strict_document_with_canonical_dtypes(outputs, key):
    assert _dtype_spellings(_load(outputs, key)) == []


def test_cli_imports_nothing_heavy():
    code = "import sys, gpuefficient.cli; print(sorted({'torch', 'timm', 'pandas', 'numpy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_costs_json_and_table(outputs, capsys):
    data = _load(outputs, "costs")
    assert {"model", "input_shape", "dtype", "flops", "macs", "params", "bytes", "intensity", "layers"} <= set(data)
    assert data["input_shape"] == [2, 3, 32, 32] and data["dtype"] == "fp16"  # asked as "half"
    assert data["macs"] * 2 == data["flops"] and data["params"] == 8_173_761
    assert data["layers"][0]["name"] == "stem.conv" and data["layers"][0]["kind"] == "conv"
    assert main(["costs", "genet_light", "--resolution", "32"]) == 0
    out = capsys.readouterr().out
    assert "GMACs" in out and "conv" in out and "bytes %" in out


def test_hardware_json(outputs):
    data = _load(outputs, "hardware")
    names = [row["name"] for row in data["catalog"]]
    assert "H100 SXM" in names and data["detected"] == "generic CPU" and data["measured"] is None
    assert data["catalog"][0]["tf32_tflops"] is None  # V100: no TF32; NaN in the catalog, null here


@pytest.mark.parametrize("argv, message", [
    (["costs", "genet_light", "--dtype", "int4"], "--dtype: got 'int4', expected one of ['fp32', 'fp16', 'bf16']"),
    (["latency", "genet_light", "--dtype", "fp8"], "--dtype: got 'fp8'"),
    (["lut", "build", "genet_light", "--dtype", "float64"], "--dtype: got 'float64'"),
    (["latency", "genet_light", "--backend", "tvm"], "--backend: got 'tvm'"),
    (["lut", "predict", "genet_light", "--backend", "compiled"], "(did you mean 'compile'?)"),
    (["latency", "genet_light", "--device", "gpu"], "--device: got 'gpu'"),
    (["hardware", "--device", "tpu:0"], "--device: got 'tpu:0'"),
    (["costs", "genet_light", "--batch", "0"], "--batch: got 0, expected an integer >= 1"),
])
def test_bad_values_fail_fast_in_one_line(monkeypatch, capsys, argv, message):
    import gpuefficient.device  # noqa: F401 - imports done, so the time below is the checks' own
    import gpuefficient.measure.backends  # noqa: F401

    def built(*_, **__):
        raise AssertionError("a model was built before the arguments were checked")

    monkeypatch.setattr(cli, "_model", built)
    start = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - start < 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_rank_json_and_checkpoint(outputs, capsys, tmp_path):
    import torch

    from gpuefficient.arch import zoo
    from gpuefficient.arch.builder import build

    random = _load(outputs, "rank")
    assert random["weights"] == "random initialisation" and len(random["stages"]) == 4
    layer = random["stages"][2]["layer"]  # a plain 96 x 96 x 3 x 3 conv
    model = build(zoo.get("genet_light").spec)
    torch.nn.init.zeros_(model.get_submodule(layer).weight[48:])  # half the filters: rank <= 48
    torch.save(model.state_dict(), tmp_path / "light.pt")
    assert main(["rank", "genet_light", "--resolution", "32", "--weights", str(tmp_path / "light.pt"), "--json"]) == 0
    data = _strict(capsys.readouterr().out)
    assert data["weights"].startswith("checkpoint") and data["stages"][2]["layer"] == layer
    assert data["stages"][2]["rank99"] <= 48 < data["stages"][2]["max_rank"]
    assert main(["rank", "genet_light", "--weights", str(tmp_path / "missing.pt")]) == 2
    assert "expected an existing checkpoint file" in capsys.readouterr().err


def test_zoo_list_and_show(outputs, capsys):
    entries = _load(outputs, "zoo list")
    assert isinstance(entries, list) and {"genet_normal", "gpunet_0"} <= {e["name"] for e in entries}
    assert all(set(e) == {"name", "source", "resolution"} for e in entries)
    assert main(["zoo", "list"]) == 0
    assert "genet_normal" in capsys.readouterr().out
    data = _load(outputs, "zoo show")
    assert data["params"] == 8_173_761 and data["paper"]["params"] == 8.17e6 and data["resolution"] == 192
    assert main(["zoo", "show"]) == 2
    assert "expected a NAME" in capsys.readouterr().err


def test_latency_json_and_unavailable_backend(outputs, capsys):
    data = _load(outputs, "latency")
    assert data["repeats"] == 2 and len(data["times_s"]) == 2 and data["backend"] == "eager"
    assert data["dtype"] == "fp32"  # asked as "float32"
    assert data["throughput_per_s"] == pytest.approx(1e3 / data["median_ms"])
    assert data["max_rel_error_vs_eager"] == 0.0
    assert main(["latency", "genet_light", "--backend", "cudagraph", "--device", "cpu"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_lut_build_then_predict_hits_the_table(outputs, capsys, tmp_path):
    built = _load(outputs, "lut build")
    assert built["dtype"] == built["context"]["dtype"] == "fp32"  # asked as "float32"
    assert built["models"]["genet_light"]["measured_block"] > 0 and built["entries"] > 0
    data = _load(outputs, "lut predict")
    assert data["entries"] == built["entries"]  # everything was in the table already
    info = data["models"]["genet_light"]
    assert info["predicted_block_ms"] == pytest.approx(sum(u["latency_ms"] for u in info["units_block"]))
    assert info["measured_ms"] > 0 and "error_block_pct" in info and "units_layer" not in info
    assert main(["lut", "predict", "genet_light", "resnet18", "--device", "cpu"]) == 2
    assert "expected exactly one" in capsys.readouterr().err
    (tmp_path / "bad.sqlite").write_text("not a database")
    assert main(["lut", "predict", "genet_light", "--table", str(tmp_path / "bad.sqlite"), "--device", "cpu"]) == 2
    assert "corrupt or not an SQLite file" in capsys.readouterr().err


def test_scale_json_table_and_bad_coefficient(outputs, capsys):
    data = _load(outputs, "scale")
    assert data["resolution"] == 229 and data["depth"] == 23  # ceil(1.087 x repeats) per stage
    # X-B0's 7.58 M grow to 12.7 M: wider and deeper, and B0's SE width (the release narrows it for B1)
    assert 7.6e6 < data["params"] < 13e6 and data["multipliers"]["width"] == pytest.approx(1.05, abs=0.01)
    assert main(["scale", "efficientnet_b0", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15", "--phi", "1"]) == 0
    out = capsys.readouterr().out
    assert "@256" in out and "GMACs" in out and "fused_mbconv" not in out
    assert main(["scale", "efficientnet_b0", "--alpha", "0.9", "--beta", "1.1", "--gamma", "1.1", "--phi", "1"]) == 2
    assert "alpha: got 0.9" in capsys.readouterr().err


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "latency" in capsys.readouterr().out


def _run_into(stdout, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "gpuefficient", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=60)


@pytest.mark.slow  # a subprocess that imports torch (~5 s); argparse swallows write errors of --help itself
def test_a_closed_pipe_ends_quietly_with_the_sigpipe_status():
    """`... | head -1` after the reader has gone: no traceback, status 128 + SIGPIPE, like a killed writer."""
    import os
    import signal

    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is written: every write fails
    try:
        result = _run_into(write, "zoo", "list")
    finally:
        os.close(write)
    assert result.returncode == 128 + signal.SIGPIPE and result.stderr == ""


@pytest.mark.slow
def test_a_full_disk_is_one_line():
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        result = _run_into(full, "zoo", "list")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: cannot write the output (No space left on device)"


@pytest.mark.parametrize("args", [["--help"], ["zoo", "list"], ["hardware", "--json"], ["costs", "x", "--dtype", "int4"],
                                  ["latency", "x", "--backend", "trt"], ["latency", "x", "--device", "gpu"]])
def test_answers_without_importing_torch(args):
    """--help, zoo list, the device catalog and argument errors answer at once: torch (seconds and ~0.8 GB
    to import) is never loaded for them."""
    import subprocess
    import sys

    code = ("import sys, contextlib, io\nfrom gpuefficient.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"    main({args!r})\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


@pytest.mark.parametrize("args", [["costs", "genet_normal", "--resolution", "225"],
                                  ["costs", "genet_normal", "--resolution", "16"],
                                  ["latency", "genet_normal", "--resolution", "33"],
                                  ["rank", "genet_normal", "--resolution", "33"],
                                  ["lut", "build", "genet_light", "--resolution", "33"]])
def test_zoo_networks_refuse_a_size_their_spec_refuses_before_building(args, capsys, tmp_path):
    assert main([*args, "--table", str(tmp_path / "t.sqlite")] if args[0] == "lut" else args) == 2
    err = capsys.readouterr().err
    assert "takes multiples of 32 (its total stride)" in err and err.count("\n") == 1
    assert not (tmp_path / "t.sqlite").exists()  # refused before the table was even opened
