"""Training configuration: one TOML file, plain dataclasses, ``--set section.key=value`` overrides.

Sections: ``[model]`` (ModelConfig), ``[data]``, ``[augment]`` (AugmentConfig), ``[optim]`` and
``[train]``. Every key has a default; an unknown section or key is a one-line ConfigError.
The resolved config is saved next to the run (``config.json``) and in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechrnn.augment import AugmentConfig
from speechrnn.errors import ConfigError
from speechrnn.model import ModelConfig


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)  # one or more JSONL manifests
    valid: str = ""
    noise: str = ""  # optional manifest of noise recordings for additive noise
    max_seconds: float = 60.0  # padded seconds of audio per (global) batch
    max_items: int = 0  # cap on utterances per batch; 0 = no cap
    num_workers: int = 2
    normalization_utterances: int = 500  # utterances used for the global mean/std


@dataclass
class OptimConfig:
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 200
    schedule: str = "cosine"  # "cosine" (to min_lr_ratio * lr) or "constant" after warm-up
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0
    label_smoothing: float = 0.0  # classify head only
    # CTC head, one label per utterance (isolated words): cross-entropy over every label's CTC score,
    # the closed-set decision that `evaluate --decoder closed_set` makes (discriminative training)
    closed_set: bool = False


@dataclass
class RunConfig:
    out_dir: str = "exp/run"
    epochs: int = 30
    max_steps: int = 0  # stop after this many optimizer steps (the LR schedule still spans all epochs); 0 = off
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16)
    compile: bool = False  # torch.compile the model
    threads: int = 0  # CPU intra-op threads; 0 = CPU cores minus loader workers (oversubscription is slow)
    init_from: str = ""  # fine-tune: start from this checkpoint's weights and feature normalisation


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs = {}
        for name, section_values in values.items():
            if name not in sections:
                raise ConfigError(f"unknown config section [{name}] (known: {', '.join(sections)})")
            if not isinstance(section_values, dict):
                raise ConfigError(f"config section [{name}] must be a table of keys")
            section_class = _SECTION_CLASSES[name]
            if section_class is ModelConfig:
                kwargs[name] = ModelConfig.from_dict(section_values)  # check_section, then its own checks
            else:
                kwargs[name] = section_class(**check_section(section_class, name, section_values))
        return cls(**kwargs)


_SECTION_CLASSES = {
    "model": ModelConfig,
    "data": DataConfig,
    "augment": AugmentConfig,
    "optim": OptimConfig,
    "train": RunConfig,
}

# --- the one type and range check of every section ------------------------------------------------
# Types come from the dataclass field annotations; a number must be finite and, unless listed
# here, >= 0 (list elements, such as gain_db's dB, may be negative).
_RULES = {
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    "in [0, 1]": lambda v: 0 <= v <= 1,
    "in [0, 1)": lambda v: 0 <= v < 1,
}
RANGES = {
    **{f"model.{k}": "> 0" for k in ("sample_rate", "n_fft", "hop_length", "n_mels", "subsampling_factor",
                                      "conv_channels", "hidden_size", "num_layers")},
    "model.dropout": "in [0, 1)",
    "data.max_seconds": "> 0",
    "data.normalization_utterances": "> 0",
    **{f"augment.{k}": "in [0, 1]" for k in ("band_limit_prob", "noise_prob", "eq_prob", "tone_prob",
                                              "spec_time_width")},
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            annotation is int and not isinstance(value, int)
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
            if section_class is ModelConfig:
                raise ConfigError(f"unknown model config key {key!r} (known: {', '.join(sorted(known))})")
            raise ConfigError(f"unknown config key {name}.{key} (known: {', '.join(sorted(known))})")
        if section_class is DataConfig and key == "train" and isinstance(value, str):
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


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string such as a path


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as TOML, else taken as strings)."""
    for override in overrides:
        key, sep, text = override.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"override {override!r} must look like section.key=value")
        values.setdefault(section, {})[name] = _parse_value(text.strip())
    return values


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a TOML (or a run's config.json) file and apply overrides -> TrainConfig."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            text = path.read_text(encoding="utf-8")
            values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: not a valid config file ({str(error).splitlines()[0]})") from None
    try:
        return TrainConfig.from_dict(apply_overrides(values, list(overrides)))
    except TypeError as error:
        raise ConfigError(f"bad config: {error}") from None
