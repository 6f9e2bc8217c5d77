"""Fixtures shared by the test files: a tiny network spec and a shapes-only (meta device) builder."""
import pytest
import torch

from gpuefficient.arch.builder import Network, build
from gpuefficient.arch.spec import NetworkSpec

#: Two stages (an expansion-1 MBConv, then a strided fused MBConv) at 32 px: builds and runs in milliseconds.
TINY_SPEC = NetworkSpec.from_dict({
    "name": "tiny", "stem": {"out_channels": 8}, "resolution": 32, "head": {"channels": 32},
    "stages": [{"block": "mbconv", "depth": 1, "out_channels": 8, "expansion": 1.0},
               {"block": "fused_mbconv", "depth": 1, "out_channels": 16, "stride": 2, "expansion": 2.0}]})


@pytest.fixture
def tiny_spec() -> NetworkSpec:
    """``TINY_SPEC``: the smallest spec that still has a residual block, a strided block and a head."""
    return TINY_SPEC


def _meta_build(spec) -> Network:
    """The network of ``spec`` with meta tensors: shapes only, no memory, no init (X-B7 has 200 M params)."""
    with torch.device("meta"):
        return build(spec).eval()


@pytest.fixture
def meta_build():
    """A function building a spec (or a dict of one) on the meta device, in eval mode."""
    return _meta_build
