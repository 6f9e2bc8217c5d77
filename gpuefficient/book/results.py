"""Result files with provenance: written atomically, read back with corruption detected.

Full (GPU) runs of a chapter save their measurements as ``results/<chapter>/<name>.json``;
the book shows them next to the live run (:func:`save_and_show`). A write goes to a temporary file
in the same folder, is flushed to disk and then renamed over the target, so a crash never leaves
half a file. Number formats are written by their canonical names (``fp16``, never ``float16`` or
``torch.float16``; see :mod:`gpuefficient.dtypes`).
"""
from __future__ import annotations

import datetime as _dt
import glob
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

from gpuefficient import dtypes
from gpuefficient.device import device_name, software_versions

__all__ = ["ResultsError", "json_data", "write_json_atomic", "write_text_atomic", "read_json", "provenance", "save_results", "load_results", "slug",
           "save_and_show"]


class ResultsError(ValueError):
    """A result file that cannot be trusted (unreadable, truncated, or not of the expected form)."""


def slug(text: str) -> str:
    """A file-name-safe form of a device or model name: ``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"


def _is_torch_dtype(value: Any) -> bool:
    """Whether ``value`` is a torch dtype, without importing torch (result files are written without it)."""
    return type(value).__name__ == "dtype" and type(value).__module__ == "torch"


def json_data(value: Any, where: str = "value") -> Any:
    """``value`` as strict JSON data: NaN and infinities become null (unknown), tuples and sets lists, a torch
    dtype its canonical name, numpy scalars and arrays numbers and lists, paths text. Anything else is
    refused, naming where it sits: written as ``str(obj)`` it would read back as a different thing."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ResultsError(f"{where}: got key {bad[0]!r} ({type(bad[0]).__name__}), expected text keys")
        return {k: json_data(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return [json_data(v, f"{where}[]") for v in sorted(value, key=str)]
    if _is_torch_dtype(value):
        try:
            return dtypes.name(value)
        except ValueError:
            return str(value)
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":   # numpy scalar or array
        return json_data(value.tolist(), where)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ResultsError(f"{where}: got a {type(value).__name__} ({str(value)[:60]!r}), which a result file cannot "
                       "hold; expected numbers, text, lists or mappings of them (convert or drop it first)")


def _canonical_dtypes(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with a torch dtype anywhere at its top level, or a ``dtype`` given by an alias
    ("float16"), replaced by the canonical name; unknown spellings ("", "mixed") are kept."""
    out = {}
    for key, value in row.items():
        if _is_torch_dtype(value) or (key == "dtype" and isinstance(value, str)):
            try:
                value = dtypes.name(value)
            except ValueError:
                pass
        out[key] = value
    return out


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as strict JSON to ``path`` so that readers see the old file or the new one, never half.

    The file gets the permissions any new file gets here (the umask), not the temporary file's 0600.
    Temporary files left by earlier writers of the same target that were killed mid-write are removed.
    """
    path = Path(path)
    return write_text_atomic(path, json.dumps(json_data(data, path.name), indent=1, sort_keys=True,
                                              allow_nan=False) + "\n")


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`write_json_atomic`): old file or new, never half."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as err:
        raise ResultsError(f"{path}: cannot write here ({err.strerror or err})") from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _remove_orphans(path: Path) -> None:
    """Delete ``.<name>.<pid>.*.tmp`` files of ``path`` whose writer process no longer exists."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a truncated or corrupt file into a ``ResultsError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: corrupt or truncated JSON ({err}); delete it or re-run the measurement") from err


def provenance(device="auto", settings: dict | None = None) -> dict[str, Any]:
    """Where, when and with what software a set of measurements was taken (dtypes in ``settings`` by
    their canonical names)."""
    return {
        "device": device_name(device),
        "versions": software_versions(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": _canonical_dtypes(settings or {}),
    }


def save_results(results_dir: str | Path, chapter: str, name: str, records: list[dict],
                 meta: dict[str, Any]) -> Path:
    """Save ``records`` (a list of flat dicts) with ``meta`` (see :func:`provenance`)."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"records: got {type(records).__name__}, expected a list of dicts")
    path = Path(results_dir) / slug(chapter) / f"{slug(name)}.json"
    records = [_canonical_dtypes(r) for r in records]
    return write_json_atomic(path, {"chapter": chapter, "name": name, "provenance": meta, "records": records})


def load_results(results_dir: str | Path, chapter: str) -> list[dict[str, Any]]:
    """Every saved result set of ``chapter`` (each with ``name``, ``provenance``, ``records``), each checked:
    provenance a mapping with a device and a timestamp, records a list of mappings."""
    folder = Path(results_dir) / slug(chapter)
    sets = []
    for path in sorted(folder.glob("*.json")):
        data = read_json(path)
        problem = _set_problem(data)
        if problem:
            raise ResultsError(f"{path}: {problem}; delete it or re-run the measurement")
        sets.append(data)
    return sets


def _set_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not {"name", "provenance", "records"} <= set(data):
        return "expected an object with 'name', 'provenance' and 'records'"
    if not isinstance(data["provenance"], dict) or not {"device", "timestamp"} <= set(data["provenance"]):
        return f"got provenance {str(data['provenance'])[:60]!r}, expected a mapping with 'device' and 'timestamp'"
    records = data["records"]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return f"got records {str(records)[:60]!r}, expected a list of mappings"
    return None


def save_and_show(chapter: str, records: Mapping[str, Any], *, results_dir: str | Path | None, device="auto",
                  settings: dict | None = None, show: str, columns: list[str] | None = None,
                  reference_dir: str | Path = "../results", display=None) -> list[dict[str, Any]]:
    """The end of a chapter's measurements: save this run's, then show the saved reference runs.

    With ``results_dir`` each ``records`` entry (name -> list of row dicts, or a DataFrame) is saved
    as ``<name>-<device>`` with :func:`provenance` of ``device`` and ``settings``, and its path printed.
    Then every result set of ``chapter`` under ``reference_dir`` whose name starts with ``show + "-"``
    is shown: one line of provenance (device, time, torch and CUDA versions, settings) and its records
    as a table (only ``columns``, those of them it has, when given), or one line saying there is none.
    ``display`` shows a table (default: IPython's ``display``, else ``print``). Returns the sets shown.
    """
    if results_dir:
        meta = provenance(device, settings)
        for name, rows in records.items():
            rows = rows.to_dict("records") if hasattr(rows, "to_dict") and not isinstance(rows, dict) else rows
            print(save_results(results_dir, chapter, f"{name}-{meta['device']}", rows, meta))
    reference = [s for s in load_results(reference_dir, chapter) if str(s.get("name", "")).startswith(f"{show}-")]
    if not reference:
        print(f"No GPU reference results in results/{slug(chapter)} yet: run `make results` on a CUDA machine.")
    show_table = display or _display()
    for s in reference:
        p, versions = s["provenance"], s["provenance"].get("versions", {})
        print(f"{p.get('device')} | {p.get('timestamp')} | torch {versions.get('torch')} | CUDA {versions.get('cuda')}"
              f" | settings {p.get('settings')}")
        show_table(_table(s["records"], columns))
    return reference


def _table(records: list[dict], columns: list[str] | None):
    import pandas as pd

    frame = pd.DataFrame(records)
    return frame[[c for c in columns if c in frame.columns]] if columns else frame


def _display():
    try:
        from IPython.display import display
    except ImportError:
        return print
    return display
