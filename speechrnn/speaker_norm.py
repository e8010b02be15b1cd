"""Speaker feature normalisation: per-speaker log-mel statistics mapped onto a training reference.

A speaker's microphone, level and vocal tract shift every log-mel band by a roughly constant
amount (FSDD's six speakers differ by up to 10 dB per band: ``recipes/fsdd/local/speaker_spectra.py``,
in git history at commit 47b6b09).
Kaldi removes this with per-speaker CMVN; here, as there, the statistics come from the speaker's
own unlabelled audio. Only speech frames count (frames within ``SPEECH_RANGE_DB`` of the loudest
frame of their utterance), so the silence around a word does not move them, unlike per-utterance
normalisation over all frames.

A model with ``speaker_norm`` "mean" or "meanvar" keeps its global normaliser and stores a
reference (the average training speaker's speech-frame mean and std). A speaker with statistics
(m, s) is mapped onto the reference (mR, sR) before the global normaliser (gm, gs)::

    x' = (x - m) * r + mR,  r = sR / s ("meanvar") or 1 ("mean")
    (x' - gm) / gs = (x - mean_eff) / std_eff,  std_eff = gs / r,  mean_eff = m + (gm - mR) / r

so adaptation is only a per-item (mean, std) in place of the global pair. Without statistics
(one file in ``speechrnn transcribe``, streaming) the model runs as if the speaker were the
reference. Training computes every training speaker's statistics (clean audio, before
augmentation) and normalises each utterance by its speaker's; ``speechrnn evaluate`` does the
same for the speakers of the manifest it scores. A model trained without it can be given a
reference afterwards (``with_speaker_norm``, ``speechrnn speaker-norm``): test-time speaker
normalisation.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from speechrnn.data.dataset import ManifestDataset, load_utterance
from speechrnn.data.manifest import Utterance
from speechrnn.errors import ConfigError, DataError

if TYPE_CHECKING:  # annotations only: the model imports this module
    from speechrnn.model import SpeechRNN

SPEECH_RANGE_DB = 30.0  # a frame is speech if its energy is within this of its utterance's loudest
MAX_UTTERANCES_PER_SPEAKER = 100  # in training: 100 utterances give stable statistics


@dataclass(frozen=True)
class FeatureStats:
    """Per-band mean and standard deviation of natural-log mel features: two (n_mels,) tensors."""

    mean: torch.Tensor
    std: torch.Tensor


def speech_frames(feats: torch.Tensor, range_db: float = SPEECH_RANGE_DB) -> torch.Tensor:
    """(frames, n_mels) natural-log mel power -> (frames,) bool: frame energy within ``range_db`` of the peak."""
    energy = torch.logsumexp(feats, dim=1)
    return energy >= energy.max() - range_db * math.log(10) / 10


class SpeakerAccumulator:
    """Running speech-frame statistics of one speaker, utterance by utterance.

    Optionally starts from a ``prior`` (e.g. the model's reference speaker) worth ``prior_frames``
    frames, so that a few seconds of a new speaker move the estimate only part of the way (a MAP
    estimate of mean and second moment, like Kaldi's online CMVN with global statistics as prior)::

        mean = (t * m0 + sum x) / (t + n),  E[x^2] = (t * (s0^2 + m0^2) + sum x^2) / (t + n)
    """

    def __init__(self, prior: FeatureStats | None = None, prior_frames: float = 0.0) -> None:
        if prior_frames < 0:
            raise ConfigError(f"prior_frames must be >= 0, got {prior_frames}")
        self.prior, self.prior_frames = prior, float(prior_frames) if prior is not None else 0.0
        self.reset()

    def reset(self) -> None:
        """Forget every utterance added; keep the prior."""
        self.frames = 0  # speech frames added
        self._sum = self._sum_sq = 0.0

    def add(self, feats: torch.Tensor) -> None:
        """Add one utterance's (frames, n_mels) natural-log mel power (its speech frames only)."""
        if not feats.size(0):
            return
        feats = feats.double()
        feats = feats[speech_frames(feats)]
        self._sum, self._sum_sq = self._sum + feats.sum(0), self._sum_sq + (feats**2).sum(0)
        self.frames += feats.size(0)

    def statistics(self) -> FeatureStats | None:
        """The current estimate (CPU tensors); before any speech frame, the prior (None without one)."""
        if not self.frames:
            return self.prior
        weight = self.prior_frames
        total, total_sq = self._sum.cpu(), self._sum_sq.cpu()
        if weight:
            m0, s0 = self.prior.mean.double().cpu(), self.prior.std.double().cpu()
            total, total_sq = total + weight * m0, total_sq + weight * (s0**2 + m0**2)
        mean = total / (weight + self.frames)
        std = (total_sq / (weight + self.frames) - mean**2).clamp(min=0).sqrt()
        return FeatureStats(mean.float(), std.float().clamp(min=1e-3))


@torch.no_grad()
def audio_statistics(frontend: torch.nn.Module, signals: Iterable[np.ndarray], name: str) -> FeatureStats:
    """Speech-frame statistics of one speaker's log-mels over ``signals`` (mono float32 arrays at
    the frontend's rate); ``frontend`` maps (1, samples) to (1, frames, n_mels) (``model.frontend``).

    Raises:
        DataError: no speech frames at all (only silent or empty audio), naming ``name``.
    """
    device = next(frontend.buffers()).device
    accumulator = SpeakerAccumulator()
    signals_seen = 0
    for signal in signals:
        signals_seen += 1
        audio = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32)).to(device)
        if audio.numel() and audio.abs().max():
            accumulator.add(frontend(audio[None])[0])
    if not accumulator.frames:
        raise DataError(f"{name}: no speech in {signals_seen} utterance(s), cannot normalise")
    return accumulator.statistics()


