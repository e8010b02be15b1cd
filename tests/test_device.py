"""One device policy (speechrnn.device.resolve_device) for train, evaluate, pseudo-label and transcribe."""

from __future__ import annotations

import pytest
import torch

from speechrnn.device import resolve_device
from speechrnn.errors import ConfigError


def test_none_and_auto_pick_cuda_only_where_there_is_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_an_unknown_device_is_one_line_naming_the_setting():
    with pytest.raises(ConfigError, match=r"^train.device=gpu0: unknown device \(use cpu, cuda or cuda:N\)$"):
        resolve_device("gpu0", "train.device")


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="checks the message for a machine with at most 7 GPUs")
def test_a_missing_gpu_is_one_line_naming_the_setting():
    expected = "this machine has" if torch.cuda.is_available() else "CUDA is not available"
    with pytest.raises(ConfigError, match=rf"^--device=cuda:7 but {expected}"):
        resolve_device("cuda:7")
