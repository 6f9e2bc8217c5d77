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

    def exploding_dump(*args, **kwargs):
        args[1].write('{"v": 2, "trunc')
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", exploding_dump)
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
    with pytest.raises(ResultsError, match="expected an object with 'provenance' and 'records'"):
        load_results(tmp_path, "roofline")


def test_bad_records_and_slug():
    with pytest.raises(ValueError, match="records: got dict"):
        save_results("/nonexistent", "c", "n", {"a": 1}, {})
    assert slug("  ") == "unnamed" and slug("Tesla V100-SXM2-32GB") == "tesla-v100-sxm2-32gb"
