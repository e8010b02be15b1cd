"""The scoring engine under ``evaluate`` and ``pseudo_label``: an ensemble's models run over a
manifest in duration-sorted, padded batches (with each speaker's normalisation statistics), and
the ensemble's label posteriors from their outputs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from speechrnn.data.dataset import BucketBatchSampler, collate_audio, load_utterance, speaker_ids
from speechrnn.data.manifest import Utterance
from speechrnn.decode import label_scores
from speechrnn.errors import ConfigError
from speechrnn.speaker_norm import speaker_table


def prepare_ensemble(
    models: Sequence,
    utterances: Sequence[Utterance],
    device: str | torch.device | None,
    speaker_norm: bool,
    speaker_utterances: Sequence[Utterance] | None,
) -> tuple[list, list[torch.Tensor | None], list[str] | None]:
    """Models to run over ``utterances`` (``evaluate``, ``pseudo_label``): moved to ``device`` (None:
    where the first one is) in eval mode, each one's speaker table (``speaker_table``, from
    ``speaker_utterances`` or else ``utterances``; None without speaker normalisation or with
    ``speaker_norm`` False), and the speakers that get their own statistics (None: no model has any).
    """
    device = torch.device(device) if device is not None else models[0].device
    models = [m.to(device).eval() for m in models]
    enrolment = list(utterances if speaker_utterances is None else speaker_utterances)
    speakers, _ = speaker_ids(utterances)
    tables = [speaker_table(m, speakers, enrolment) if speaker_norm else None for m in models]
    if all(t is None for t in tables):
        return models, tables, None
    return models, tables, sorted(set(speakers) & {u.speaker for u in enrolment})


def model_outputs(
    models: Sequence,
    utterances: Sequence[Utterance],
    tables: Sequence[torch.Tensor | None],
    *,
    pad_seconds: float = 0.0,
    max_seconds: float = 60.0,
    num_workers: int = 0,
    quiet: bool = False,
    desc: str = "score",
):
    """Run every model of an ensemble over ``utterances`` in duration-sorted batches.

    ``tables`` holds each model's (speakers + 1, 2, n_mels) speaker table (``speaker_table``; its
    rows follow ``speaker_ids(utterances)``) or None. Yields, per batch, (manifest indices,
    [(outputs (batch, frames, labels) float32, steps (batch,)) per model] on the CPU, seconds of
    audio, seconds spent in the models).
    """
    device = models[0].device
    sample_rate = models[0].config.sample_rate
    _, speaker_index = speaker_ids(utterances)
    tables = [None if t is None else t.to(device) for t in tables]
    sampler = BucketBatchSampler([u.duration for u in utterances], max_seconds, shuffle=False)
    loader = torch.utils.data.DataLoader(
        _PaddedAudio(utterances, sample_rate, int(round(pad_seconds * sample_rate))),
        batch_sampler=sampler,
        collate_fn=_collate_indexed,
        num_workers=num_workers,
    )
    progress = tqdm(total=len(utterances), desc=desc, unit="utt", disable=quiet or not sys.stderr.isatty(), leave=False)
    with progress:
        for batch, audio, lengths in loader:
            tick = time.perf_counter()
            with torch.inference_mode():
                ids = torch.tensor([speaker_index[i] for i in batch], device=device)
                results = []
                for m, t in zip(models, tables, strict=True):
                    feats, frames = m.features(audio.to(device), lengths.to(device), None if t is None else t[ids])
                    results.append(m.encode(feats, frames))
                results = [(outputs.float().cpu(), steps.cpu()) for outputs, steps in results]
            yield batch, results, float(lengths.sum()) / sample_rate, time.perf_counter() - tick
            progress.update(len(batch))


def label_posteriors(results: Sequence[tuple[torch.Tensor, torch.Tensor]], head: str) -> torch.Tensor:
    """An ensemble's posterior over the model labels, (batch, labels), from ``model_outputs``'
    per-model (outputs, steps): classifiers by their mean class posteriors; CTC models by the
    softmax of their mean closed-set log-posteriors (each label alone as the candidate word).
    """
    if head == "classify":
        return torch.stack([outputs.softmax(dim=-1) for outputs, _ in results]).mean(dim=0)
    log_posteriors = [label_scores(outputs, steps).log_softmax(dim=-1) for outputs, steps in results]
    return torch.stack(log_posteriors).mean(dim=0).softmax(dim=-1)


class _PaddedAudio(torch.utils.data.Dataset):
    """Utterance i -> (i, (samples,) float32 tensor with ``pad`` zeros before and after)."""

    def __init__(self, utterances: Sequence[Utterance], sample_rate: int, pad: int) -> None:
        self.utterances, self.sample_rate, self.pad = utterances, sample_rate, np.zeros(pad, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        audio = load_utterance(self.utterances[i], self.sample_rate)
        return i, torch.from_numpy(np.concatenate([self.pad, audio, self.pad]))


def _collate_indexed(items: Sequence[tuple[int, torch.Tensor]]) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """-> (indices, (batch, samples) zero-padded audio, (batch,) lengths)."""
    audio, lengths = collate_audio([a for _, a in items])
    return [i for i, _ in items], audio, lengths


def check_same_labels(models: Sequence) -> None:
    """ConfigError unless every model of an ensemble has the same head, labels and unit."""
    first = models[0].config
    for other in models[1:]:
        c = other.config
        if (c.head, list(c.labels), c.unit) != (first.head, list(first.labels), first.unit):
            raise ConfigError("ensemble models must share head, labels and unit")
