"""Mel-axis warps (training augmentation, ``augment.freq_warp``): warp_mel moves spectral peaks by a
known factor; random warps stay within their bounds."""

from __future__ import annotations

import torch

from speechrnn.augment import warp_frequency, warp_mel

torch.set_num_threads(1)



def peak(bin_index: int, batch: int = 1, frames: int = 3, bins: int = 80) -> torch.Tensor:
    """(batch, frames, bins) zeros with 1 at ``bin_index`` in every frame."""
    feats = torch.zeros(batch, frames, bins)
    feats[..., bin_index] = 1.0
    return feats


def test_warp_mel_moves_a_peak_by_the_factor_and_keeps_timing():
    assert torch.equal(warp_mel(peak(20), 1.0), peak(20))
    assert torch.equal(warp_mel(peak(20), 2.0), peak(10))  # output bin k reads input bin 2k
    stretched = warp_mel(peak(20), 0.5)[0, 0]  # output bin k reads input bin k / 2
    assert stretched[40] == 1.0 and stretched[39] == stretched[41] == 0.5
    assert stretched.sum() == 2.0 and stretched[:39].sum() == 0 and stretched[42:].sum() == 0
    # one factor per item: each item warped as if alone
    both = warp_mel(peak(20, batch=2), torch.tensor([[2.0], [1.0]]))
    assert torch.equal(both[0], peak(10)[0]) and torch.equal(both[1], peak(20)[0])
    # compressing reads past the top bin: it repeats the top bin (bins 53-79 read 79.5-118.5)
    top = warp_mel(peak(79), 1.5)[0, 0]
    assert top[53:].eq(1).all() and top[:53].eq(0).all()


def test_random_warp_stays_within_its_bounds():
    torch.manual_seed(0)
    out = warp_frequency(peak(40, batch=64, frames=1), 0.1)
    centre = (out[:, 0] * torch.arange(80)).sum(dim=-1) / out[:, 0].sum(dim=-1)  # 40 / factor, to a bin
    assert centre.min() >= 40 / 1.1 - 0.5 and centre.max() <= 40 / 0.9 + 0.5
    assert centre.max() - centre.min() > 4  # the factors do vary
