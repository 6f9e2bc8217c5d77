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


GENET = PAPER.with_name("004_76a849da0b638f60.txt")


@pytest.mark.skipif(not GENET.exists(), reason="the papers' text (../shared/papers) is not beside this checkout")
def test_genet_table2_transcription():
    from gpuefficient.papers import GENET_TABLE2

    text = GENET.read_text()
    rows = text[text.index("type\td\tc\ts\tk\tr"):text.index("FLOPs\t\t552")].splitlines()[1:]
    cells = [row.split("\t") for row in rows if row.split("\t")[0] in ("XX", "$_{ m BL}$", "DW")]
    for v, variant in enumerate(("light", "normal", "large")):
        ours = [(d, c, s, k, r) for _, d, c, s, k, r in GENET_TABLE2[variant]]
        paper = [tuple(float(x) for x in row[1 + 5 * v:6 + 5 * v]) for row in cells]
        assert ours == paper, variant
        assert [b for b, *_ in GENET_TABLE2[variant]] == ["xx", "xx", "bl", "dw", "dw"]


@pytest.mark.skipif(not GENET.exists(), reason="the papers' text (../shared/papers) is not beside this checkout")
def test_genet_table7_transcription():
    from gpuefficient.papers import GENET_TABLE7

    text = GENET.read_text()
    table = text[text.index("Table 7: Network latency"):text.index("T4 TensorRT, FP16, batch size 1 to 32")]
    lines = {line.split("\t")[0]: line.split("\t") for line in table.splitlines() if "\t" in line}
    for model, (_, top1, values) in GENET_TABLE7.items():
        cells = lines[model]
        assert float(cells[1].rstrip("%")) == top1, model
        assert tuple(float(v) for v in cells[2:9]) == values, model


def test_genet_table7_timm_names_exist():
    import timm

    from gpuefficient.papers import GENET_TABLE7, genet_table7_rows

    assert all(timm_name in timm.list_models() for timm_name, _, _ in GENET_TABLE7.values())
    rows = genet_table7_rows()
    assert len(rows) == 7 * len(GENET_TABLE7)
    assert {"model": "ResNet-50", "timm": "resnet50", "top1": 77.4, "batch": 64, "ms_per_image": 0.40} in rows


ARXIV = PAPER.with_name("002_30248c6ea00ef6cf.txt")
GPUNET = PAPER.with_name("001_fa46f8708fe7fbfc.txt")


@pytest.mark.skipif(not ARXIV.exists(), reason="the papers' text (../shared/papers) is not beside this checkout")
def test_efficientnet_x_arxiv_table3_transcription():
    from gpuefficient.papers import table3_arxiv_rows

    text = ARXIV.read_text()
    table = text[text.index("Models Acc.? #Params #FLOPs"):]
    lines = {line.split(" ")[0]: line.split() for line in table.splitlines()
             if line.startswith("EfficientNet-X-B") and line.split()[1].endswith("%")}
    for row in table3_arxiv_rows():
        cells = lines[row["model"]]
        assert float(cells[1].rstrip("%")) == row["top1"] and float(cells[2]) == row["params_m"], row["model"]
        assert float(cells[3]) == row["gmacs"] and float(cells[4]) == row["intensity"], row["model"]
        assert float(cells[5].rstrip("%")) / 100 == pytest.approx(row["efficiency"]), row["model"]
        assert (float(cells[6]), float(cells[8])) == (row["tpu_ms"], row["gpu_ms"]), row["model"]


@pytest.mark.skipif(not GPUNET.exists(), reason="the papers' text (../shared/papers) is not beside this checkout")
def test_gpunet_table3_transcription():
    from gpuefficient.papers import GPUNET_TABLE3

    text = GPUNET.read_text()
    table = text[text.index("Without Distillation"):text.index("With Distillation")]
    rows = [line.replace("<b>", "").replace("</b>", "").split("\t") for line in table.splitlines() if "\t" in line]
    lines = {row[0].split(" [")[0]: row for row in rows}
    for model, (top1, trt_ms, params_m, gflops, _) in GPUNET_TABLE3.items():
        cells = [float(c.rstrip(".")) for c in lines[model][1:5]]
        assert cells == [top1, trt_ms, params_m, gflops], model


@pytest.mark.skipif(not ARXIV.exists(), reason="the papers' text (../shared/papers) is not beside this checkout")
def test_efficientnet_x_tables_5_and_6_transcription():
    import re

    from gpuefficient.papers import EFFICIENTNET_X_TABLE5, EFFICIENTNET_X_TABLE6

    text = ARXIV.read_text()
    for model, pairs in EFFICIENTNET_X_TABLE6.items():
        line = next(l for l in text.splitlines() if l.startswith(model + " ("))
        found = [tuple(map(int, p)) for p in re.findall(r"\((\d+), (\d+)\)", line)]
        assert found == list(pairs), model
    for level, (coefficients, pair) in EFFICIENTNET_X_TABLE5.items():
        line = next(l for l in text.splitlines() if l.startswith(f"LACS at {level}"))
        assert str(coefficients).replace(" ", "") in line.replace(" ", "") and f"Depth: {pair[0]}, Res: {pair[1]}" in line
