"""Train a SpeechRNN from a TOML config, on CPU, one GPU, or several with ``torchrun``.

    speechrnn train CONFIG [--set section.key=value ...] [--resume] [--quiet]
    torchrun --nproc-per-node N -m speechrnn.train CONFIG [--set ...]

Features are computed on the device inside the step; batches are bucketed by duration
under a padded-seconds budget. Under DDP every rank takes its slice of each global batch
and the loss is normalised by the global batch size, so N processes compute exactly the
update one process computes. ``last.pt`` (every epoch) and ``best.pt`` carry the model,
the full config, optimizer/scheduler/RNG state, step and best metric; ``--resume``
continues from ``last.pt`` as if never interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import random
import resource
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from speechrnn.atomic import atomic_write, remove_temp_files
from speechrnn.augment import WaveformAugment, spec_augment
from speechrnn.config import TrainConfig
from speechrnn.data.dataset import BucketBatchSampler, ManifestDataset, collate_batch, vocabulary
from speechrnn.data.manifest import read_manifest
from speechrnn.data.stream_examples import StreamExamples
from speechrnn.decode import greedy_path, label_scores
from speechrnn.device import resolve_device
from speechrnn.embedding import from_onnx as embedding_from_onnx
from speechrnn.errors import ConfigError, DataError, ModelError
from speechrnn.metrics import EditCounts, word_counts
from speechrnn.model import ModelConfig, SpeechRNN, check_state_dict, load_checkpoint, load_model, save_checkpoint
from speechrnn.speaker_norm import batch_stats, speaker_tables
from speechrnn.vocab import Vocabulary

# --- distributed helpers -------------------------------------------------------------------------


def setup_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world_size, device); starts a process group when launched by torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    if device_name == "cuda" and world_size > 1:
        device_name = f"cuda:{local_rank}"
    device = resolve_device(device_name, "train.device")
    if device.type == "cuda":
        if device.index is None:  # "cuda": the current GPU (set_device needs an index)
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world_size, device


def is_main_process() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized():
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


# --- pieces of the loop --------------------------------------------------------------------------


def build_model(config: TrainConfig, utterances) -> SpeechRNN:
    """The model a run trains: ``init_from``'s, or a new one (with the pretrained speech embedding's
    weights), its embedding's last ``train.embedding_trainable`` convolutions made trainable."""
    model = _new_or_pretrained_model(config, utterances)
    if config.train.embedding_trainable:
        if model.config.subsampling != "embedding":
            raise ConfigError("train.embedding_trainable needs model.subsampling='embedding'")
        model.subsampling.embedding.unfreeze(config.train.embedding_trainable)
    return model


def _new_or_pretrained_model(config: TrainConfig, utterances) -> SpeechRNN:
    model_values = config.model.__dict__.copy()
    if not model_values["labels"]:
        model_values["labels"] = vocabulary(utterances, config.model.head, config.model.unit)
    if config.train.init_from:
        return pretrained_model(config.train.init_from, ModelConfig(**model_values))
    model = SpeechRNN(ModelConfig(**model_values))
    if model.config.subsampling == "embedding":
        if not config.train.embedding_from:
            raise ConfigError(
                "model.subsampling='embedding' needs its pretrained weights: set train.embedding_from "
                "to embedding_model.onnx (recipes/commands/local/get_speech_embedding.py) or train.init_from"
            )
        model.subsampling.embedding.load_state_dict(embedding_from_onnx(config.train.embedding_from).state_dict())
    return model


def parameter_groups(model: SpeechRNN, config: TrainConfig) -> list[dict]:
    """AdamW's parameter groups: the model's, and with ``train.embedding_trainable`` the speech
    embedding's last convolutions at ``embedding_lr_scale`` times the learning rate, without weight
    decay (pretrained weights are kept near their values by the small rate, not pulled to 0)."""
    if not config.train.embedding_trainable:
        return [{"params": list(model.parameters())}]
    groups = {True: [], False: []}  # in the embedding (build_model unfroze its last convolutions) or not
    for name, parameter in model.named_parameters():
        groups[name.startswith("subsampling.embedding.")].append(parameter)
    lr = config.optim.lr * config.train.embedding_lr_scale
    return [{"params": groups[False]}, {"params": groups[True], "lr": lr, "weight_decay": 0.0}]


