"""Audio in, text out: ``transcribe(model, audio)`` for one whole file, array or tensor
(``SpeechRNN.transcribe`` binds to it; ``speechrnn transcribe`` is speechrnn.commands.transcribe).
"""

from __future__ import annotations

import torch

from speechrnn.audio import load_audio
from speechrnn.decode import Transcription, classification_result, decode_ctc, decoding_options


@torch.inference_mode()
def transcribe(model, audio, sample_rate: int | None = None, speaker=None, **options) -> Transcription:
    """Transcribe (CTC) or classify one path / array / tensor with ``model``.

    ``sample_rate`` is the rate of an array input; it is resampled to the model's rate.
    ``speaker``: the speaker's ``speaker_norm.FeatureStats`` (``speaker_norm.enrol``), for a model
    with speaker normalisation; None runs it as if the speaker were its reference speaker.
    """
    config = model.config
    decoding = decoding_options(**options)  # checked before any work, for classifiers too
    samples = load_audio(audio, config.sample_rate, source_rate=sample_rate)
    batch = torch.from_numpy(samples).to(model.device).unsqueeze(0)
    stats = None if speaker is None else model.normalizer.adapted(speaker).unsqueeze(0)
    outputs, steps = model(batch, feature_stats=stats)
    duration = len(samples) / config.sample_rate
    if config.head == "classify":
        return classification_result(outputs[0], config.labels, duration)
    text, words = decode_ctc(
        outputs[0, : steps[0]].float().cpu(), config.labels, config.unit, config.frame_shift, decoding
    )
    return Transcription(text=text, words=tuple(words), duration=duration)
