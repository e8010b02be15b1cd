"""Type and range checks of a config section's values against its dataclass fields.

Used by ``config.py`` for every ``[section]`` of a training config and by ``ModelConfig.from_dict``
for ``[model]`` and a checkpoint's ``model_config``; it imports neither, so both can use it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from speechrnn.errors import ConfigError

_RULES = {
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    "in [0, 1]": lambda v: 0 <= v <= 1,
    "in [0, 1)": lambda v: 0 <= v < 1,
}
RANGES = {
    **{
        f"model.{k}": "> 0"
        for k in (
            "sample_rate",
            "n_fft",
            "hop_length",
            "n_mels",
            "subsampling_factor",
            "conv_channels",
            "hidden_size",
            "num_layers",
        )
    },
    "model.dropout": "in [0, 1)",
    "data.max_seconds": "> 0",
    "data.normalization_utterances": "> 0",
    **{
        f"augment.{k}": "in [0, 1]"
        for k in ("band_limit_prob", "noise_prob", "eq_prob", "tone_prob", "spec_time_width")
    },
    "augment.freq_warp": "in [0, 1)",
    "optim.grad_clip": "> 0",
    "optim.min_lr_ratio": "in [0, 1]",
    "optim.label_smoothing": "in [0, 1)",
    "train.epochs": "> 0",
    "train.log_every": "> 0",
}
NONEMPTY = {"train.out_dir", "train.device"}


def _type_name(annotation) -> str:
    """int, float, str, bool, list[str], float | None (as the dataclass says it)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return f"list[{_type_name(typing.get_args(annotation)[0])}]"
    return getattr(annotation, "__name__", str(annotation)) if annotation is not type(None) else "None"


def _checked(value: Any, annotation) -> Any:
    """``value`` converted to ``annotation`` (int -> float), or TypeError/ValueError."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        (annotation,) = [a for a in options if a is not type(None)]
    if typing.get_origin(annotation) is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        (item,) = typing.get_args(annotation)
        return [_checked(v, item) for v in value]
    if annotation is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if annotation in (int, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (annotation is int and not isinstance(value, int))
        ):
            raise TypeError
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return float(value) if annotation is float else value
    if annotation is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    return value


def check_section(section_class, name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Check one config section's ``values`` against ``section_class``'s fields -> the values to build it with.

    Keys must be fields; values must have the field's annotated type (an integer is taken where a
    number is expected; ``data.train`` also takes one manifest), numbers must be finite and in
    ``RANGES`` (else >= 0). Every problem is a one-line ConfigError naming ``name.key``.
    """
    hints = typing.get_type_hints(section_class)
    known = {f.name for f in dataclasses.fields(section_class)}
    checked = {}
    for key, value in values.items():
        if key not in known:
            if name == "model":
                raise ConfigError(f"unknown model config key {key!r} (known: {', '.join(sorted(known))})")
            raise ConfigError(f"unknown config key {name}.{key} (known: {', '.join(sorted(known))})")
        if name == "data" and key == "train" and isinstance(value, str):
            value = [value]  # data.train accepts one manifest or a list
        try:
            value = _checked(value, hints[key])
        except TypeError:
            raise ConfigError(f"config key {name}.{key} must be {_type_name(hints[key])}, got {value!r}") from None
        except ValueError as error:
            raise ConfigError(f"config key {name}.{key} {error}, got {value!r}") from None
        rule = RANGES.get(f"{name}.{key}", ">= 0")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not _RULES[rule](value):
            raise ConfigError(f"config key {name}.{key} must be {rule}, got {value!r}")
        if f"{name}.{key}" in NONEMPTY and not value.strip():
            raise ConfigError(f"config key {name}.{key} must not be empty")
        checked[key] = value
    return checked