def speaker_statistics(
    frontend: torch.nn.Module,
    utterances: Sequence[Utterance],
    sample_rate: int,
    max_per_speaker: int | None = None,
    seed: int = 0,
) -> dict[str, FeatureStats]:
    """``audio_statistics`` of each speaker in a manifest (utterances without a speaker are skipped).

    Args:
        utterances: manifest entries; their audio is read as is, without augmentation.
        max_per_speaker: use at most this many utterances per speaker, drawn with ``seed`` (None: all).
    """
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for utterance in utterances:
        if utterance.speaker:
            by_speaker[utterance.speaker].append(utterance)
    stats = {}
    for speaker in sorted(by_speaker):
        chosen = by_speaker[speaker]
        if max_per_speaker is not None and len(chosen) > max_per_speaker:
            chosen = random.Random(f"{seed}:{speaker}").sample(chosen, max_per_speaker)
        signals = (load_utterance(u, sample_rate) for u in chosen)
        stats[speaker] = audio_statistics(frontend, signals, f"speaker {speaker!r}")
    return stats


def enrol(model, audio: Sequence) -> FeatureStats:
    """One speaker's statistics for ``model.transcribe(..., speaker=...)`` from recordings of that
    speaker (paths, arrays at the model's rate or tensors; a few clips of speech are enough).

    Raises:
        ConfigError: the model has no speaker normalisation.
        AudioError / DataError: an unreadable recording, or no speech in any of them.
    """
    from speechrnn.audio import load_audio

    model.normalizer.check_speaker_norm()
    rate = model.config.sample_rate
    return audio_statistics(model.frontend, (load_audio(a, rate) for a in audio), "speaker audio")


def reference_statistics(stats: dict[str, FeatureStats]) -> FeatureStats:
    """The average speaker: mean of the speakers' means and of their stds, each speaker weighted equally."""
    if not stats:
        raise DataError("speaker normalisation needs speakers: no manifest entry has a 'speaker'")
    return FeatureStats(
        torch.stack([s.mean for s in stats.values()]).mean(0), torch.stack([s.std for s in stats.values()]).mean(0)
    )


