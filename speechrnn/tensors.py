"""Helpers for padded batches: valid-position masks and reversing each item's valid steps."""

from __future__ import annotations

import torch


def lengths_to_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """(batch,) lengths -> (batch, max_length) bool mask, True on valid positions."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first ``lengths[b]`` steps of each item of (batch, time, dim); padding stays put."""
    time = torch.arange(x.size(1), device=x.device)[None, :]
    index = torch.where(time < lengths[:, None], lengths[:, None] - 1 - time, time)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))