FINE_TUNABLE = ("dropout",)  # model settings that may differ from the init_from checkpoint's


def pretrained_model(path: str, config: ModelConfig) -> SpeechRNN:
    """The ``train.init_from`` checkpoint's model (weights and feature normalisation) with ``config``,
    which must describe the same model (only ``FINE_TUNABLE`` settings may differ), or the same model
    with other ``labels``: then the output layer keeps the rows of the labels both have (and the CTC
    blank's) and starts the others afresh, so a model pretrained on many words can be fine-tuned to a
    few of them, or given new ones."""
    pretrained = load_model(path)
    theirs, ours = dataclasses.asdict(pretrained.config), dataclasses.asdict(config)
    differ = [k for k in ours if ours[k] != theirs[k] and k not in (*FINE_TUNABLE, "labels")]
    if differ:
        raise ConfigError(
            f"train.init_from {path}: [model] differs from that checkpoint's in "
            + ", ".join(f"{k} ({ours[k]!r}, checkpoint {theirs[k]!r})" for k in differ)
        )
    model = SpeechRNN(config)
    state = pretrained.state_dict()
    if list(config.labels) != list(pretrained.config.labels):
        state = _relabelled_output(state, model, pretrained)
    model.load_state_dict(state)
    return model


def _relabelled_output(state: dict, model: SpeechRNN, pretrained: SpeechRNN) -> dict:
    """``pretrained``'s ``state`` with its output layer's rows moved to ``model``'s labels: a shared
    label (or the CTC blank) keeps its pretrained row, a new one keeps ``model``'s initial row."""
    ours, theirs = Vocabulary.from_config(model.config), Vocabulary.from_config(pretrained.config)
    rows = {ours.blank: theirs.blank} if ours.blank is not None else {}
    rows.update({ours.id(label): theirs.id(label) for label in ours.labels if label in theirs})
    state = dict(state)
    fresh = model.state_dict()
    for name in (n for n in fresh if n.startswith(OUTPUT_LAYER[model.config.head])):
        weights = fresh[name].clone()
        for new, old in rows.items():
            weights[new] = state[name][old]
        state[name] = weights
    return state


OUTPUT_LAYER = {"ctc": "head.", "classify": "head.output."}  # state-dict prefix of each head's output layer


def check_closed_set(model_config: ModelConfig, datasets) -> None:
    """``optim.closed_set`` needs a CTC model and exactly one label per utterance."""
    if model_config.head != "ctc":
        raise ConfigError("optim.closed_set is for CTC models (a classifier is trained closed-set already)")
    for dataset in datasets:
        for utterance, targets in zip(dataset.utterances, dataset.targets, strict=True):
            if len(targets) != 1:
                raise DataError(
                    f"{utterance.audio}: optim.closed_set needs one label per utterance, got {len(targets)} tokens"
                )


@torch.no_grad()
def fit_normalizer(model: SpeechRNN, dataset: ManifestDataset, count: int, seed: int) -> None:
    """Set the global feature mean/std from up to ``count`` training utterances (no augmentation)."""
    if model.config.normalization != "global":
        return
    indices = random.Random(seed).sample(range(len(dataset)), min(count, len(dataset)))
    total, total_sq, frames = 0.0, 0.0, 0
    (augment, compose), dataset.augment, dataset.compose = (dataset.augment, dataset.compose), None, None
    for i in indices:
        feats = model.frontend(dataset[i][0].unsqueeze(0))[0].double()
        total, total_sq, frames = total + feats.sum(0), total_sq + (feats**2).sum(0), frames + feats.size(0)
    dataset.augment, dataset.compose = augment, compose
    mean = total / frames
    model.normalizer.set_statistics(mean.float(), (total_sq / frames - mean**2).clamp(min=0).sqrt().float())


