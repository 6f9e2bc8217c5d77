import dataclasses

import torch

import pytest

from gpuefficient.arch.builder import build
from gpuefficient.arch.spec import HeadSpec, NetworkSpec, SpecError, StageSpec, StemSpec


def tiny(**stage_changes) -> dict:
    stages = [
        {"block": "xx", "depth": 1, "out_channels": 16, "stride": 2},
        {"block": "mbconv", "depth": 2, "out_channels": 24, "stride": 2, "expansion": 4, "se_ratio": 0.25},
    ]
    stages[1].update(stage_changes)
    return {"name": "tiny", "stem": {"out_channels": 8}, "stages": stages, "head": {"channels": 32, "num_classes": 5},
            "resolution": 64, "source": "test"}


def test_shared_tiny_spec_round_trips(tiny_spec):
    assert NetworkSpec.from_dict(tiny_spec.to_dict()) == tiny_spec == NetworkSpec.from_yaml(tiny_spec.to_yaml())
    assert tiny_spec.total_stride == 4 and tiny_spec.resolution % tiny_spec.resolution_step == 0


def test_integer_fields_take_numpy_integers_and_store_ints():
    import numpy as np

    stage = StageSpec("mbconv", np.int64(2), np.int32(24), stride=np.int64(2), kernel=np.int64(5), expansion=4.0)
    assert (stage.depth, stage.out_channels, stage.stride, stage.kernel) == (2, 24, 2, 5)
    assert all(type(v) is int for v in (stage.depth, stage.out_channels, stage.stride, stage.kernel))
    spec = NetworkSpec("n", StemSpec(np.int64(8)), (stage,), resolution=np.int64(64))
    assert type(spec.resolution) is int and type(spec.stem.out_channels) is int
    assert NetworkSpec.from_yaml(spec.to_yaml()) == spec  # plain ints: YAML and JSON can write them


def test_from_dict_to_dict_and_yaml_round_trip(tmp_path):
    spec = NetworkSpec.from_dict(tiny())
    assert isinstance(spec.stages[1], StageSpec) and spec.stages[1].expansion == 4
    assert isinstance(spec.stem, StemSpec) and isinstance(spec.head, HeadSpec) and isinstance(spec.stages, tuple)
    assert NetworkSpec.from_dict(spec.to_dict()) == spec
    assert NetworkSpec.from_yaml(spec.to_yaml()) == spec
    path = tmp_path / "tiny.yaml"
    path.write_text(spec.to_yaml())
    assert NetworkSpec.from_yaml(path) == NetworkSpec.from_yaml(str(path)) == spec
    data = spec.to_dict()  # plain containers, defaults filled in
    assert isinstance(data["stem"], dict) and isinstance(data["stages"], list) and data["stem"]["kernel"] == 3


def test_total_stride():
    assert NetworkSpec.from_dict(tiny()).total_stride == 8
    s2d = NetworkSpec.from_dict(tiny(block="space_to_depth", stride=4, kernel=4, expansion=1.0, se_ratio=0.0))
    assert s2d.total_stride == 16 and s2d.resolution % 16 == 0


def test_specs_are_frozen_and_replace_stage_revalidates():
    spec = NetworkSpec.from_dict(tiny())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.stages[0].depth = 3
    fused = spec.replace_stage(1, block="fused_mbconv")
    assert fused.stages[1].block == "fused_mbconv" and spec.stages[1].block == "mbconv"
    with pytest.raises(SpecError, match=r"^stages\[1\]\.expansion: got 0"):
        spec.replace_stage(1, expansion=0)


