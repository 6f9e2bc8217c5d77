"""The CPU's last-level cache is found in one place; both versions of EfficientNet-X's Table 2 are kept."""
from pathlib import Path

import pytest

from gpuefficient import device, papers

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "papers"


def test_last_level_cache_reads_sysfs(tmp_path, monkeypatch):
    for i, (level, size) in enumerate([(1, "32K"), (2, "512K"), (3, "32768K")]):
        (tmp_path / f"index{i}").mkdir()
        (tmp_path / f"index{i}" / "size").write_text(size + "\n")
    real = device.Path
    monkeypatch.setattr(device, "Path", lambda p: tmp_path if "cpu0/cache" in str(p) else real(p))
    assert device.last_level_cache_bytes("cpu") == 32 << 20
    monkeypatch.setattr(device, "Path", lambda p: tmp_path / "missing")
    assert device.last_level_cache_bytes("cpu") == device.CPU_CACHE_FALLBACK


@pytest.mark.skipif(not PAPERS.exists(), reason="the papers' texts are not beside this checkout")
def test_table2_versions_match_each_paper_text():
    texts = {"CVPR 2021": "000_3b95ed0a02614bae.txt", "arXiv (with appendices)": "002_30248c6ea00ef6cf.txt"}
    for version, rows in papers.EFFICIENTNET_X_TABLE2.items():
        text = " ".join((PAPERS / texts[version]).read_text().split())
        for name, coefficients in rows.items():
            assert f"{name} " + " ".join(f"{c:g}" for c in coefficients) in text, (version, name)
    assert papers.EFFICIENTNET_X_TABLE2["CVPR 2021"]["LACS on GPU"] != \
        papers.EFFICIENTNET_X_TABLE2["arXiv (with appendices)"]["LACS on GPU"]