def fit_reference(model, utterances: Sequence[Utterance], seed: int = 0) -> dict[str, FeatureStats]:
    """Set ``model``'s reference to the average speaker of ``utterances`` (up to
    ``MAX_UTTERANCES_PER_SPEAKER`` each) and return those speakers' statistics."""
    stats = speaker_statistics(model.frontend, utterances, model.config.sample_rate, MAX_UTTERANCES_PER_SPEAKER, seed)
    reference = reference_statistics(stats)
    device = model.normalizer.mean.device
    model.normalizer.set_reference(reference.mean.to(device), reference.std.to(device))
    return stats


def stats_table(model, speakers: Sequence[str], stats: dict[str, FeatureStats]) -> torch.Tensor:
    """(len(speakers) + 1, 2, n_mels) effective normaliser (mean, std) per speaker; the last row
    (index -1) is the model's global pair, for utterances without a speaker or statistics."""
    normalizer = model.normalizer
    identity = torch.stack([normalizer.mean, normalizer.std]).cpu()
    rows = [normalizer.adapted(stats[s]).cpu() if s in stats else identity for s in speakers]
    return torch.stack([*rows, identity])


def speaker_table(model, speakers: Sequence[str], enrolment: Sequence[Utterance]) -> torch.Tensor | None:
    """(speakers + 1, 2, n_mels) normaliser statistics of each of ``speakers`` from that speaker's
    audio in ``enrolment``, for a model with speaker normalisation (None for any other)."""
    if model.config.speaker_norm == "none":
        return None
    wanted = set(speakers)
    stats = speaker_statistics(model.frontend, [u for u in enrolment if u.speaker in wanted], model.config.sample_rate)
    return stats_table(model, speakers, stats)


def speaker_tables(
    model: SpeechRNN, train_set: ManifestDataset, valid_set: ManifestDataset, seed: int, keep_reference: bool = False
):
    """Speaker normalisation (speaker_norm.py): set the model's reference from the training speakers
    (unless ``keep_reference``: a fine-tuned model keeps the reference its weights learnt with) and
    return each set's (speakers + 1, 2, n_mels) table of normaliser statistics; (None, None) if off.

    Validation speakers get statistics from their own validation audio, as ``evaluate`` does.
    """
    if model.config.speaker_norm == "none":
        return None, None
    rate = model.config.sample_rate
    if keep_reference:
        train_stats = speaker_statistics(model.frontend, train_set.utterances, rate, MAX_UTTERANCES_PER_SPEAKER, seed)
    else:
        train_stats = fit_reference(model, train_set.utterances, seed)
    valid_stats = speaker_statistics(model.frontend, valid_set.utterances, rate, MAX_UTTERANCES_PER_SPEAKER, seed)
    return stats_table(model, train_set.speakers, train_stats), stats_table(model, valid_set.speakers, valid_stats)


def batch_stats(table: torch.Tensor | None, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """Per-item normaliser statistics (batch, 2, n_mels) from a speaker table on the batch's device."""
    return None if table is None else table[batch["speakers"]]


def with_speaker_norm(model, utterances: Sequence[Utterance], mode: str = "meanvar", seed: int = 0):
    """A copy of a trained ``model`` that normalises speakers (``mode`` "mean" or "meanvar") onto the
    average speaker of ``utterances`` (normally the speakers it was trained on): test-time speaker
    normalisation for a model trained without it. Returns a SpeechRNN in eval mode.
    """
    if model.config.normalization != "global":
        raise ConfigError("speaker normalisation needs a model with global feature normalisation")
    adapted = type(model)(dataclasses.replace(model.config, speaker_norm=mode)).to(model.device)
    adapted.load_state_dict(model.state_dict(), strict=False)  # all but the new reference buffers
    fit_reference(adapted, utterances, seed)
    return adapted.eval()