@pytest.mark.parametrize("changes, path, text", [
    ({"expansion": -1.0}, "stages[1].expansion", "got -1.0, expected a number > 0 (mbconv expansion is relative "
                                                 "to the block's input channels)"),
    ({"expansion": float("inf")}, "stages[1].expansion", "got inf, expected a number > 0"),
    ({"block": "dw", "se_ratio": 0, "expansion": 0}, "stages[1].expansion",
     "got 0, expected a number > 0 (dw expansion is GENet's r, relative to the block's output width)"),
    ({"block": "mbconvv"}, "stages[1].block", "got 'mbconvv', expected one of ['bl', 'conv', 'dw', 'fused_mbconv', "
                                              "'mbconv', 'space_to_depth', 'xx'] (did you mean 'mbconv'?)"),
    ({"activation": "swiss"}, "stages[1].activation", "got 'swiss', expected one of"),
    ({"depth": 0}, "stages[1].depth", "got 0, expected an integer >= 1"),
    ({"depth": 2.0}, "stages[1].depth", "got 2.0, expected an integer >= 1"),
    ({"depth": True}, "stages[1].depth", "got True, expected an integer"),
    ({"out_channels": "24"}, "stages[1].out_channels", "got '24', expected an integer"),
    ({"stride": 3}, "stages[1].stride", "got 3, expected one of [1, 2]"),
    ({"stride": 2.0}, "stages[1].stride", "got 2.0, expected one of [1, 2]"),
    ({"stride": True}, "stages[1].stride", "got True, expected one of [1, 2]"),
    ({"kernel": 4}, "stages[1].kernel", "got 4, expected an odd kernel size"),
    ({"se_ratio": -0.25}, "stages[1].se_ratio", "got -0.25, expected a number >= 0"),
    ({"exapnsion": 6}, "stages[1].exapnsion", "unknown field; did you mean 'expansion'?"),
    ({"block": "xx", "se_ratio": 0.0}, "stages[1].expansion", "got 4, expected 1.0: xx blocks have no expansion"),
    ({"block": "xx", "expansion": 1.0, "se_ratio": 0.25}, "stages[1].se_ratio",
     "got 0.25, expected 0: squeeze-excite is only supported in ['mbconv', 'fused_mbconv'] blocks, not 'xx'"),
    ({"block": "space_to_depth", "expansion": 1.0, "se_ratio": 0, "kernel": 3}, "stages[1].kernel",
     "got 3, expected kernel == stride (2) for space_to_depth"),
    ({"block": "space_to_depth", "expansion": 1.0, "se_ratio": 0, "kernel": 2.0}, "stages[1].kernel",
     "got 2.0, expected an integer"),
    ({"block": "space_to_depth", "expansion": 1.0, "se_ratio": 0, "stride": 1, "kernel": 1}, "stages[1].stride",
     "got 1, expected an integer >= 2"),
])
def test_bad_stage_errors_name_path_value_and_expectation(changes, path, text):
    with pytest.raises(SpecError) as err:
        NetworkSpec.from_dict(tiny(**changes))
    assert str(err.value).startswith(f"{path}: ") and text in str(err.value)
    assert err.value.path == path


@pytest.mark.parametrize("data, text", [
    ({**tiny(), "stem": {"out_channels": 8, "stride": 3}}, "stem.stride: got 3, expected one of [1, 2]"),
    ({**tiny(), "stem": {"out_channels": 8, "stride": 4}}, "stem.stride: got 4, expected one of [1, 2]"),
    ({**tiny(), "stem": {"out_channels": 8, "activation": "rleu"}}, "stem.activation: got 'rleu'"),
    ({**tiny(), "head": {"dropout": 1.0}}, "head.dropout: got 1.0, expected a probability 0 <= p < 1"),
    ({**tiny(), "head": {"channels": 0}}, "head.channels: got 0, expected an integer >= 1"),
    ({**tiny(), "resolution": 60}, "resolution: got 60, expected a multiple of the network's total stride 8"),
    ({**tiny(), "resolutoin": 64}, "resolutoin: unknown field; did you mean 'resolution'?"),
    ({**tiny(), "stages": []}, "stages: got [], expected a non-empty list"),
    ({**tiny(), "stages": ["xx"]}, "stages[0]: got str 'xx', expected a mapping of StageSpec fields"),
    ({k: v for k, v in tiny().items() if k != "stem"}, "missing required field(s) ['stem']"),
    ({**tiny(), "stages": [{"block": "xx", "out_channels": 8}]}, "stages[0]: missing required field(s) ['depth']"),
    ({**tiny(), "name": ""}, "name: got '', expected a non-empty string"),
])
def test_bad_network_errors(data, text):
    with pytest.raises(SpecError) as err:
        NetworkSpec.from_dict(data)
    assert text in str(err.value)


def test_bad_yaml_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="invalid YAML"):
        NetworkSpec.from_yaml("name: tiny\nstages: [")
    with pytest.raises(SpecError, match="got 'no/such/file.yaml', expected a YAML file path"):
        NetworkSpec.from_yaml("no/such/file.yaml")
    path = tmp_path / "bad.yaml"
    path.write_text("name: tiny\nstem: {out_channels: 8, kernal: 3}\nstages: []\n")
    with pytest.raises(SpecError, match="stem.kernal: unknown field; did you mean 'kernel'"):
        NetworkSpec.from_yaml(path)


def test_standalone_specs_validate_with_bare_field_paths():
    assert StageSpec("space_to_depth", 1, 128, stride=4, kernel=4).kernel == 4
    assert StageSpec("dw", 2, 64, expansion=3).expansion == 3
    assert StemSpec(32).stride == 2 and HeadSpec(None).channels is None
    with pytest.raises(SpecError, match="^out_channels: got 0"):
        StemSpec(0)
    with pytest.raises(SpecError, match=r"^expansion: got -1, .*relative to the block's input channels"):
        StageSpec("fused_mbconv", 1, 8, expansion=-1)


