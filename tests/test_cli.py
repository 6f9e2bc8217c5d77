import json

import pytest

from gpuefficient.cli import main


def test_costs_json(capsys):
    assert main(["costs", "resnet18", "--resolution", "64", "--batch", "2", "--dtype", "fp16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"model", "input_shape", "dtype", "flops", "macs", "params", "bytes", "intensity", "layers"} <= set(data)
    assert data["input_shape"] == [2, 3, 64, 64] and data["dtype"] == "fp16"
    assert data["macs"] * 2 == data["flops"] and data["params"] == 11_689_512
    assert data["layers"][0]["name"] == "conv1" and data["layers"][0]["kind"] == "conv"


def test_costs_table(capsys):
    assert main(["costs", "resnet18", "--resolution", "32"]) == 0
    out = capsys.readouterr().out
    assert "GMACs" in out and "conv" in out and "bytes %" in out


def test_hardware_json(capsys):
    assert main(["hardware", "--json", "--device", "cpu"]) == 0
    data = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    names = [row["name"] for row in data["catalog"]]
    assert "H100 SXM" in names and data["detected"] == "generic CPU" and data["measured"] is None


def test_bad_model_and_dtype(capsys):
    assert main(["costs", "resnet5"]) == 2
    assert "model: got 'resnet5'" in capsys.readouterr().err
    assert main(["costs", "resnet18", "--dtype", "int4"]) == 2
    assert "dtype: got 'int4'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["costs", "resnet18", "--batch", "0"])
    assert "got 0, expected a positive integer" in capsys.readouterr().err


def test_rank_json_and_checkpoint(capsys, tmp_path):
    import torch

    from gpuefficient.arch.models import create_model

    model = create_model("resnet18")
    torch.nn.init.zeros_(model.layer4[1].conv2.weight[256:])  # half the filters: rank <= 256
    torch.save(model.state_dict(), tmp_path / "r18.pt")
    assert main(["rank", "resnet18", "--resolution", "64", "--weights", str(tmp_path / "r18.pt"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["weights"].startswith("checkpoint") and len(data["stages"]) == 4
    assert data["stages"][3]["rank99"] <= 256 < data["stages"][2]["max_rank"] + 1
    assert main(["rank", "resnet18", "--weights", str(tmp_path / "missing.pt")]) == 2
    assert "expected an existing checkpoint file" in capsys.readouterr().err


def test_zoo_list_show_and_zoo_names_in_costs(capsys):
    assert main(["zoo", "list"]) == 0
    assert "genet_normal" in capsys.readouterr().out
    assert main(["zoo", "show", "genet_light", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 8_173_761 and data["paper"]["params"] == 8.17e6 and data["resolution"] == 192
    assert main(["costs", "genet_light", "--resolution", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 8_173_761
    assert main(["zoo", "show"]) == 2
    assert "expected a NAME" in capsys.readouterr().err


def test_latency_json_and_bad_backend(capsys):
    assert main(["latency", "resnet18", "--resolution", "32", "--device", "cpu", "--warmup", "1", "--repeats", "3",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["repeats"] == 3 and len(data["times_s"]) == 3 and data["backend"] == "eager"
    assert data["throughput_per_s"] == pytest.approx(1e3 / data["median_ms"])
    assert data["max_rel_error_vs_eager"] == 0.0
    assert main(["latency", "resnet18", "--backend", "tvm", "--device", "cpu"]) == 2
    assert "backend: got 'tvm'" in capsys.readouterr().err
    assert main(["latency", "resnet18", "--backend", "cudagraph", "--device", "cpu"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_lut_build_then_predict_hits_the_table(capsys, tmp_path):
    table = str(tmp_path / "t.sqlite")
    common = ["--table", table, "--resolution", "32", "--device", "cpu", "--warmup", "1", "--repeats", "3"]
    assert main(["lut", "build", "genet_light", *common, "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["models"]["genet_light"]["measured_layer"] > 0 and built["entries"] > 0
    assert main(["lut", "predict", "genet_light", *common, "--measure", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["entries"] == built["entries"]  # everything was in the table already
    info = data["models"]["genet_light"]
    assert info["predicted_block_ms"] == pytest.approx(sum(u["latency_ms"] for u in info["units_block"]))
    assert info["measured_ms"] > 0 and "error_layer_pct" in info
    assert main(["lut", "predict", "genet_light", "resnet18", *common]) == 2
    assert "expected exactly one" in capsys.readouterr().err
    (tmp_path / "bad.sqlite").write_text("not a database")
    assert main(["lut", "predict", "genet_light", "--table", str(tmp_path / "bad.sqlite"), "--device", "cpu"]) == 2
    assert "corrupt or not an SQLite file" in capsys.readouterr().err


def test_scale_json_table_and_bad_coefficient(capsys):
    assert main(["scale", "efficientnet_x_b0_gpu", "--alpha", "1.29", "--beta", "1.16", "--gamma", "1.07",
                 "--phi", "0.326", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["resolution"] == 229 and data["depth"] == 23  # ceil(1.087 x repeats) per stage
    # X-B0's 7.58 M grow to 12.7 M: wider and deeper, and B0's SE width (the release narrows it for B1)
    assert 7.6e6 < data["params"] < 13e6 and data["multipliers"]["width"] == pytest.approx(1.05, abs=0.01)
    assert main(["scale", "efficientnet_b0", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15", "--phi", "1"]) == 0
    out = capsys.readouterr().out
    assert "@256" in out and "GMACs" in out and "fused_mbconv" not in out
    assert main(["scale", "efficientnet_b0", "--alpha", "0.9", "--beta", "1.1", "--gamma", "1.1", "--phi", "1"]) == 2
    assert "alpha: got 0.9" in capsys.readouterr().err