def learning_rate_factor(step: int, total_steps: int, config) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def item_losses(
    model_config: ModelConfig, outputs, steps, batch, label_smoothing: float, closed_set: bool = False
) -> torch.Tensor:
    """(batch,) loss per utterance: CTC negative log-likelihood, cross-entropy, or (``closed_set``)
    cross-entropy over the CTC scores of every label."""
    if model_config.head == "classify":
        return F.cross_entropy(outputs.float(), batch["targets"], reduction="none", label_smoothing=label_smoothing)
    vocab = Vocabulary.from_config(model_config)
    if closed_set:  # one token per utterance (check_closed_set): the targets are the labels
        return F.cross_entropy(label_scores(outputs, steps), batch["targets"] - vocab.offset, reduction="none")
    return F.ctc_loss(
        outputs.transpose(0, 1),
        batch["targets"],
        steps,
        batch["target_lengths"],
        blank=vocab.blank,
        reduction="none",
        zero_infinity=True,
    )


def count_errors(model_config: ModelConfig, outputs, steps, batch, closed_set: bool = False) -> tuple[float, float]:
    """(errors, total): misclassified utterances (classifiers, ``closed_set``), or word edit distance
    and reference words (greedy)."""
    if model_config.head == "classify":
        return float((outputs.argmax(-1) != batch["targets"]).sum()), float(len(outputs))
    vocab = Vocabulary.from_config(model_config)
    if closed_set:
        wrong = label_scores(outputs, steps).argmax(-1) != batch["targets"] - vocab.offset
        return float(wrong.sum()), float(len(outputs))
    counts, offset = EditCounts(), 0
    for i, target_length in enumerate(batch["target_lengths"].tolist()):
        ids = batch["targets"][offset : offset + target_length].tolist()
        offset += target_length
        runs = greedy_path(outputs[i, : steps[i]].float().cpu())
        counts = counts + word_counts(vocab.text(ids), vocab.text(t for t, _, _ in runs))
    return float(counts.errors), float(counts.reference_length)


def optimizer_step(loss: torch.Tensor, model, optimizer, scaler, grad_clip: float) -> None:
    """Backward (scaled for fp16), clip the gradient norm to ``grad_clip``, update."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def autocast(device: torch.device, enabled: bool):
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def validate(
    model: SpeechRNN, loader, device, amp: bool, speaker_table=None, closed_set: bool = False
) -> dict[str, float]:
    """Loss and error rate (accuracy errors or greedy WER) over this rank's share of ``loader``.

    ``speaker_table``: the validation speakers' normaliser statistics (``speaker_tables``), or None.
    ``closed_set``: the closed-set loss and errors (``optim.closed_set``).
    """
    model.eval()
    loss_sum = errors = total = items = 0.0
    for batch in loader:
        batch = to_device(batch, device)
        with autocast(device, amp):
            outputs, steps = model(
                batch["audio"], batch["audio_lengths"], feature_stats=batch_stats(speaker_table, batch)
            )
        loss_sum += float(item_losses(model.config, outputs, steps, batch, 0.0, closed_set).sum())
        e, t = count_errors(model.config, outputs, steps, batch, closed_set)
        errors, total, items = errors + e, total + t, items + len(batch["audio"])
    loss_sum, errors, total, items = all_reduce_sum([loss_sum, errors, total, items], device)
    return {"valid_loss": loss_sum / max(items, 1), "valid_error": errors / max(total, 1)}


def make_loader(dataset, sampler, num_workers: int, pin_memory: bool):
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batch,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def rng_state() -> dict:
    """Torch RNG states: they drive dropout, SpecAugment and the loader workers' seeds."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


RUN_FILES = ("best.pt", "last.pt", "log.csv")  # what a run directory holds that a new run would replace


