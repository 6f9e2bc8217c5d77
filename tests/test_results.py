import json
import os

import pytest

from gpuefficient.book.results import (ResultsError, load_results, provenance, read_json, save_results, slug, write_json_atomic)


def test_save_and_load_round_trip(tmp_path):
    meta = provenance("cpu", {"batch": 1})
    assert {"device", "versions", "timestamp", "settings"} <= set(meta)
    path = save_results(tmp_path, "roofline", "NVIDIA H100 80GB HBM3", [{"model": "resnet50", "ms": 1.5}], meta)
    assert path == tmp_path / "roofline" / "nvidia-h100-80gb-hbm3.json"
    (loaded,) = load_results(tmp_path, "roofline")
    assert loaded["records"] == [{"model": "resnet50", "ms": 1.5}]
    assert loaded["provenance"]["settings"] == {"batch": 1}
    assert load_results(tmp_path, "no-such-chapter") == []


def test_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_json_atomic(tmp_path / "a.json", {"v": 1})

    def exploding_fsync(fd):  # killed after half the text reached the temporary file
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", exploding_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"v": 2})
    monkeypatch.undo()
    assert read_json(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["a.json"]  # no temporary file left behind


def test_corrupt_files_are_reported_not_reused(tmp_path):
    folder = tmp_path / "roofline"
    folder.mkdir()
    (folder / "bad.json").write_text('{"records": [1, 2')
    with pytest.raises(ResultsError, match="bad.json: corrupt or truncated JSON"):
        load_results(tmp_path, "roofline")
    (folder / "bad.json").write_text('[1, 2]')
    with pytest.raises(ResultsError, match="expected an object with 'name', 'provenance' and 'records'"):
        load_results(tmp_path, "roofline")
    (folder / "bad.json").write_text('{"name": "x", "provenance": 1, "records": "x"}')
    with pytest.raises(ResultsError, match="got provenance '1', expected a mapping with 'device' and 'timestamp'"):
        load_results(tmp_path, "roofline")
    (folder / "bad.json").write_text('{"name": "x", "provenance": {"device": "d", "timestamp": "t"}, "records": "x"}')
    with pytest.raises(ResultsError, match="got records 'x', expected a list of mappings"):
        load_results(tmp_path, "roofline")


def test_bad_records_and_slug():
    with pytest.raises(ValueError, match="records: got dict"):
        save_results("/nonexistent", "c", "n", {"a": 1}, {})
    assert slug("  ") == "unnamed" and slug("Tesla V100-SXM2-32GB") == "tesla-v100-sxm2-32gb"


def test_json_is_strict_nan_is_null_and_unknown_objects_are_refused(tmp_path):
    import math

    path = write_json_atomic(tmp_path / "a.json", {"ms": math.nan, "inf": math.inf, "shape": (1, 3), "ok": 1.5})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"ms": None, "inf": None, "shape": [1, 3], "ok": 1.5}
    with pytest.raises(ResultsError, match=r"b.json.rows\[0\].spec: got a object .*expected numbers, text"):
        write_json_atomic(tmp_path / "b.json", {"rows": [{"spec": object()}]})
    assert not (tmp_path / "b.json").exists()


def test_files_follow_the_umask_and_orphans_of_dead_writers_are_removed(tmp_path):
    old = os.umask(0o022)
    try:
        orphan = tmp_path / ".a.json.999999999.x1.tmp"   # no such process: a writer killed mid-write
        orphan.write_text("{half")
        live = tmp_path / f".a.json.{os.getpid()}.x2.tmp"  # a writer still running: left alone
        live.write_text("{")
        path = write_json_atomic(tmp_path / "a.json", {"v": 1})
        assert (path.stat().st_mode & 0o777) == 0o644
        assert not orphan.exists() and live.exists()
    finally:
        os.umask(old)


def test_a_place_that_cannot_be_written_names_the_target(tmp_path):
    """(A read-only folder does not stop root, who runs CI here: a folder that is a file stops everyone.)"""
    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(ResultsError, match=r"results/roofline/a.json: cannot write here"):
        write_json_atomic(tmp_path / "results" / "roofline" / "a.json", {"v": 1})
