"""One device policy for training, evaluation and transcription."""

from __future__ import annotations

import torch

from speechrnn.errors import ConfigError


def resolve_device(name: str | None, setting: str = "--device") -> torch.device:
    """The torch device a user named: None or "auto" -> "cuda" when available, else "cpu".

    Raises:
        ConfigError: an unknown device, CUDA asked for where there is none, or a GPU index this
            machine does not have; the message names ``setting`` (e.g. "train.device", "--device").
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{setting}={name}: unknown device (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{setting}={name} but CUDA is not available")
        if device.index is not None and device.index >= (count := torch.cuda.device_count()):
            raise ConfigError(f"{setting}={name} but this machine has {count} GPU(s)")
    return device
