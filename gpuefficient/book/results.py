"""Result files with provenance: written atomically, read back with corruption detected.

Full (GPU) runs of a chapter save their measurements as ``results/<chapter>/<name>.json``;
the book shows them next to the live run. A write goes to a temporary file in the same folder,
is flushed to disk and then renamed over the target, so a crash never leaves half a file.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from gpuefficient.device import device_name, software_versions

__all__ = ["ResultsError", "write_json_atomic", "read_json", "provenance", "save_results", "load_results", "slug"]


class ResultsError(ValueError):
    """A result file that cannot be trusted (unreadable, truncated, or not of the expected form)."""


def slug(text: str) -> str:
    """A file-name-safe form of a device or model name: ``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unnamed"


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a truncated or corrupt file into a ``ResultsError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: corrupt or truncated JSON ({err}); delete it or re-run the measurement") from err


def provenance(device="auto", settings: dict | None = None) -> dict[str, Any]:
    """Where, when and with what software a set of measurements was taken."""
    return {
        "device": device_name(device),
        "versions": software_versions(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": dict(settings or {}),
    }


def save_results(results_dir: str | Path, chapter: str, name: str, records: list[dict],
                 meta: dict[str, Any]) -> Path:
    """Save ``records`` (a list of flat dicts) with ``meta`` (see :func:`provenance`)."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"records: got {type(records).__name__}, expected a list of dicts")
    path = Path(results_dir) / slug(chapter) / f"{slug(name)}.json"
    return write_json_atomic(path, {"chapter": chapter, "name": name, "provenance": meta, "records": records})


def load_results(results_dir: str | Path, chapter: str) -> list[dict[str, Any]]:
    """Every saved result set of ``chapter`` (each with ``name``, ``provenance``, ``records``)."""
    folder = Path(results_dir) / slug(chapter)
    sets = []
    for path in sorted(folder.glob("*.json")):
        data = read_json(path)
        if not isinstance(data, dict) or not {"provenance", "records"} <= set(data):
            raise ResultsError(f"{path}: expected an object with 'provenance' and 'records'")
        sets.append(data)
    return sets
