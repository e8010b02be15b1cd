"""SpeechRNN: LogMel -> normalisation -> subsampling -> (Bi)GRU encoder -> classify or CTC head.

The encoder runs in one of three modes, all sharing the same weights layout:

- full-utterance bidirectional (``chunk_size=0``, ``bidirectional=True``);
- unidirectional (``bidirectional=False``): streams frame by frame;
- latency-controlled chunked bidirectional (``chunk_size=C``, ``right_context=R``):
  the forward direction runs over the whole utterance with its state carried from
  chunk to chunk; the backward direction runs inside each chunk of C frames plus R
  frames of right context, from a zero state. Each chunk goes through all layers as
  one block, so the delay is C + R frames whatever the depth. Training uses the same
  computation (batched over chunks), so offline and streaming results are identical.

Padding never changes a result: every operation masks or ignores frames past an
item's length.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from speechrnn.atomic import atomic_write
from speechrnn.audio import LogMel, num_frames
from speechrnn.errors import ConfigError, ModelError
from speechrnn.fields import check_section
from speechrnn.speaker_norm import FeatureStats
from speechrnn.tensors import lengths_to_mask, reverse_padded
from speechrnn.vocab import Vocabulary

CHECKPOINT_FORMAT = 1
ASSETS = Path(__file__).parent / "assets"
BUNDLED_MODELS = {  # name -> checkpoint shipped with the package
    "digits": ASSETS / "digits_ctc.pt",  # connected digits, streaming chunked CTC
    "commands": ASSETS / "commands.pt",  # Speech Commands' 12 classes, BiGRU classifier
}
DEFAULT_MODEL = "digits"
BUNDLED_MODEL = BUNDLED_MODELS[DEFAULT_MODEL]


@dataclass
class ModelConfig:
    """Everything needed to rebuild a SpeechRNN; saved inside every checkpoint."""

    head: str = "ctc"  # "ctc" (per-frame log-probs, blank = index 0) or "classify"
    labels: list[str] = field(default_factory=list)  # classes, or CTC tokens without the blank
    unit: str = "word"  # CTC tokens are "word"s (joined by spaces) or "char"s (" " separates words)
    sample_rate: int = 16000
    n_fft: int = 400
    win_length: int = 0  # samples of the Hann window, centred in the n_fft; 0 = n_fft
    hop_length: int = 160
    n_mels: int = 80
    f_min: float = 0.0  # lowest mel frequency
    f_max: float | None = None  # highest mel frequency; 4000 makes 8 kHz and 16 kHz input look alike
    normalization: str = "global"  # "global" (mean/std from training data), "utterance" or "none"
    speaker_norm: str = "none"  # "mean"/"meanvar": per-speaker statistics mapped onto a reference (speaker_norm.py)
    # "none", "stack" (concatenate frames), "conv" (2 causal conv layers) or "embedding" (Google's
    # pretrained speech embedding, frozen unless train.embedding_trainable: 96 values every 8 frames
    # from the last 76; embedding.py)
    subsampling: str = "stack"
    subsampling_factor: int = 3  # frames merged by "stack"; "conv" always subsamples by 4
    conv_channels: int = 32
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    chunk_size: int = 0  # encoder frames per chunk for the backward direction; 0 = whole utterance
    right_context: int = 0  # encoder frames of lookahead for each chunk
    dropout: float = 0.1
    pooling: str = "attention"  # classify head: "mean" or "attention" over valid frames
    pool_window: int = 0  # classify head: pool only the last N encoder steps (a stream spotter's window); 0 = all

    def __post_init__(self) -> None:
        choices = {
            "head": ("ctc", "classify"),
            "unit": ("word", "char"),
            "normalization": ("global", "utterance", "none"),
            "speaker_norm": ("none", "mean", "meanvar"),
            "subsampling": ("none", "stack", "conv", "embedding"),
            "pooling": ("mean", "attention"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"model.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.speaker_norm != "none" and self.normalization != "global":
            raise ConfigError("model.speaker_norm needs model.normalization='global'")
        if self.chunk_size < 0 or self.right_context < 0:
            raise ConfigError("model.chunk_size and model.right_context must be >= 0")
        if self.chunk_size and not self.bidirectional:
            raise ConfigError("model.chunk_size applies to bidirectional models; set model.bidirectional=true")
        if self.right_context and not self.chunk_size:
            raise ConfigError("model.right_context needs model.chunk_size > 0")
        if not 0 <= self.win_length <= self.n_fft:
            raise ConfigError(f"model.win_length must be in 0..n_fft ({self.n_fft}), got {self.win_length}")
        if self.subsampling == "embedding":
            from speechrnn.embedding import EMBEDDING_FRONTEND  # noqa: PLC0415

            wrong = [f"{k}={v!r}" for k, v in EMBEDDING_FRONTEND.items() if getattr(self, k) != v]
            if wrong:
                needs = ", ".join(wrong)
                raise ConfigError(f"model.subsampling='embedding' needs the front end it was trained on: {needs}")
        if self.pool_window < 0:
            raise ConfigError("model.pool_window must be >= 0")
        if self.pool_window and self.head != "classify":
            raise ConfigError("model.pool_window applies to the classify head")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """A ``[model]`` table or a checkpoint's ``model_config`` -> ModelConfig; every key's type
        and range checked (``fields.check_section``), then the choices (``__post_init__``)."""
        if not isinstance(values, dict):
            raise ConfigError(f"model config must be a table of keys, got {type(values).__name__}")
        return cls(**check_section(cls, "model", values))

    @property
    def frame_shift(self) -> float:
        """Seconds between encoder output frames."""
        return self.hop_length * self.frames_per_step / self.sample_rate

    @property
    def full_utterance(self) -> bool:
        """A bidirectional encoder over the whole utterance (no chunks): it cannot stream step by step."""
        return self.bidirectional and not self.chunk_size

    @property
    def streams_by_step(self) -> bool:
        """Whether the model streams chunk by chunk (else a stream re-runs the buffered utterance)."""
        return not self.full_utterance and self.normalization != "utterance"

    @property
    def frames_per_step(self) -> int:
        """Feature frames merged into one encoder frame by subsampling."""
        return {"none": 1, "stack": self.subsampling_factor, "conv": 4, "embedding": 8}[self.subsampling]

    @property
    def num_outputs(self) -> int:
        """Model outputs: the labels, plus the CTC blank."""
        return Vocabulary.from_config(self).size


class FeatureNormalizer(nn.Module):
    """Global mean/std (from training data, saved in the checkpoint) or per-utterance normalisation.

    With ``speaker_norm`` "mean" or "meanvar" it also holds the reference speaker statistics
    (``reference_mean``, ``reference_std``) that ``adapted`` maps a speaker onto; see speaker_norm.py.
    """

    def __init__(self, mode: str, n_mels: int, speaker_norm: str = "none") -> None:
        super().__init__()
        self.mode = mode
        self.speaker_norm = speaker_norm
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))
        if speaker_norm != "none":
            self.register_buffer("reference_mean", torch.zeros(n_mels))
            self.register_buffer("reference_std", torch.ones(n_mels))

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=1e-5))

    def set_reference(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The average training speaker's speech-frame statistics, (n_mels,) each."""
        self.reference_mean.copy_(mean)
        self.reference_std.copy_(std.clamp(min=1e-3))

    def check_speaker_norm(self) -> None:
        """ConfigError unless this model normalises speakers (``speaker_norm`` "mean" or "meanvar")."""
        if self.speaker_norm == "none":
            raise ConfigError(
                "this model has no speaker normalisation (model.speaker_norm='none'); "
                "give it a reference with `speechrnn speaker-norm`"
            )

    def reference_statistics(self):
        """The reference speaker as ``speaker_norm.FeatureStats`` (CPU tensors)."""
        self.check_speaker_norm()
        return FeatureStats(self.reference_mean.cpu(), self.reference_std.cpu())

    def adapted(self, stats) -> torch.Tensor:
        """A speaker's speech-frame statistics (``.mean``, ``.std``: (n_mels,)) -> (2, n_mels): the
        (mean, std) that normalise that speaker's features as if they were the reference speaker's."""
        self.check_speaker_norm()
        ratio = torch.ones_like(self.std)
        if self.speaker_norm == "meanvar":
            ratio = self.reference_std / stats.std.to(self.std)
        mean = stats.mean.to(self.mean) + (self.mean - self.reference_mean) / ratio
        return torch.stack([mean, self.std / ratio])

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, frames, n_mels) -> same shape; frames past ``lengths`` are set to 0.

        ``stats`` (batch, 2, n_mels), optional: per-item (mean, std) used instead of the global
        pair (speaker normalisation, from ``adapted``).
        """
        mask = lengths_to_mask(lengths, feats.size(1)).unsqueeze(-1)
        if self.mode == "global":
            if stats is None:
                feats = (feats - self.mean) / self.std
            else:
                feats = (feats - stats[:, None, 0]) / stats[:, None, 1]
        elif self.mode == "utterance":
            count = lengths.clamp(min=1).view(-1, 1, 1).to(feats.dtype)
            mean = (feats * mask).sum(1, keepdim=True) / count
            var = (((feats - mean) * mask) ** 2).sum(1, keepdim=True) / count
            feats = (feats - mean) / (var + 1e-5).sqrt()
        return feats * mask


class Subsampling(nn.Module):
    """(batch, frames, n_mels) -> (batch, ceil(frames / factor), dim); frame-exact for streaming.

    "stack" concatenates ``factor`` consecutive frames; "conv" applies two Conv2d layers with
    stride 2 and kernel 3, padded causally in time (two frames of left context), so an output
    frame depends only on input frames up to its own; "embedding" is the pretrained
    ``embedding.SpeechEmbedding`` (step k from frames 8k - 68 .. 8k + 7, also causal).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.kind = config.subsampling
        self.factor = config.frames_per_step
        if self.kind == "conv":
            c = config.conv_channels
            self.conv = nn.Sequential(nn.Conv2d(1, c, 3, stride=2), nn.ReLU(), nn.Conv2d(c, c, 3, stride=2), nn.ReLU())
            freq = ((config.n_mels - 1) // 2 - 1) // 2
            self.output_dim = c * freq
        elif self.kind == "embedding":
            from speechrnn.embedding import EMBEDDING_DIM, SpeechEmbedding  # noqa: PLC0415

            self.embedding = SpeechEmbedding()
            self.output_dim = EMBEDDING_DIM
        else:
            self.output_dim = config.n_mels * self.factor

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths + self.factor - 1, self.factor, rounding_mode="floor")

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``lengths`` (batch,): valid frames, which "embedding" needs (its padding is a floor, not 0)."""
        batch, frames, dim = feats.shape
        steps = -(-frames // self.factor)
        if self.kind == "embedding":
            return self.embedding(feats, lengths)
        if self.kind == "conv":
            # causal in time: 2 frames of left padding per layer; pad the right to a whole step
            x = nn.functional.pad(feats, (0, 0, 2, steps * 4 - frames)).unsqueeze(1)
            x = self.conv[1](self.conv[0](x))
            x = nn.functional.pad(x, (0, 0, 2, 0))
            x = self.conv[3](self.conv[2](x))  # (batch, channels, steps, freq)
            return x.transpose(1, 2).flatten(2)
        if self.factor == 1:
            return feats
        feats = nn.functional.pad(feats, (0, 0, 0, steps * self.factor - frames))
        return feats.reshape(batch, steps, self.factor * dim)


GRU_WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")  # one direction's, torch.gru's order


class GRULayer(nn.Module):
    """One encoder layer: a forward GRU and, for bidirectional models, a backward GRU."""

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool) -> None:
        super().__init__()
        self.forward_gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.backward_gru = nn.GRU(input_size, hidden_size, batch_first=True) if bidirectional else None

    def backward_direction(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Backward GRU over the first ``lengths[b]`` steps of each item, from a zero state."""
        out, _ = self.backward_gru(reverse_padded(x, lengths))
        return reverse_padded(out, lengths)

    def both_directions(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, steps, input) without padding -> (batch, steps, 2 hidden): both GRUs in one fused call
        (the same arithmetic as ``forward_gru`` and ``backward_direction``, without reversing copies)."""
        params = [getattr(gru, name) for gru in (self.forward_gru, self.backward_gru) for name in GRU_WEIGHTS]
        state = x.new_zeros(2, x.size(0), self.forward_gru.hidden_size)
        out, _ = torch.gru(x, state, params, True, 1, 0.0, False, True, True)
        return out


class GRUEncoder(nn.Module):
    """Stack of GRU layers in full, unidirectional or latency-controlled chunked mode."""

    def __init__(self, input_size: int, config: ModelConfig) -> None:
        super().__init__()
        self.chunk_size = config.chunk_size
        self.right_context = config.right_context
        self.dropout = nn.Dropout(config.dropout)
        directions = 2 if config.bidirectional else 1
        self.layers = nn.ModuleList(
            GRULayer(
                input_size if i == 0 else config.hidden_size * directions, config.hidden_size, config.bidirectional
            )
            for i in range(config.num_layers)
        )
        self.output_size = config.hidden_size * directions

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, steps, input_size), (batch,) -> (batch, steps, output_size)."""
        if self.chunk_size:
            return self._forward_chunked(x, lengths)
        fused = self._unpadded_inference(x, lengths)
        for i, layer in enumerate(self.layers):
            if i:
                x = self.dropout(x)
            if fused and layer.backward_gru is not None:
                x = layer.both_directions(x)
                continue
            out, _ = layer.forward_gru(x)
            if layer.backward_gru is not None:
                out = torch.cat([out, layer.backward_direction(x, lengths)], dim=-1)
            x = out
        return x

    @staticmethod
    def _unpadded_inference(x: torch.Tensor, lengths: torch.Tensor) -> bool:
        """Whether both directions can run as one fused GRU: no gradients, not tracing, and no item padded
        (a streaming spotter's window, one utterance's final, a batch of equal clips). (The ONNX export
        builds its encoder graph node by node, never through here; asking ``torch.onnx`` would import it,
        55 ms of every process's first inference.)"""
        if torch.is_grad_enabled() or torch.jit.is_tracing():
            return False
        return int(lengths.min()) == x.size(1)

    def _forward_chunked(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Latency-controlled mode, batched over chunks; see ``stream_chunk`` for the same per chunk."""
        batch, steps, _ = x.shape
        size, right = self.chunk_size, self.right_context
        chunks = -(-steps // size)
        main = nn.functional.pad(x, (0, 0, 0, chunks * size + right - steps))
        # right context of chunk k: input steps [kC + C, kC + C + R), zero past the end
        index = (torch.arange(chunks, device=x.device) * size + size)[:, None] + torch.arange(right, device=x.device)
        context = main[:, index]  # (batch, chunks, R, dim)
        main = main[:, : chunks * size]
        # valid steps of each block of C + R steps (the backward direction starts at its last one)
        starts = torch.arange(chunks, device=x.device) * size
        block_lengths = (lengths[:, None] - starts[None, :]).clamp(0, size + right).reshape(-1)
        block_lengths = block_lengths.clamp(min=1)  # blocks wholly in padding: any value, masked later
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if i:
                main, context = self.dropout(main), self.dropout(context)
            forward_main, _ = layer.forward_gru(main)  # (batch, chunks*C, H)
            blocks = torch.cat([main.reshape(batch, chunks, size, -1), context], dim=2).flatten(0, 1)
            backward = layer.backward_direction(blocks, block_lengths)  # (batch*chunks, C+R, H)
            main = torch.cat([forward_main, backward[:, :size].reshape(batch, chunks * size, -1)], dim=-1)
            if i == last:  # the right context only feeds the next layer
                break
            # forward direction over the right context continues from the state at the chunk's end
            ends = forward_main[:, size - 1 :: size]  # (batch, chunks, H)
            if right:
                initial = ends.reshape(1, batch * chunks, -1).contiguous()
                forward_context, _ = layer.forward_gru(context.reshape(batch * chunks, right, -1), initial)
            else:
                forward_context = forward_main.new_zeros(batch * chunks, 0, forward_main.size(-1))
            context = torch.cat([forward_context, backward[:, size:]], dim=-1).reshape(
                batch, chunks, right, main.size(-1)
            )
        return main[:, :steps]

    def initial_state(self, batch: int = 1, device: torch.device | str = "cpu") -> torch.Tensor:
        """Carried forward-direction state: (num_layers, batch, hidden_size) zeros."""
        hidden = self.layers[0].forward_gru.hidden_size
        return torch.zeros(len(self.layers), batch, hidden, device=device)

    def stream_chunk(
        self, main: torch.Tensor, context: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode one chunk for streaming, the same computation as the offline forward.

        Args:
            main: (batch, C', input_size) the chunk's steps (C' <= chunk_size only at the end;
                any number of steps for a unidirectional model).
            context: (batch, R', input_size) right-context steps (R' <= right_context; 0 at the end).
            state: (num_layers, batch, hidden) forward states after the previous chunk.

        Returns:
            (batch, C', output_size) encoder outputs for ``main`` and the new state.
        """
        if self.layers[0].backward_gru is not None and not self.chunk_size:
            raise ModelError("a full-utterance bidirectional model cannot stream chunk by chunk")
        new_state = []
        size = main.size(1)
        for i, layer in enumerate(self.layers):
            forward_main, h = layer.forward_gru(main, state[i : i + 1].contiguous())
            new_state.append(h)
            if layer.backward_gru is None:
                main = forward_main
                continue
            backward, _ = layer.backward_gru(torch.cat([main, context], dim=1).flip(1))
            backward = backward.flip(1)
            main = torch.cat([forward_main, backward[:, :size]], dim=-1)
            if i == len(self.layers) - 1:  # the right context only feeds the next layer
                break
            if context.size(1):
                forward_context, _ = layer.forward_gru(context, h)
            else:
                forward_context = forward_main[:, :0]
            context = torch.cat([forward_context, backward[:, size:]], dim=-1)
        return main, torch.cat(new_state, dim=0)


class ClassifyHead(nn.Module):
    """Pool valid frames (mean or attention) and map to class logits: (batch, steps, dim) -> (batch, classes).

    With ``window`` > 0 only the last ``window`` valid steps of each item are pooled: a model
    trained so (clips after random preceding speech) scores "the last second" of a stream from
    encoder outputs computed once, which is how ``kws.KeywordSpotter`` runs a streaming encoder.
    """

    def __init__(self, input_size: int, num_classes: int, pooling: str, window: int = 0) -> None:
        super().__init__()
        self.pooling = pooling
        self.window = window
        # no bias: it would cancel in the softmax and only collect rounding noise
        self.attention = nn.Linear(input_size, 1, bias=False) if pooling == "attention" else None
        self.output = nn.Linear(input_size, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lengths, x.size(1))
        if self.window:
            mask &= torch.arange(x.size(1), device=x.device)[None, :] >= (lengths - self.window)[:, None]
        if self.attention is not None:
            scores = self.attention(x).squeeze(-1).masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=1)
        else:
            weights = mask.to(x.dtype) / mask.sum(dim=1).clamp(min=1)[:, None].to(x.dtype)
        return self.output((weights.unsqueeze(-1) * x).sum(dim=1))


