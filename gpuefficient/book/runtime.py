"""What every chapter does first: pick the device and the mode, seed everything, set up tables and
warnings for reading, say so in one line."""
from __future__ import annotations

import logging
import random
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from gpuefficient import checks
from gpuefficient.device import device_name, resolve_device

__all__ = ["Runtime", "setup", "glue", "run_time_line"]


@dataclass(frozen=True)
class Runtime:
    """The device a chapter runs on and whether it runs in quick mode."""

    device: torch.device
    quick: bool
    device_name: str
    seed: int
    started: float = field(default_factory=time.perf_counter, compare=False)  # when setup() ran

    def elapsed_s(self) -> float:
        """Seconds since :func:`setup`: the chapter's own run time when read in its last cell."""
        return time.perf_counter() - self.started

    def run_settings(self) -> dict:
        """What a chapter saves with its claims ledger so that later builds can quote its run time."""
        return {"run_seconds": round(self.elapsed_s(), 1), "quick": self.quick, "device_type": self.device.type}

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def dtype(self) -> str:
        """The number format the chapters time networks in: "fp16" on a GPU (the papers' format), else "fp32"."""
        return "fp16" if self.is_cuda else "fp32"

    def pick(self, quick_value, full_value):
        """``quick_value`` in quick mode, else ``full_value``: how chapters shrink their sizes."""
        return quick_value if self.quick else full_value


def setup(device="auto", quick=None, seed: int = 0, *, quiet: str | None = "timm") -> Runtime:
    """Resolve ``device`` ("auto": CUDA if present) and ``quick`` (None: quick exactly on CPU); seed RNGs.

    Also what every chapter's first cell did by hand: pandas shows numbers with 3 significant digits and
    whole cell texts (claims and sources are sentences), and ``UserWarning``s raised from modules whose
    name matches the regular expression ``quiet`` are not shown ("timm": timm's; "": every module's;
    None: none silenced).
    """
    quick = checks.flag("quick", quick, allow_none=True)
    if quiet is not None and not isinstance(quiet, str):
        raise ValueError(f"quiet: got {quiet!r}, expected a module-name regular expression, '' (all) or None")
    dev = resolve_device(device)
    quick = (dev.type != "cuda") if quick is None else quick
    # torch.compile on a machine without CUDA logs a CUDA_HOME warning on every first compile: noise
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    _tables()
    from gpuefficient.book.plotting import use_book_style

    use_book_style()
    if quiet is not None:
        warnings.filterwarnings("ignore", category=UserWarning, module=quiet)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    runtime = Runtime(dev, quick, device_name(dev), seed)
    mode = "quick mode (reduced sizes and repeats)" if quick else "full mode"
    if dev.type == "cuda":
        print(f"Running on {runtime.device_name} ({dev}) in {mode}.")
    else:
        missing = "" if torch.cuda.is_available() else "No CUDA GPU found: "
        print(f"{missing}running on the CPU ({runtime.device_name}) in {mode}; "
              "GPU reference results from results/ are shown where present.")
    return runtime


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def run_time_line(rt: Runtime, chapter: str, reference_dir="../results") -> str:
    """One sentence for a chapter's opening: how long this build took to run it (measured now, so call
    it in the last cell), and how long the saved GPU reference run took in full mode, if there is one.

    The GPU figure comes from the settings a full CUDA run saved with its claims ledger
    (:meth:`Runtime.run_settings`, given to :func:`gpuefficient.book.claims.save_claims`); without one
    the sentence says so.
    """
    from gpuefficient.book.results import load_results

    line = (f"This build ran the chapter in {_minutes(rt.elapsed_s())} ({rt.mode} mode, "
            f"{'GPU' if rt.is_cuda else 'CPU'}: {rt.device_name}).")
    runs = [s["provenance"] for s in load_results(reference_dir, chapter) if s["name"].startswith("claims-")
            and s["provenance"].get("settings", {}).get("run_seconds") is not None
            and s["provenance"]["settings"].get("quick") is False
            and s["provenance"]["settings"].get("device_type") == "cuda"]
    if runs:
        run = max(runs, key=lambda p: p["timestamp"])
        line += (f" Full mode on a GPU took {_minutes(float(run['settings']['run_seconds']))} "
                 f"({run['device']}, {run['timestamp'][:10]}).")
    else:
        line += " Full mode on a GPU: no reference run saved under results/ yet."
    return line


def _tables() -> None:
    """pandas display options for the book: 3 significant digits without exponents where a reader expects
    none (``tables.format_number``: 4,590 ms, not 4.59e+03), cell texts never cut."""
    import pandas as pd

    from gpuefficient.book.tables import format_number

    pd.options.display.float_format = format_number
    pd.options.display.max_colwidth = None


def glue(name: str, value, display: bool = False):
    """``myst_nb.glue`` where the book's tools are installed, else a no-op (script mode on a bare GPU box)."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return None
    return myst_glue(name, value, display=display)