def check_run_dir(out_dir: Path, resume: bool) -> None:
    """Before any work: the run folder must be creatable, and a new run (not ``resume``) refuses a
    folder that holds a previous run - never delete a trained model implicitly. ConfigError naming
    the folder and the ways on."""
    existing = next(p for p in (out_dir, *out_dir.parents) if p.exists() or p == Path(p.anchor or "."))
    if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        raise ConfigError(f"{out_dir}: cannot create the run folder there ({existing} is not a writable folder)")
    found = [name for name in RUN_FILES if (out_dir / name).exists()]
    if found and not resume:
        raise ConfigError(
            f"{out_dir}: holds a previous run ({', '.join(found)}); continue it with --resume, or train into "
            "a new train.out_dir (or delete that folder yourself)"
        )


class RunLog:
    """CSV and TensorBoard logs in the run directory (rank 0 only).

    ``resume_step``: the step of the checkpoint a run resumes from. Rows logged after it (an epoch
    whose checkpoint a kill interrupted) are dropped from ``log.csv`` and the TensorBoard folder is
    rewritten from the rows kept, so the logs continue exactly from the checkpoint, in one events file.
    """

    FIELDS = [
        "epoch",
        "step",
        "lr",
        "train_loss",
        "valid_loss",
        "valid_error",
        "utts_per_s",
        "audio_hours_per_hour",
        "peak_memory_mb",
        "elapsed_s",
    ]

    def __init__(self, out_dir: Path, enabled: bool, resume_step: int | None = None) -> None:
        self.enabled = enabled
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.path = out_dir / "log.csv"
        rows = self._rows_up_to(resume_step) if resume_step is not None else []
        with atomic_write(self.path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(self.FIELDS)
            writer.writerows([row.get(k, "") for k in self.FIELDS] for row in rows)
        shutil.rmtree(out_dir / "tb", ignore_errors=True)
        self.tensorboard = SummaryWriter(str(out_dir / "tb"))
        for row in rows:
            self._add_scalars({k: float(v) for k, v in row.items() if v not in ("", None)})
        self.tensorboard.flush()

    def _rows_up_to(self, step: int) -> list[dict]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            return [row for row in csv.DictReader(f) if row.get("step", "").isdigit() and int(row["step"]) <= step]

    def _add_scalars(self, row: dict) -> None:
        for key, value in row.items():
            if key not in ("epoch", "step") and value != "":
                self.tensorboard.add_scalar(key, value, int(row["step"]))

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(k, "") for k in self.FIELDS])
        self._add_scalars(row)
        self.tensorboard.flush()


# --- the loop ------------------------------------------------------------------------------------


