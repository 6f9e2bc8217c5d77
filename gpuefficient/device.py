"""Device identity: which device a run uses, what it is called, the software and GPU state around it.

Shared by every layer: the timer records it with each measurement, results files carry it as
provenance, chapters print it. :func:`call_or_oom` is the package's one out-of-memory policy:
a measurement that does not fit is recorded as skipped with its reason, never silently lost.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "device_name", "last_level_cache_bytes", "software_versions", "gpu_state",
           "is_out_of_memory", "call_or_oom", "nvidia_driver_present"]

# torch is imported inside the functions that need it: importing this module (every layer does) costs
# nothing, so the command line can answer --help, argument errors and the device catalog at once.


def nvidia_driver_present() -> bool:
    """Whether an NVIDIA driver is loaded here (without importing torch): without one, torch sees no GPU."""
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/a name into a torch.device: CUDA when present, else the CPU."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device: got {device!r}, expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: got {device!r}, but no CUDA device is available here (use 'auto' or 'cpu')")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: got {device!r}, expected a CPU or CUDA device")
    return dev


def device_name(device: str | torch.device | None = "auto") -> str:
    """A human-readable name of the device: the GPU's marketing name or the CPU model."""
    import torch

    dev = resolve_device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


CPU_CACHE_FALLBACK = 64 << 20  # when the OS does not say: a large server CPU's last-level cache


def last_level_cache_bytes(device: str | torch.device | None = "auto") -> int:
    """The size of ``device``'s last-level cache, found in one place for the whole book: a GPU's L2 as
    CUDA reports it; a CPU's largest cache as Linux lists it under /sys (``CPU_CACHE_FALLBACK`` where it
    cannot be read). Cold-cache timing overwrites twice this much; chapters print it."""
    dev = resolve_device(device)
    if dev.type == "cuda":
        import torch

        return int(getattr(torch.cuda.get_device_properties(dev), "L2_cache_size", 0)) or CPU_CACHE_FALLBACK
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=CPU_CACHE_FALLBACK)


def software_versions() -> dict[str, str]:
    """Versions that change latency: Python, torch, CUDA, cuDNN, timm, the GPU driver."""
    import torch

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else "none",
        "platform": platform.platform(),
    }
    try:  # the installed version, without paying for importing timm
        versions["timm"] = importlib.metadata.version("timm")
    except importlib.metadata.PackageNotFoundError:
        versions["timm"] = "not installed"
    if torch.cuda.is_available():
        try:
            from torch.cuda import _get_nvml_driver_version  # type: ignore[attr-defined]

            versions["driver"] = str(_get_nvml_driver_version())
        except Exception:  # noqa: BLE001 - optional detail; absent on some builds
            pass
    return versions


_SMI_FIELDS = {  # nvidia-smi query field -> our name
    "clocks.sm": "sm_clock_mhz",
    "clocks.mem": "memory_clock_mhz",
    "clocks.max.sm": "max_sm_clock_mhz",
    "temperature.gpu": "temperature_c",
    "power.draw": "power_w",
    "pstate": "pstate",
}


def gpu_state(device: str | torch.device | None = "auto") -> dict[str, Any]:
    """Clocks, temperature, power and active throttle reasons of a CUDA device, read-only.

    A GPU that throttles (power, thermal) or sits at a low clock runs slower than its spec; the
    state recorded with a measurement tells whether it was comparable. Uses ``nvidia-smi`` (a
    query, never a setting); returns ``{"gpu_state": "unavailable: <why>"}`` when it cannot.
    """
    import torch

    dev = resolve_device(device)
    if dev.type != "cuda":
        return {}
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"gpu_state": "unavailable: nvidia-smi not found"}
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    # Drivers >= 535 call throttle reasons "clocks_event_reasons"; older ones only know the old name.
    for reasons in ("clocks_event_reasons.active", "clocks_throttle_reasons.active"):
        fields = [*_SMI_FIELDS, reasons]
        try:
            out = subprocess.run([smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits",
                                  f"--id={index}"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as err:
            return {"gpu_state": f"unavailable: {err}"}
        if out.returncode == 0:
            return _parse_smi(out.stdout, list(_SMI_FIELDS.values()) + ["throttle_reasons"])
    return {"gpu_state": f"unavailable: nvidia-smi said {out.stdout.strip() or out.stderr.strip()}"[:200]}


def _parse_smi(line: str, names: list[str]) -> dict[str, Any]:
    """One CSV line of nvidia-smi values: numbers become floats, '[N/A]' becomes None."""
    state: dict[str, Any] = {}
    for name, cell in zip(names, (c.strip() for c in line.strip().split(","))):
        try:
            state[name] = float(cell)
        except ValueError:
            state[name] = None if cell in ("[N/A]", "N/A", "[Not Supported]") else cell
    return state


def is_out_of_memory(err: BaseException) -> bool:
    """True for CUDA and CPU allocation failures (which a sweep records and skips)."""
    import torch

    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def call_or_oom(fn: Callable[..., Any], *args, **kwargs) -> tuple[Any, str]:
    """``(fn(*args, **kwargs), "")``, or ``(None, "out of memory: <first line>")`` when the device ran out of
    memory. Other errors propagate. After a failure the CUDA cache is emptied, outside the ``except``
    block so that the failed call's frames (and the tensors they hold) are gone first."""
    import torch

    try:
        return fn(*args, **kwargs), ""
    except Exception as err:  # noqa: BLE001 - only memory errors are turned into a reason
        if not is_out_of_memory(err):
            raise
        reason = f"out of memory: {str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__}"
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return None, reason
