from pathlib import Path

import pytest

from gpuefficient.papers import table3_rows

PAPER = Path(__file__).resolve().parents[2] / "shared" / "papers" / "000_3b95ed0a02614bae.txt"


@pytest.mark.skipif(not PAPER.exists(), reason="the papers' text (../shared/papers) is not beside this checkout")
def test_table3_transcription_matches_the_paper_text():
    lines = {line.split("\t")[0]: line.split("\t") for line in PAPER.read_text().splitlines() if "\t" in line}
    for row in table3_rows():
        key = next(k for k in lines if k.split(" [")[0] == row["model"])
        cells = lines[key]
        assert float(cells[1].rstrip("%")) == row["top1"], row["model"]
        assert float(cells[2]) == row["params_m"], row["model"]
        assert float(cells[3]) == row["gmacs"], row["model"]
        assert float(cells[4]) == row["intensity"], row["model"]
        assert float(cells[5].rstrip("%")) / 100 == pytest.approx(row["efficiency"]), row["model"]
        tpu, gpu = (float(v) for v in cells[6].split("/"))
        assert (tpu, gpu) == (row["tpu_ms"], row["gpu_ms"]), row["model"]
