"""Fixtures shared by the test files: a tiny network spec and a shapes-only (meta device) builder; for the
slow book tests (test_book.py, test_browser.py), every notebook executed once and the book built once."""
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="session")
def executed(results_dir):
    """Execute each notebook once (quick mode, CPU) into notebooks/NAME.ipynb; keep errors and times.

    Results are saved as a GPU run saves them (into a temporary folder), so that a record a result file
    cannot hold fails here, on a CPU, not at the end of a scarce GPU run."""
    from gpuefficient.book.notebooks import execute, find_notebooks

    outcome = {}
    for source in find_notebooks():
        start = time.perf_counter()
        try:
            execute(source, parameters={"quick": True, "device": "cpu", "results_dir": str(results_dir)},
                    timeout=900)
            outcome[source.stem] = (None, time.perf_counter() - start)
        except Exception as err:  # noqa: BLE001 - reported by the test of that notebook
            outcome[source.stem] = (err, time.perf_counter() - start)
    return outcome


@dataclass
class BookBuild:
    """One `jupyter-book build . --all -W -n --keep-going` of the executed notebooks into _build/html."""
    returncode: int
    output: str     # the last 4000 characters of stdout and of stderr
    report: Path    # the reproducibility page, written from this run's notebooks before the build
    html: Path


@pytest.fixture(scope="session")
def built_book(executed) -> BookBuild:
    """The book built once per session (after every notebook ran), shared by test_book.py and test_browser.py.

    Built even if a notebook failed (its own test says so); the tests that need a clean build assert
    ``returncode == 0``."""
    from gpuefficient.book.notebooks import ROOT, write_report

    report = write_report()  # the back matter's reproducibility page, from this run
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(ROOT), "--all", "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, timeout=900)
    return BookBuild(result.returncode, result.stdout[-4000:] + result.stderr[-4000:], report,
                     ROOT / "_build" / "html")
