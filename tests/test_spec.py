import pytest

from gpuefficient.builder import build
from gpuefficient.spec import HeadSpec, NetworkSpec, SpecError, StageSpec, StemSpec


def tiny(**stage_changes) -> dict:
    stages = [
        {"block": "xx", "depth": 1, "out_channels": 16, "stride": 2},
        {"block": "mbconv", "depth": 2, "out_channels": 24, "stride": 2, "expansion": 4, "se_ratio": 0.25},
    ]
    stages[1].update(stage_changes)
    return {"name": "tiny", "stem": {"out_channels": 8}, "stages": stages, "head": {"channels": 32, "num_classes": 5},
            "resolution": 64, "source": "test"}


def test_from_dict_to_dict_and_yaml_round_trip(tmp_path):
    spec = NetworkSpec.from_dict(tiny())
    assert isinstance(spec.stages[1], StageSpec) and spec.stages[1].expansion == 4
    assert NetworkSpec.from_dict(spec.to_dict()) == spec
    assert NetworkSpec.from_yaml(spec.to_yaml()) == spec
    path = tmp_path / "tiny.yaml"
    path.write_text(spec.to_yaml())
    assert NetworkSpec.from_yaml(path) == NetworkSpec.from_yaml(str(path)) == spec
    assert spec.total_stride == 8


def test_replace_stage_revalidates():
    spec = NetworkSpec.from_dict(tiny())
    fused = spec.replace_stage(1, block="fused_mbconv")
    assert fused.stages[1].block == "fused_mbconv" and spec.stages[1].block == "mbconv"
    with pytest.raises(SpecError, match="expansion: got 0"):
        spec.replace_stage(1, expansion=0)


@pytest.mark.parametrize("changes, path, text", [
    ({"expansion": -1.0}, "stages[1].expansion", "got -1.0, expected a number > 0 (mbconv expansion is relative "
                                                 "to the block's input channels)"),
    ({"block": "mbconvv"}, "stages[1].block", "did you mean 'mbconv'?"),
    ({"activation": "swiss"}, "stages[1].activation", "got 'swiss', expected one of"),
    ({"depth": 0}, "stages[1].depth", "got 0, expected an integer >= 1"),
    ({"depth": 2.0}, "stages[1].depth", "got 2.0, expected an integer"),
    ({"depth": True}, "stages[1].depth", "got True"),
    ({"stride": 3}, "stages[1].stride", "got 3, expected one of [1, 2]"),
    ({"kernel": 4}, "stages[1].kernel", "expected an odd kernel size"),
    ({"exapnsion": 6}, "stages[1].exapnsion", "did you mean 'expansion'?"),
    ({"block": "xx", "se_ratio": 0.0}, "stages[1].expansion", "expected 1.0: xx blocks have no expansion"),
    ({"block": "xx", "expansion": 1.0, "se_ratio": 0.25}, "stages[1].se_ratio", "only supported in"),
    ({"block": "space_to_depth", "expansion": 1.0, "se_ratio": 0, "kernel": 3}, "stages[1].kernel",
     "expected kernel == stride (2) for space_to_depth"),
])
def test_bad_stage_errors_name_path_value_and_expectation(changes, path, text):
    with pytest.raises(SpecError) as err:
        NetworkSpec.from_dict(tiny(**changes))
    assert str(err.value).startswith(f"{path}: ") and text in str(err.value)
    assert err.value.path == path


@pytest.mark.parametrize("data, text", [
    ({**tiny(), "stem": {"out_channels": 8, "stride": 3}}, "stem.stride: got 3"),
    ({**tiny(), "head": {"dropout": 1.0}}, "head.dropout: got 1.0, expected a probability"),
    ({**tiny(), "resolution": 60}, "resolution: got 60, expected a multiple of the network's total stride 8"),
    ({**tiny(), "stages": []}, "stages: got [], expected a non-empty list"),
    ({**tiny(), "stages": ["xx"]}, "stages[0]: got str 'xx', expected a mapping of StageSpec fields"),
    ({k: v for k, v in tiny().items() if k != "stem"}, "missing required field(s) ['stem']"),
    ({**tiny(), "stages": [{"block": "xx", "out_channels": 8}]}, "stages[0]: missing required field(s) ['depth']"),
])
def test_bad_network_errors(data, text):
    with pytest.raises(SpecError, match=None) as err:
        NetworkSpec.from_dict(data)
    assert text in str(err.value)


def test_standalone_specs_validate_and_space_to_depth_ok():
    assert StageSpec("space_to_depth", 1, 128, stride=2, kernel=2).kernel == 2
    assert StageSpec("dw", 2, 64, expansion=3).expansion == 3
    assert StemSpec(32).stride == 2 and HeadSpec(None).channels is None
    with pytest.raises(SpecError, match="^out_channels: got 0"):
        StemSpec(0)


def test_build_from_dict():
    model = build(tiny())
    assert model.spec.name == "tiny" and len(model.stages) == 2 and len(model.stages[1]) == 2
    with pytest.raises(TypeError, match="expected a NetworkSpec or a dict"):
        build("tiny")
