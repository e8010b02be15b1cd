"""Training data pipeline: manifest dataset, padding collate, duration-bucketed batch sampler."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from speechrnn.audio import load_audio
from speechrnn.data.manifest import Utterance
from speechrnn.errors import DataError
from speechrnn.vocab import Vocabulary, split_tokens


def collate_audio(samples: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (samples,) float tensors -> zero-padded (batch, max_samples) and (batch,) lengths."""
    lengths = torch.tensor([len(s) for s in samples], dtype=torch.long)
    batch = torch.zeros(len(samples), int(lengths.max()), dtype=torch.float32)
    for i, s in enumerate(samples):
        batch[i, : len(s)] = s
    return batch, lengths


def load_utterance(utterance: Utterance, sample_rate: int) -> np.ndarray:
    """Samples of one manifest entry (honours ``offset``/``duration`` for a segment of a longer file)."""
    audio = load_audio(utterance.audio, sample_rate)
    if utterance.offset:
        start = int(round(utterance.offset * sample_rate))
        audio = audio[start : start + int(round(utterance.duration * sample_rate))]
    return audio


def transcript(utterance: Utterance) -> str:
    """The CTC target text: ``text``, or for an isolated-word row with only a ``label``, that label."""
    return " ".join((utterance.text if utterance.text is not None else utterance.label or "").split())


def targets_for(utterance: Utterance, vocab: Vocabulary) -> list[int]:
    """The model output ids to train one utterance towards: its class (classify) or its CTC tokens."""
    if vocab.head == "classify":
        if utterance.label not in vocab:
            raise DataError(f"{utterance.audio}: label {utterance.label!r} is not one of the model's labels")
        return [vocab.id(utterance.label)]
    tokens = vocab.tokens(transcript(utterance))
    unknown = [t for t in tokens if t not in vocab]
    if unknown:
        raise DataError(f"{utterance.audio}: token {unknown[0]!r} is not in the model's vocabulary")
    return vocab.ids(tokens)


def vocabulary(utterances: Sequence[Utterance], head: str, unit: str) -> list[str]:
    """Sorted labels (classify) or tokens (ctc) seen in ``utterances``."""
    if head == "classify":
        return sorted({u.label for u in utterances if u.label is not None})
    tokens: set[str] = set()
    for u in utterances:
        text = transcript(u)
        tokens.update(split_tokens(text, unit))
    return sorted(tokens)


def speaker_ids(utterances: Sequence[Utterance]) -> tuple[list[str], list[int]]:
    """The sorted distinct speakers of ``utterances`` and each one's index among them (-1: none given)."""
    speakers = sorted({u.speaker for u in utterances if u.speaker})
    index = {s: i for i, s in enumerate(speakers)}
    return speakers, [index.get(u.speaker, -1) for u in utterances]


