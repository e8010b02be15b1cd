"""Training configuration: one TOML file, plain dataclasses, ``--set section.key=value`` overrides.

Sections: ``[model]`` (ModelConfig), ``[data]``, ``[augment]`` (AugmentConfig), ``[optim]`` and
``[train]``. Every key has a default; an unknown section or key is a one-line ConfigError.
The resolved config is saved next to the run (``config.json``) and in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speechrnn.augment import AugmentConfig
from speechrnn.errors import ConfigError
from speechrnn.fields import check_section
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
    init_from: str = ""  # fine-tune from this checkpoint: weights, feature normalisation, [model] (model_from_init)
    # model.subsampling="embedding" from scratch: the pretrained speech embedding's weights, openWakeWord's
    # embedding_model.onnx (recipes/commands/local/get_speech_embedding.py fetches it)
    embedding_from: str = ""
    # fine-tune the speech embedding's last N convolutions (0: frozen; its last block of 5 is N=5), at
    # embedding_lr_scale * optim.lr and without weight decay
    embedding_trainable: int = 0
    embedding_lr_scale: float = 0.1


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


def model_from_init(values: dict[str, Any]) -> dict[str, Any]:
    """With ``train.init_from``, every ``[model]`` key the config does not set comes from that
    checkpoint's ``model_config`` (labels included), not from the defaults: fine-tuning the bundled
    commands model needs no copy of its architecture, only the keys that should change (``labels``,
    ``dropout``); a key that is set and differs is still refused when the run builds its model."""
    run = values.get("train")
    source = run.get("init_from") if isinstance(run, dict) else None
    model = values.get("model", {})
    if not isinstance(source, str) or not source or not isinstance(model, dict):
        return values  # nothing to fill, or a malformed section that TrainConfig.from_dict names
    from speechrnn.model import load_checkpoint, resolve_model  # noqa: PLC0415 - only for init_from

    known = {f.name for f in dataclasses.fields(ModelConfig)}
    theirs = load_checkpoint(resolve_model(source))["model_config"]
    return {**values, "model": {**{k: v for k, v in theirs.items() if k in known}, **model}}


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a TOML (or a run's config.json) file and apply overrides -> TrainConfig (``[model]``
    completed from ``train.init_from``'s checkpoint, ``model_from_init``)."""
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
        return TrainConfig.from_dict(model_from_init(apply_overrides(values, list(overrides))))
    except TypeError as error:
        raise ConfigError(f"bad config: {error}") from None
