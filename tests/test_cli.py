import json

import pytest

from gpuefficient.cli import main


def test_costs_json(capsys):
    assert main(["costs", "resnet18", "--resolution", "64", "--batch", "2", "--dtype", "fp16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"model", "input_shape", "dtype", "flops", "macs", "params", "bytes", "intensity", "layers"} <= set(data)
    assert data["input_shape"] == [2, 3, 64, 64] and data["dtype"] == "float16"
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

    from gpuefficient.models import create_model

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
