import json
import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from gpuefficient.analysis.costs import analyze
from gpuefficient.arch.nats import (CHANNELS, SPACE_SIZE, AccuracyTable, analyze_space, arch_string, build_member,
                                    index_of, members, parse)


def test_the_space_has_8_to_the_5_members_in_nats_bench_order():
    all_members = members()
    assert len(all_members) == len(set(all_members)) == SPACE_SIZE == 32768
    assert all_members[0] == (8, 8, 8, 8, 8) and all_members[-1] == (64, 64, 64, 64, 64)
    assert index_of("8:8:8:8:16") == 1 and index_of("16:8:8:8:8") == 8 ** 4
    rng = np.random.default_rng(0)
    for i in rng.integers(0, SPACE_SIZE, 50):
        assert index_of(all_members[i]) == i and parse(arch_string(all_members[i])) == all_members[i]
    assert {c for m in all_members for c in m} == set(CHANNELS) == set(range(8, 65, 8))


@pytest.mark.parametrize("bad", ["8:8:8:8", "8:8:8:8:12", "8:8:x:8:8", (8, 8, 8, 8, 72), 88888, "8:8:8:8:8:8"])
def test_bad_arch_names_are_refused(bad):
    with pytest.raises(ValueError, match="arch: got"):
        parse(bad)


def hand_params(c, classes=10):
    """All widths c: 3 cells of five 3x3 convs + BNs (identity skip), 2 reductions (two 3x3 conv-BN, a 1x1
    shortcut conv), stem conv + BN, last BN, classifier."""
    conv_bn = 9 * c * c + 2 * c
    return 3 * 5 * conv_bn + 2 * (2 * conv_bn + c * c) + (27 * c + 2 * c) + 2 * c + (c * classes + classes)


@pytest.mark.parametrize("c", [8, 40, 64])
def test_a_member_builds_with_the_definitions_parameters(c):
    net = build_member(f"{c}:{c}:{c}:{c}:{c}")
    assert sum(p.numel() for p in net.parameters()) == hand_params(c)


def test_a_member_runs_and_its_cells_follow_the_topology():
    net = build_member((8, 16, 24, 32, 64), num_classes=7).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    first_cell, _, mixed_cell = net.cells[0], net.cells[1], net.cells[2]
    assert isinstance(first_cell.skip_3_from_0, nn.Identity)           # 8 -> 8: identity skip
    assert isinstance(mixed_cell.skip_3_from_0, nn.Sequential)         # 16 -> 24: 1x1 conv + BN
    report = analyze(net, (1, 3, 32, 32))
    convs = [layer for layer in report.layers if layer.op == "convolution"]
    assert len(convs) == 1 + 3 * 5 + 2 + 2 * 3  # stem, 5 per cell, 2 skips (cells 2 and 3), 3 per reduction
    assert {layer.output_shape[-1] for layer in convs} == {32, 16, 8}


@pytest.fixture(scope="module")
def space():
    start = time.process_time()
    costs = analyze_space()
    return costs, time.process_time() - start


def test_the_space_costs_equal_whole_network_analyses(space):
    costs, cpu_seconds = space
    assert cpu_seconds < 60  # CPU time: this machine's wall time depends on its other users
    assert costs.flops.shape == (SPACE_SIZE,) and costs.channels.shape == (SPACE_SIZE, 5)
    rng = np.random.default_rng(1)
    picks = [0, SPACE_SIZE - 1, *rng.integers(0, SPACE_SIZE, 3)]
    all_members = members()
    for i in picks:
        report = analyze(build_member(all_members[i]), (1, 3, 32, 32))
        row = costs.row(all_members[i])
        assert (row["flops"], row["elementwise_flops"], row["params"], row["bytes"], row["fused_bytes"]) == (
            report.flops, report.elementwise_flops, report.params, report.bytes, report.fused_bytes), all_members[i]
        assert row["intensity"] == pytest.approx(report.intensity)
    assert costs.flops.argmin() == 0 and costs.flops.argmax() == SPACE_SIZE - 1
    assert costs.params[SPACE_SIZE - 1] == hand_params(64)


# --- accuracy tables ---------------------------------------------------------------------------------

def test_accuracy_from_csv_and_json(tmp_path):
    (tmp_path / "acc.csv").write_text("arch,accuracy\n8:8:8:8:8,80.5\n64:64:64:64:64,93.25\n")
    table = AccuracyTable.from_file(tmp_path / "acc.csv")
    assert table["64:64:64:64:64"] == 93.25 and table[(8, 8, 8, 8, 8)] == 80.5 and len(table) == 2
    assert "acc.csv" in table.provenance and table.metadata["source"] == "file"
    values = table.array()
    assert values.shape == (SPACE_SIZE,) and values[0] == 80.5 and values[-1] == 93.25
    assert np.isnan(values[1:-1]).all()  # never invented for members without a number

    (tmp_path / "acc.json").write_text(json.dumps({"8:16:24:32:40": 88.0}))
    assert AccuracyTable.from_file(tmp_path / "acc.json")["8:16:24:32:40"] == 88.0
    (tmp_path / "records.json").write_text(json.dumps([{"name": "8:16:24:32:40", "top1": 88.5}]))
    records = AccuracyTable.from_file(tmp_path / "records.json", arch_key="name", accuracy_key="top1",
                                      provenance="NATS-Bench sss, CIFAR-10, 90 epochs")
    assert records["8:16:24:32:40"] == 88.5 and records.provenance == "NATS-Bench sss, CIFAR-10, 90 epochs"


def test_accuracy_from_a_callable_on_a_sample():
    sample = members()[::4096]
    table = AccuracyTable.from_callable(lambda c: float(sum(c)), sample, "sum of channels (a test oracle)")
    assert len(table) == 8 and table[sample[3]] == sum(sample[3])
    assert table.metadata == {"source": "callable", "callable": "<lambda>", "members": 8}
    assert "8:16:8:8:8" not in table and sample[1] in table
    with pytest.raises(KeyError, match="8:16:8:8:8 has no accuracy"):
        table["8:16:8:8:8"]


def test_accuracy_table_errors(tmp_path):
    with pytest.raises(ValueError, match="arch: got '8:8:8:8:9'"):
        AccuracyTable({"8:8:8:8:9": 50.0}, "x")
    with pytest.raises(ValueError, match="accuracy\\['8:8:8:8:8'\\]: got nan"):
        AccuracyTable({"8:8:8:8:8": math.nan}, "x")
    with pytest.raises(ValueError, match="provenance"):
        AccuracyTable({"8:8:8:8:8": 50.0}, "")
    (tmp_path / "bad.csv").write_text("arch,accuracy\n8:8:8:8:8,high\n")
    with pytest.raises(ValueError, match="'high'"):
        AccuracyTable.from_file(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("model,acc\n8:8:8:8:8,50\n")
    with pytest.raises(ValueError, match="a record lacks .accuracy.*arch_key="):
        AccuracyTable.from_file(tmp_path / "cols.csv")
    with pytest.raises(ValueError, match="expected a .csv or .json"):
        (tmp_path / "a.txt").write_text("")
        AccuracyTable.from_file(tmp_path / "a.txt")
