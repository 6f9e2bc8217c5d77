"""Writers killed with SIGKILL at random moments leave files that are intact: the old version or the new
one (results), complete entries only and a table that opens (lookup table). Bounded: a few kills each."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow  # each kill restarts a writer process: seconds, not milliseconds

RESULTS_WRITER = """
import sys, itertools
from gpuefficient.book.results import write_json_atomic
write = lambda i: write_json_atomic(sys.argv[1], {"i": i, "rows": [{"x": j, "y": [j] * 50} for j in range(2000)]})
write(0)
print("ready", flush=True)  # one version on disk: every kill from here on lands on a later write
for i in itertools.count(1):
    write(i)
"""

TABLE_WRITER = """
import sys, itertools
from torch import nn
from gpuefficient.measure.lut import LatencyTable, units
from gpuefficient.measure.timer import Measurement, Task
fake = lambda module, x: Measurement(Task(), (1.2e-3, 1e-3, 0.9e-3), 0, "cpu", "fake")
fill = lambda width: table.fill(units(nn.Sequential(nn.Conv2d(3, width, 3), nn.Conv2d(width, 4, 1)), (1, 3, 8, 8)))
with LatencyTable(sys.argv[1], device="cpu", timer=fake) as table:
    widths = itertools.count(int(sys.argv[2]))  # each run starts on new units: the table grows
    fill(next(widths))  # the first fill pays for lazy imports (about 1 s on a cold CPU): not mid-write yet
    print("ready", flush=True)
    for width in widths:  # from here on a fill takes milliseconds: a kill lands mid-write
        fill(width)
"""


def _kill_after(code, path, seconds, wait_for=None, *args):
    child = subprocess.Popen([sys.executable, "-c", code, str(path), *map(str, args)], stdout=subprocess.PIPE,
                             text=True)
    if wait_for:
        assert child.stdout.readline().strip() == wait_for  # its imports done: kill it while it writes
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


def test_results_survive_sigkill_mid_write(tmp_path):
    from gpuefficient.book.results import read_json, write_json_atomic

    path, rng, finished = tmp_path / "r.json", random.Random(0), []
    for _ in range(6):
        _kill_after(RESULTS_WRITER, path, rng.uniform(0.1, 0.8), "ready")
        data = read_json(path)  # never half a file: the last complete version
        assert isinstance(data["i"], int) and len(data["rows"]) == 2000 and data["rows"][-1]["y"] == [1999] * 50
        finished.append(data["i"])
    assert max(finished) > 0, "no writer finished a second write: the kills came too early to test anything"
    leftovers = list(tmp_path.glob(".r.json.*.tmp"))
    write_json_atomic(path, {"i": -1})  # the next write clears what killed writers left behind
    assert not list(tmp_path.glob(".r.json.*.tmp")) and os.listdir(tmp_path) == ["r.json"]
    print(f"{len(leftovers)} orphaned temporary file(s) removed")


def test_lookup_table_survives_sigkill_mid_fill(tmp_path):
    from gpuefficient.measure.lut import LatencyTable

    path, rng, counts = tmp_path / "t.sqlite", random.Random(1), []
    for run in range(4):
        _kill_after(TABLE_WRITER, path, rng.uniform(0.05, 0.5), "ready", 1 + 1000 * run)
        with LatencyTable(path, device="cpu") as table:  # opens: integrity and plausibility checked
            frame = table.entries()
            counts.append(len(frame))
            assert frame.median_s.between(0.9e-3, 1.2e-3).all()
            assert all(json.loads(m)["times_s"] == [1.2e-3, 1e-3, 0.9e-3] for m in frame.measurement)
    # each run committed its first fill before "ready", so each adds to what earlier runs left: nothing lost
    assert all(later > earlier for earlier, later in zip([0] + counts, counts)), counts
