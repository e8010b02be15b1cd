"""DDP: ``torchrun --nproc-per-node 2 -m speechrnn.train`` (gloo, CPU) equals one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speechrnn.audio import load_audio
from speechrnn.data import speech_commands as sc
from speechrnn.data.dataset import collate_audio
from speechrnn.data.manifest import read_manifest
from speechrnn.model import load_checkpoint, load_model

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")

CONFIG = """
[model]
head = "classify"
hidden_size = 16
num_layers = 2
subsampling = "stack"
subsampling_factor = 3
dropout = 0.0
pooling = "attention"

[data]
train = ["{manifests}/sc12_train.jsonl"]
valid = "{manifests}/sc12_valid.jsonl"
max_seconds = 100.0
max_items = 29  # 30 utterances: a 29-item global batch (ranks get 15 and 14 items, so loss normalisation
                # matters) and a 1-item batch, which both ranks compute (repeated) without changing the gradient
num_workers = 0
normalization_utterances = 50

[optim]
lr = 3e-3
warmup_steps = 2

[train]
epochs = 2
seed = 3
device = "cpu"  # gloo: two CPU processes, also where there is a GPU (the one-process run matches them)
"""


@pytest.fixture(scope="module")
def fixture_corpus(tmp_path_factory) -> Path:
    """The Speech Commands test fixture, written straight to disk and prepared (12-class task)."""
    from test_speech_commands import speech_commands_members

    root = tmp_path_factory.mktemp("ddp")
    data_dir = root / sc.DATA_FOLDER
    for name, content in speech_commands_members().items():
        path = data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    sc.build_task12(data_dir, root, root / "manifests", quiet=True)
    config = root / "tiny.toml"
    config.write_text(CONFIG.format(manifests=(root / "manifests").as_posix()))
    return config


def test_two_process_gloo_run_matches_one_process(fixture_corpus, tmp_path):
    from speechrnn.cli import main

    manifests = fixture_corpus.parent / "manifests"
    train_count = len(read_manifest(manifests / "sc12_train.jsonl"))
    assert train_count % 29 == 1  # one global batch has a single item

    single = tmp_path / "single"
    assert main(["train", str(fixture_corpus), "--quiet", "--set", f"train.out_dir={single}"]) == 0

    double = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "speechrnn.train",
        str(fixture_corpus),
        "--quiet",
        "--set",
        f"train.out_dir={double}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]

    one, two = load_checkpoint(single / "last.pt"), load_checkpoint(double / "last.pt")
    assert one["step"] == two["step"] == 2 * -(-train_count // 29)
    assert two["metadata"]["world_size"] == 2
    assert one["state_dict"].keys() == two["state_dict"].keys()
    # head.attention.bias shifts every attention score equally, which the softmax ignores: its gradient is
    # rounding noise that AdamW scales up to full-size steps, so it differs between runs without any effect.
    # Every other parameter must match, and so must the outputs (where that bias would show if it mattered).
    free = {"head.attention.bias"}
    for name, value in one["state_dict"].items():
        if name not in free:
            torch.testing.assert_close(two["state_dict"][name], value, atol=1e-5, rtol=0, msg=name)
    models = [load_model(single / "last.pt"), load_model(double / "last.pt")]
    audio, lengths = collate_audio(
        [torch.from_numpy(load_audio(u.audio)) for u in read_manifest(manifests / "sc12_test.jsonl")]
    )
    with torch.no_grad():
        torch.testing.assert_close(models[1](audio, lengths)[0], models[0](audio, lengths)[0], atol=1e-5, rtol=0)
    assert one["metadata"]["train_loss"] == pytest.approx(two["metadata"]["train_loss"], abs=1e-6)