def train(config: TrainConfig, resume: bool = False, quiet: bool = False) -> Path:
    """Train with ``config``; returns the path of the best checkpoint."""
    rank, world_size, device = setup_distributed(config.train.device)
    main = rank == 0
    out_dir = Path(config.train.out_dir)
    check_run_dir(out_dir, resume)
    if not config.data.train:
        raise ConfigError("data.train is empty: give one or more training manifests")
    if not config.data.valid:
        raise ConfigError("data.valid is empty: give a validation manifest")
    torch.manual_seed(config.train.seed)
    if device.type == "cpu":
        cores = len(os.sched_getaffinity(0)) // world_size
        torch.set_num_threads(config.train.threads or max(1, cores - config.data.num_workers))

    utterances = [u for path in config.data.train for u in read_manifest(path)]
    valid_utterances = read_manifest(config.data.valid)
    model = build_model(config, utterances)
    config.model = model.config  # labels resolved: the saved config rebuilds this exact model
    mc = model.config
    noise_files = [u.audio for u in read_manifest(config.data.noise)] if config.data.noise else []
    augment = WaveformAugment(config.augment, mc.sample_rate, noise_files) if config.augment.waveform_enabled else None
    compose = None
    if config.augment.stream_enabled:
        compose = StreamExamples(config.augment, Vocabulary.from_config(mc), mc.sample_rate)
    train_set = ManifestDataset(
        utterances, mc.labels, mc.head, mc.unit, mc.sample_rate, augment, config.train.seed, compose
    )
    valid_set = ManifestDataset(valid_utterances, mc.labels, mc.head, mc.unit, mc.sample_rate)
    if not config.train.init_from:  # a fine-tuned model keeps the normalisation its weights learnt with
        fit_normalizer(model, train_set, config.data.normalization_utterances, config.train.seed)
    if config.optim.closed_set:
        check_closed_set(mc, (train_set, valid_set))
    if mc.speaker_norm != "none" and main and not quiet:
        print(
            f"speaker normalisation: statistics of {len(train_set.speakers)} training and "
            f"{len(valid_set.speakers)} validation speakers",
            file=sys.stderr,
        )
    train_table, valid_table = speaker_tables(
        model, train_set, valid_set, config.train.seed, keep_reference=bool(config.train.init_from)
    )
    train_table, valid_table = (None if t is None else t.to(device) for t in (train_table, valid_table))
    model.to(device)

    max_items = config.data.max_items or None
    train_sampler = BucketBatchSampler(
        [u.duration for u in utterances],
        config.data.max_seconds,
        seed=config.train.seed,
        rank=rank,
        world_size=world_size,
        max_items=max_items,
        with_epoch=True,
    )
    valid_sampler = BucketBatchSampler(
        [u.duration for u in valid_utterances],
        config.data.max_seconds,
        shuffle=False,
        rank=rank,
        world_size=world_size,
        max_items=max_items,
        even_batches=False,
    )  # every validation item counted once
    pin = device.type == "cuda"
    train_loader = make_loader(train_set, train_sampler, config.data.num_workers, pin)
    valid_loader = make_loader(valid_set, valid_sampler, min(config.data.num_workers, 1), pin)

    optimizer = torch.optim.AdamW(parameter_groups(model, config), lr=config.optim.lr,
                                  weight_decay=config.optim.weight_decay)  # fmt: skip
    total_steps = config.train.epochs * len(train_sampler)  # max_steps cuts a run short, not its schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: learning_rate_factor(s, total_steps, config.optim)
    )
    scaler = torch.amp.GradScaler(
        "cuda", enabled=config.train.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    )
    start_epoch, step, best_error = 0, 0, float("inf")
    if resume:
        state = load_checkpoint(out_dir / "last.pt")
        if state.get("train_config", {}).get("model") != config.to_dict()["model"]:
            raise ConfigError(f"{out_dir / 'last.pt'}: --resume needs the same model config as that run")
        theirs = state.get("train_config", {}).get("train", {}).get("embedding_trainable", 0)
        if theirs != config.train.embedding_trainable:  # it decides which weights the optimizer holds
            raise ConfigError(
                f"{out_dir / 'last.pt'}: --resume needs that run's train.embedding_trainable ({theirs}), "
                f"not {config.train.embedding_trainable}"
            )
        check_state_dict(model, state["state_dict"], out_dir / "last.pt")
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, step, best_error = state["epoch"], state["step"], state["best_error"]
        set_rng_state(state["rng"])
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_temp_files(out_dir, ("last.pt", "best.pt", "config.json"))  # a checkpoint write that was killed
        with atomic_write(out_dir / "config.json", "w") as f:
            f.write(json.dumps(config.to_dict(), indent=2) + "\n")

    step_model = model
    if world_size > 1:
        step_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if pin else None)
    if config.train.compile:
        step_model = torch.compile(step_model)
    log = RunLog(out_dir, main, resume_step=step if resume else None)
    n_params = sum(p.numel() for p in model.parameters())
    if main and not quiet:
        print(
            f"model: {n_params / 1e6:.2f}M parameters, {len(mc.labels)} labels, device {device}, "
            f"{world_size} process(es); train {len(train_set)} utts, valid {len(valid_set)} utts",
            file=sys.stderr,
        )
    started = time.time()
    metadata = {"parameters": n_params, "train_utterances": len(train_set), "world_size": world_size}

    def feature_transform(feats, lengths):
        return spec_augment(feats, lengths, config.augment)

    for epoch in range(start_epoch, config.train.epochs):
        if config.train.max_steps and step >= config.train.max_steps:
            break
        train_sampler.set_epoch(epoch)
        model.train()
        epoch_loss = epoch_items = epoch_audio = 0.0
        epoch_start = time.time()
        bar = tqdm(
            train_loader,
            desc=f"epoch {epoch + 1}/{config.train.epochs}",
            leave=False,
            disable=quiet or not main or not sys.stderr.isatty(),
        )
        for k, batch in enumerate(bar):
            batch = to_device(batch, device)
            with autocast(device, config.train.amp):
                outputs, steps = step_model(
                    batch["audio"],
                    batch["audio_lengths"],
                    feature_transform=feature_transform,
                    feature_stats=batch_stats(train_table, batch),
                )
            losses = item_losses(mc, outputs, steps, batch, config.optim.label_smoothing, config.optim.closed_set)
            global_items = all_reduce_sum([float(len(losses))], device)[0]
            loss = losses.sum() / global_items * world_size  # DDP averages: sum over ranks / global items
            optimizer_step(loss, model, optimizer, scaler, config.optim.grad_clip)
            scheduler.step()
            step += 1
            if not train_sampler.repeated(k):  # an item repeated for an idle rank is logged once
                epoch_loss += float(losses.detach().sum())
                epoch_items += len(losses)
                epoch_audio += float(batch["audio_lengths"].sum()) / mc.sample_rate
            bar.set_postfix(loss=f"{epoch_loss / max(epoch_items, 1):.3f}")
            if config.train.max_steps and step >= config.train.max_steps:
                break
        elapsed = time.time() - epoch_start
        epoch_loss, epoch_items, epoch_audio = all_reduce_sum([epoch_loss, epoch_items, epoch_audio], device)
        metrics = validate(model, valid_loader, device, config.train.amp, valid_table, config.optim.closed_set)
        is_best = metrics["valid_error"] < best_error
        best_error = min(best_error, metrics["valid_error"])
        row = {
            "epoch": epoch + 1,
            "step": step,
            "lr": scheduler.get_last_lr()[0],
            "train_loss": epoch_loss / max(epoch_items, 1),
            **metrics,
            "utts_per_s": epoch_items / elapsed,
            "audio_hours_per_hour": epoch_audio / elapsed,
            "peak_memory_mb": peak_memory_mb(device),
            "elapsed_s": time.time() - started,
        }
        if main:
            log.write(row)
            if not quiet:
                name = "error" if mc.head == "classify" or config.optim.closed_set else "WER"
                print(
                    f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, valid loss {metrics['valid_loss']:.4f}, "
                    f"valid {name} {100 * metrics['valid_error']:.2f}%, {row['utts_per_s']:.1f} utts/s"
                    + (" (best)" if is_best else ""),
                    file=sys.stderr,
                )
            extra = {"train_config": config.to_dict(), "metadata": {**metadata, **row, "best_error": best_error}}
            if is_best:
                save_checkpoint(out_dir / "best.pt", model, **extra)
            save_checkpoint(
                out_dir / "last.pt",
                model,
                **extra,
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                epoch=epoch + 1,
                step=step,
                best_error=best_error,
                rng=rng_state(),
            )
    if world_size > 1:
        dist.barrier()
    if not (out_dir / "best.pt").is_file():
        raise ModelError(f"{out_dir}: training finished without a checkpoint (no epoch completed)")
    return out_dir / "best.pt"


if __name__ == "__main__":  # torchrun -m speechrnn.train: the command layer parses the arguments
    from speechrnn.commands.train import main

    sys.exit(main())