def test_network_spec_accepts_nested_dicts_or_specs():
    spec = NetworkSpec("n", {"out_channels": 8}, [{"block": "conv", "depth": 1, "out_channels": 8}], resolution=32)
    assert spec == NetworkSpec("n", StemSpec(8), (StageSpec("conv", 1, 8),), HeadSpec(), resolution=32)


def test_build_from_dict():
    model = build(tiny())
    assert model.spec == NetworkSpec.from_dict(tiny()) and len(model.stages) == 2 and len(model.stages[1]) == 2
    with pytest.raises(TypeError, match="expected a NetworkSpec or a dict"):
        build("tiny")
    with pytest.raises(SpecError, match=r"stages\[1\]\.depth"):
        build(tiny(depth=0))


def x_like(**first_changes) -> dict:
    """EfficientNet-X's first two stages: a space-to-depth (d1) stage and the stage after it (d2)."""
    stages = [{"block": "mbconv", "depth": 1, "out_channels": 16, "expansion": 1.0, "se_ratio": 1.0,
               "space_to_depth": 1, "padding": "same"},
              {"block": "fused_mbconv", "depth": 2, "out_channels": 24, "stride": 2, "expansion": 6.0, "se_ratio": 1.0,
               "space_to_depth": 2}]
    stages[0].update(first_changes)
    return {"name": "x", "stem": {"out_channels": 32}, "stages": stages, "resolution": 64}


def test_space_to_depth_stages_build_as_the_efficientnet_x_release():
    spec = NetworkSpec.from_dict(x_like())
    assert spec.total_stride == 4 and spec.stages[0].block_kernel == 2 and spec.stages[0].effective_stride == 2
    assert spec.stages[0].output_channels == 64 and spec.stages[1].output_channels == 24  # 4 x 16 after the 2x2 conv
    model = build(spec).eval()
    assert model.stages[0][-1].branch[-1].conv.out_channels == 64 and model.head.conv.conv.in_channels == 24
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 24, 16, 16)
    assert model.stages[1][0].branch[0].conv.in_channels == 64 and model.stages[1][0].branch[0].conv.out_channels == 96
    assert NetworkSpec.from_dict({**x_like(), "resolution": 66}).resolution == 66  # 'same': any size


@pytest.mark.parametrize("data, path, text", [
    (x_like(padding="symmetric"), "stages[0].padding", "expected 'same': space_to_depth 1 halves kernel 3"),
    (x_like(stride=2), "stages[0].stride", "got 2, expected 1 with space_to_depth 1"),
    (x_like(space_to_depth=3), "stages[0].space_to_depth", "got 3, expected 0 (none), 1"),
    (x_like(space_to_depth=True), "stages[0].space_to_depth", "got True"),
    (x_like(space_to_depth=0, padding="symmetric"), "stages[1].space_to_depth", "got 2, expected the previous"),
    (x_like(block="xx", expansion=1.0, se_ratio=0, padding="symmetric"), "stages[0].space_to_depth",
     "only ['mbconv', 'fused_mbconv']"),
    (x_like(padding="valid"), "stages[0].padding", "got 'valid', expected one of ['same', 'same_static', 'symm"),
    ({**tiny(), "stages": [{"block": "xx", "depth": 1, "out_channels": 8, "padding": "same"}]}, "stages[0].padding",
     "expected 'symmetric': xx blocks pad symmetrically only"),
])
def test_bad_space_to_depth_and_padding(data, path, text):
    with pytest.raises(SpecError) as err:
        NetworkSpec.from_dict(data)
    assert err.value.path == path and text in str(err.value)


def test_d2_stride_must_be_2():
    data = x_like()
    data["stages"][1]["stride"] = 1
    with pytest.raises(SpecError, match=r"^stages\[1\]\.stride: got 1, expected 2 with space_to_depth 2"):
        NetworkSpec.from_dict(data)


def test_fingerprint_ignores_name_and_source_only():
    from gpuefficient.arch.zoo import get

    b0 = get("efficientnet_b0").spec
    renamed = dataclasses.replace(b0, name="other", source="elsewhere")
    assert renamed.fingerprint() == b0.fingerprint() and len(b0.fingerprint()) == 16
    assert b0.replace_stage(0, kernel=5).fingerprint() != b0.fingerprint()
    assert dataclasses.replace(b0, resolution=256).fingerprint() != b0.fingerprint()


def test_resolution_step_is_the_stride_unless_a_stage_pads_same():
    from gpuefficient.arch.zoo import get

    assert get("efficientnet_b0").spec.resolution_step == 32
    assert get("efficientnet_x_b0_gpu").spec.resolution_step == 1