class ManifestDataset(torch.utils.data.Dataset):
    """Manifest utterances as (audio (samples,) float32 tensor, targets list[int], speaker int).

    ``speaker`` indexes ``self.speakers`` (the sorted distinct speakers; -1: none given).

    ``augment`` (optional) maps (numpy waveform, numpy Generator) to an augmented waveform; it
    runs in the DataLoader workers, on the CPU. Items are fetched by index or by
    ``(index, epoch)`` (what ``BucketBatchSampler(with_epoch=True)`` yields); the generator is
    seeded from ``(seed, epoch, index)``, so an augmentation depends on nothing else.
    ``compose`` (optional, ``data.stream_examples.StreamExamples``) then turns the clip into a
    stream spotter's window (context from another training clip, keywords cut mid-word).
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        labels: Sequence[str],
        head: str,
        unit: str = "word",
        sample_rate: int = 16000,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        seed: int = 0,
        compose: Callable | None = None,
    ) -> None:
        self.utterances = list(utterances)
        self.head, self.unit, self.sample_rate = head, unit, sample_rate
        self.vocabulary = Vocabulary(tuple(labels), head, unit)
        self.augment, self.seed, self.compose = augment, seed, compose
        self.targets = [targets_for(u, self.vocabulary) for u in self.utterances]  # fail early
        self.speakers, self.speaker_ids = speaker_ids(self.utterances)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, list[int], int]:
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng((self.seed, epoch, i))
        audio, targets = self._augmented(i, rng), self.targets[i]
        if self.compose is not None:
            audio, targets = self.compose(audio, targets, rng, lambda r: self._augmented(int(r.integers(len(self))), r))
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), targets, self.speaker_ids[i]

    def _augmented(self, i: int, rng: np.random.Generator) -> np.ndarray:
        audio = load_utterance(self.utterances[i], self.sample_rate)
        return audio if self.augment is None else self.augment(audio, rng)


def collate_batch(items: Sequence[tuple[torch.Tensor, list[int], int]]) -> dict[str, torch.Tensor]:
    """Dataset items -> {"audio" (B, S), "audio_lengths" (B,), "targets" (sum of target lengths,),
    "target_lengths" (B,), "speakers" (B,)}; targets concatenated as ``ctc_loss`` wants (one id
    each for classify)."""
    audio, lengths = collate_audio([a for a, _, _ in items])
    targets = [t for _, t, _ in items]
    return {
        "speakers": torch.tensor([s for _, _, s in items], dtype=torch.long),
        "audio": audio,
        "audio_lengths": lengths,
        "targets": torch.tensor([x for t in targets for x in t], dtype=torch.long),
        "target_lengths": torch.tensor([len(t) for t in targets], dtype=torch.long),
    }


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of similar duration whose padded size (items x longest) stays within ``max_seconds``.

    Every epoch (``set_epoch``) reshuffles deterministically from ``seed``. Under DDP each rank
    gets its own slice ``[rank::world_size]`` of every global batch, so together the ranks see the
    same global batch as one process would. With ``even_batches`` (training: DDP synchronises every
    step) a global batch smaller than the world repeats its items until every rank has one, which
    leaves the mean loss, and so the gradient, as one process computes it; without it (evaluation)
    every item is used exactly once and a rank skips a batch with no share for it.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        max_items: int | None = None,
        with_epoch: bool = False,
        even_batches: bool = True,
    ) -> None:
        if max_seconds <= 0:
            raise DataError(f"max_seconds must be positive, got {max_seconds}")
        self.durations = list(durations)
        self.max_seconds, self.shuffle, self.seed = max_seconds, shuffle, seed
        self.rank, self.world_size, self.max_items = rank, world_size, max_items
        self.with_epoch = with_epoch  # yield (index, epoch) pairs for per-epoch augmentation seeds
        self.even_batches = even_batches
        self.epoch = 0
        self.batches = self._make_batches()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.batches = self._make_batches()

    def _make_batches(self) -> list[list[int]]:
        order = list(range(len(self.durations)))
        rng = random.Random(self.seed + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        # sort inside large pools: batches of similar length, still random across epochs
        pool = (
            100 * max(1, int(self.max_seconds // max(1e-3, np.median(self.durations)))) if self.shuffle else len(order)
        )
        order = [
            i for s in range(0, len(order), pool) for i in sorted(order[s : s + pool], key=self.durations.__getitem__)
        ]
        batches, batch, longest = [], [], 0.0
        for i in order:
            longest_with = max(longest, self.durations[i])
            full = self.max_items is not None and len(batch) >= self.max_items
            if batch and (longest_with * (len(batch) + 1) > self.max_seconds or full):
                batches.append(batch)
                batch, longest_with = [], self.durations[i]
            batch.append(i)
            longest = longest_with
        if batch:
            batches.append(batch)
        if self.shuffle:
            rng.shuffle(batches)
        self.sizes = [len(b) for b in batches]
        if self.even_batches:  # every rank gets at least one item
            batches = [[b[k % len(b)] for k in range(max(len(b), self.world_size))] for b in batches]
        return batches

    def repeated(self, k: int) -> bool:
        """Whether this rank's share of its ``k``-th batch only repeats another rank's item (a global
        batch smaller than the world, with ``even_batches``): its loss is not counted twice in logs."""
        return self.rank >= self.sizes[k]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            share = batch[self.rank :: self.world_size]
            if share:
                yield [(i, self.epoch) for i in share] if self.with_epoch else share

    def __len__(self) -> int:
        """Batches this rank yields."""
        return sum(1 for batch in self.batches if batch[self.rank :: self.world_size])
