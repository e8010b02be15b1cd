"""scripts/bench_train.py runs end to end on a tiny budget and reports consistent figures."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_train"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_both_modes_report_medians(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = [
        "--workloads",
        "speech_commands",
        "--device",
        "cpu",
        "--max-seconds",
        "3",
        "--steps",
        "2",
        "--warmup",
        "0",
        "--num-workers",
        "0",
        "--json",
        str(out),
    ]
    assert bench.main(argv) == 0
    results = json.loads(out.read_text())
    assert [r["mode"] for r in results] == ["files", "memory"]
    for r in results:
        assert r["workload"] == "speech_commands" and r["device"] == "cpu" and r["steps"] == 2
        assert r["parameters"] == 1_831_436  # the 12-class recipe model (attention pooling has no bias)
        assert 1 <= r["utts_per_step"] <= 5  # 3 padded seconds of <= 1 s clips
        assert r["utts_per_s"] > 0 and r["peak_memory_mb"] > 0
        # audio-hours per hour = audio seconds per second: at most utterances/s x the longest clip, which is
        # 1 s as stored, up to 1 / 0.9 + 0.1 s after the recipe's speed perturbation and time shift
        longest = 1 / 0.9 + 0.1 if r["mode"] == "files" else 1.0
        assert 0 < r["audio_hours_per_hour"] <= r["utts_per_s"] * longest + 1e-9
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:3] == ["workload", "device", "mode"] and len(printed) == 3


def test_unknown_workload_is_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--workloads", "timit"])
