"""What a model costs, independent of the machine: multiply-adds per encoder step, and per second of
audio for a keyword spotter that computes its encoder inputs once and re-runs its encoder over windows.
Timings on a shared machine swing with the hour; these counts do not.
"""

from __future__ import annotations


def multiply_adds_per_step(model) -> dict[str, float]:
    """Multiply-adds per encoder step (80 ms for the embedding): ``embedding`` (its convolutions, counted
    on one ``SpeechEmbedding.step`` over 10 steps) where the model has one, and ``GRU`` (every GRU
    cell of the encoder, 3 gates of ``hidden x (input + hidden)``; bias terms left out)."""
    import torch

    from speechrnn.embedding import STEP_FRAMES

    counts = {}
    if model.config.subsampling == "embedding":
        embedding = model.subsampling.embedding
        total = 0

        def count(conv, _inputs, output) -> None:
            nonlocal total
            total += output.numel() * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]

        state = embedding.initial_state()  # before the hooks: it runs the layers over the 68 frames of floor
        hooks = [conv.register_forward_hook(count) for conv in embedding.convolutions()]
        with torch.no_grad():
            embedding.step(torch.zeros(1, 10 * STEP_FRAMES, model.config.n_mels), state)
        for hook in hooks:
            hook.remove()
        counts["embedding"] = total / 10
    grus = [m for m in model.encoder.modules() if isinstance(m, torch.nn.GRU)]
    counts["GRU"] = float(sum(3 * g.hidden_size * (g.input_size + g.hidden_size) for g in grus))
    return counts


def spotter_multiply_adds_per_second(spotter) -> dict[str, float]:
    """An input-stream ``kws.KeywordSpotter`` (over a speech-embedding model) per second of audio:
    ``embedding`` once per step; ``encoder windows``, the encoder's GRUs over its ``window_width`` steps
    every ``hop_steps``; ``recogniser finals``, what a recogniser adds by classifying each step once more in
    its utterance's final (``RecognizerCore``'s shared inputs). Heads and log-mels are left out (small)."""
    model = spotter.model
    per_step = multiply_adds_per_step(model)
    steps = 1.0 / model.config.frame_shift
    return {
        "embedding": steps * per_step["embedding"],
        "encoder windows": steps * per_step["GRU"] * spotter.window_width / spotter.hop_steps,
        "recogniser finals": steps * per_step["GRU"],
    }