class SpeechRNN(nn.Module):
    """Audio in, class logits (classify) or per-frame CTC log-probabilities (ctc) out."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not config.labels:
            raise ConfigError("model.labels is empty: a model needs its classes or CTC tokens")
        self.config = config
        self.frontend = LogMel(
            config.sample_rate,
            config.n_fft,
            config.hop_length,
            config.n_mels,
            f_min=config.f_min,
            f_max=config.f_max,
            win_length=config.win_length or None,
        )
        self.normalizer = FeatureNormalizer(config.normalization, config.n_mels, config.speaker_norm)
        self.subsampling = Subsampling(config)
        self.encoder = GRUEncoder(self.subsampling.output_dim, config)
        self.dropout = nn.Dropout(config.dropout)
        if config.head == "classify":
            self.head = ClassifyHead(self.encoder.output_size, config.num_outputs, config.pooling, config.pool_window)
        else:
            self.head = nn.Linear(self.encoder.output_size, config.num_outputs)

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def features(
        self, audio: torch.Tensor, audio_lengths: torch.Tensor, feature_stats: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, samples), (batch,) -> normalised log-mels (batch, frames, n_mels), (batch,) frames.

        ``feature_stats`` (batch, 2, n_mels): per-item normaliser (mean, std), see ``FeatureNormalizer``.
        """
        lengths = num_frames(audio_lengths, self.config.hop_length)
        audio = audio * lengths_to_mask(audio_lengths, audio.size(1)).to(audio.dtype)  # padding may hold anything
        feats = self.frontend(audio)
        return self.normalizer(feats, lengths, feature_stats), lengths

    def encode(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised features -> head outputs and their lengths.

        Returns:
            classify: (batch, classes) logits and (batch,) encoder lengths;
            ctc: (batch, steps, len(labels) + 1) log-probabilities (blank = 0) and (batch,) steps.
        """
        feats = feats * lengths_to_mask(lengths, feats.size(1)).unsqueeze(-1).to(feats.dtype)
        x = self.subsampling(feats, lengths)
        steps = self.subsampling.output_lengths(lengths)
        x = self.dropout(self.encoder(x, steps))
        return self.output(x, steps), steps

    def output(self, encoded: torch.Tensor, steps: torch.Tensor | None) -> torch.Tensor:
        """Apply the head to encoder outputs (batch, steps, dim): (batch, classes) logits over the valid
        ``steps`` (batch,) of each item, or CTC log-probabilities (batch, steps, outputs) (``steps`` unused)."""
        if self.config.head == "classify":
            return self.head(encoded, steps)
        return self.head(encoded).float().log_softmax(dim=-1)

    def forward(
        self,
        audio: torch.Tensor,
        audio_lengths: torch.Tensor | None = None,
        feature_transform=None,
        feature_stats: torch.Tensor | None = None,
    ):
        """(batch, samples) audio at ``config.sample_rate`` -> see ``encode``.

        ``feature_transform(feats, lengths) -> feats`` (e.g. SpecAugment) runs between the
        normalised features and the encoder; training passes it so that DDP sees one forward.
        ``feature_stats`` (batch, 2, n_mels): per-item normaliser statistics (speaker normalisation).
        """
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        if audio_lengths is None:
            audio_lengths = torch.full((audio.size(0),), audio.size(1), device=audio.device)
        feats, lengths = self.features(audio, audio_lengths, feature_stats)
        if feature_transform is not None:
            feats = feature_transform(feats, lengths)
        return self.encode(feats, lengths)

    def transcribe(self, audio, sample_rate: int | None = None, speaker=None, **options):
        """Transcribe or classify one path, array or tensor; returns a ``decode.Transcription``.

        ``sample_rate`` is the rate of an array input (files carry their own); ``speaker``: the
        speaker's statistics from ``speaker_norm.enrol`` (models with speaker normalisation);
        keyword options go to ``decode.DecodingOptions``.
        """
        from speechrnn.transcribe import transcribe

        return transcribe(self, audio, sample_rate=sample_rate, speaker=speaker, **options)


def save_checkpoint(path: str | os.PathLike, model: SpeechRNN, **extra: Any) -> None:
    """Write a checkpoint atomically (temp file + rename).

    The checkpoint holds ``format``, ``model_config`` (labels included), ``state_dict`` (no
    ``module.``/``_orig_mod.`` prefixes; the feature statistics and any speaker reference are
    normaliser buffers) and any ``extra`` entries (``train_config``, ``metadata``, ``optimizer``,
    ...), all loadable with ``weights_only=True``. Older checkpoints also carry ``labels`` and
    ``normalization`` blocks, which duplicate these and are not read.
    """
    model = getattr(model, "module", model)
    model = getattr(model, "_orig_mod", model)
    config = model.config
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model_config": dataclasses.asdict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    with atomic_write(path) as f:
        torch.save(checkpoint, f)


def _check_archive(path: Path) -> None:
    """ModelError if a zip checkpoint (torch.save's format) has a member whose CRC-32 does not match
    its bytes: a flipped bit inside tensor data that ``torch.load`` itself would not notice."""
    try:
        if not zipfile.is_zipfile(path):
            return  # torch's legacy format (or not a checkpoint: torch.load will say)
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ModelError(f"{path}: damaged checkpoint ({error})") from None
    if damaged is not None:
        raise ModelError(f"{path}: damaged checkpoint (checksum mismatch in {damaged})")


def check_state_dict(model: nn.Module, state_dict: Any, path: str | os.PathLike = "checkpoint") -> None:
    """ModelError naming the first key unless ``state_dict`` has exactly ``model``'s keys and shapes,
    with finite values (NaN weights would transcribe everything as empty text)."""
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ModelError(f"{path}: state_dict is not a table of tensors")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    for keys, what in ((missing, "lacks weight"), (unexpected, "has unexpected weight")):
        if keys:
            more = f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""
            raise ModelError(f"{path}: state_dict {what} {keys[0]!r}{more}: it does not match its model_config")
    for key, value in state_dict.items():
        if value.shape != expected[key].shape:
            raise ModelError(
                f"{path}: weight {key!r} has shape {tuple(value.shape)}, its model_config needs "
                f"{tuple(expected[key].shape)}"
            )
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ModelError(f"{path}: weight {key!r} holds NaN or infinite values")


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint dict with ``weights_only=True``; a clear ModelError if it cannot be read
    or has a format this version does not know (a checkpoint without ``format`` is format 1).

    Verified before use: the zip members' CRC-32s (a damaged file), and ``model_config`` and
    ``state_dict`` being tables.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    _check_archive(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a bad file
        raise ModelError(f"{path}: not a speechrnn checkpoint ({type(error).__name__})") from None
    if not isinstance(checkpoint, dict) or "model_config" not in checkpoint or "state_dict" not in checkpoint:
        raise ModelError(f"{path}: not a speechrnn checkpoint (no model_config/state_dict)")
    for key in ("model_config", "state_dict"):
        if not isinstance(checkpoint[key], dict):
            raise ModelError(
                f"{path}: not a speechrnn checkpoint ({key} is a {type(checkpoint[key]).__name__}, not a table)"
            )
    version = checkpoint.get("format", 1)
    if version != CHECKPOINT_FORMAT:
        raise ModelError(f"{path}: checkpoint format {version!r}, this speechrnn reads format {CHECKPOINT_FORMAT}")
    return checkpoint


def resolve_model(model: str | os.PathLike | None = None) -> Path:
    """A bundled model's name ("digits", "commands"; None = "digits") or a checkpoint path -> the file.

    A bundled name wins over a file of that name in the current folder (write "./commands" for
    the file). A path that does not exist is returned as it is when it looks like one (it has a
    folder or a suffix), so that loading it names the missing file.

    Raises:
        ModelError: a bundled model whose file is absent, or a name that is neither a bundled
            model nor an existing file (the message lists the names).
    """
    name = DEFAULT_MODEL if model is None else model
    if isinstance(name, str) and name in BUNDLED_MODELS:
        path = BUNDLED_MODELS[name]
        if not path.is_file():
            raise ModelError(f"bundled model {name!r} missing at {path}: reinstall speechrnn or pass a checkpoint path")
        return path
    path = Path(name)
    if path.is_file() or len(path.parts) > 1 or path.suffix:
        return path
    names = ", ".join(BUNDLED_MODELS)
    raise ModelError(f"unknown model {str(name)!r}: no such file, and not a bundled model ({names})")


def load_model(model: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> SpeechRNN:
    """Rebuild a model from a checkpoint path or a bundled model's name (``resolve_model``);
    ``None`` loads the bundled connected-digits model.

    Raises:
        ModelError: a missing, damaged or foreign file, a model_config that does not build, or
            weights that do not fit it or are not finite (``check_state_dict``), named in one line.
    """
    path = resolve_model(model)
    checkpoint = load_checkpoint(path)
    try:
        model = SpeechRNN(ModelConfig.from_dict(checkpoint["model_config"]))
    except (ConfigError, TypeError) as error:
        raise ModelError(f"{path}: checkpoint does not match the model ({str(error).splitlines()[0]})") from None
    check_state_dict(model, checkpoint["state_dict"], path)
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()


def export_model(checkpoint_path: str | os.PathLike, output_path: str | os.PathLike) -> None:
    """Copy a checkpoint without training state (optimizer, scheduler, RNG): a small file to ship."""
    checkpoint = load_checkpoint(checkpoint_path)
    model = load_model(checkpoint_path)
    save_checkpoint(output_path, model, **provenance(checkpoint))


PROVENANCE_KEYS = ("train_config", "metadata", "speaker_reference_manifests")


def provenance(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint says about how it was made (training config, metadata, the manifests its
    speaker reference came from): the entries a derived checkpoint keeps."""
    return {k: checkpoint[k] for k in PROVENANCE_KEYS if k in checkpoint}
