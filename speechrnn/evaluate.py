"""Score a model on a manifest: accuracy and confusion matrix (classify) or WER/CER (CTC).

``evaluate(model, utterances)`` returns a report dict; ``speechrnn evaluate`` prints a
summary and writes ``report.json``, ``predictions.jsonl`` and, for classifiers,
``confusion_matrix.png`` into ``--output-dir``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from speechrnn.atomic import atomic_write
from speechrnn.data.manifest import Utterance
from speechrnn.decode import DecodingOptions, decode_ctc
from speechrnn.errors import ConfigError, DataError
from speechrnn.metrics import (
    INTERVAL_LEVEL,
    MIN_INTERVAL_SPEAKERS,
    char_counts,
    classification_scores,
    confusion_matrix,
    error_rates,
    format_class_table,
    interval_by_speaker,
    plot_confusion_matrix,
    word_counts,
)
from speechrnn.scoring import check_same_labels, label_posteriors, model_outputs, prepare_ensemble
from speechrnn.vocab import normalize_text

DECODERS = ("greedy", "beam")  # the default pair
ALL_DECODERS = (*DECODERS, "closed_set")  # closed_set: best single model label (isolated words)


def utterance_name(utterance: Utterance) -> str:
    """The manifest id, else the audio path (with the offset for a segment)."""
    if utterance.id:
        return utterance.id
    return f"{utterance.audio}@{utterance.offset:g}" if utterance.offset else utterance.audio


def _references(utterances: Sequence[Utterance], config) -> list:
    """Class indices (classify) or normalised reference texts (ctc); DataError names a bad utterance."""
    if config.head == "classify":
        index = {label: i for i, label in enumerate(config.labels)}
        references = []
        for u in utterances:
            if u.label is None:
                raise DataError(f"{utterance_name(u)}: no 'label' to score a classifier against")
            if u.label not in index:
                raise DataError(
                    f"{utterance_name(u)}: label {u.label!r} is not one of the model's labels "
                    f"({', '.join(config.labels)})"
                )
            references.append(index[u.label])
        return references
    references = []
    for u in utterances:
        text = u.text if u.text is not None else u.label
        if text is None:
            raise DataError(f"{utterance_name(u)}: no 'text' to score a transcription against")
        references.append(normalize_text(text))
    return references


def _check_decoders(decoders: Sequence[str]) -> tuple[str, ...]:
    """Validate decoder names (duplicates dropped, order kept)."""
    decoders = tuple(dict.fromkeys(decoders))
    unknown = [d for d in decoders if d not in ALL_DECODERS]
    if unknown or not decoders:
        raise ConfigError(
            f"decoder must be one of {', '.join(ALL_DECODERS)}, got {unknown[0] if unknown else 'none'!r}"
        )
    return decoders


def evaluate(
    model,
    utterances: Sequence[Utterance],
    *,
    decoders: Sequence[str] = DECODERS,
    beam_size: int = 8,
    max_seconds: float = 60.0,
    device: str | torch.device | None = None,
    quiet: bool = False,
    worst: int = 10,
    pad_seconds: float = 0.0,
    speaker_norm: bool = True,
    speaker_utterances: Sequence[Utterance] | None = None,
    num_workers: int = 0,
) -> dict:
    """Run ``model`` over ``utterances`` in duration-sorted batches and score the results.

    Args:
        model: a SpeechRNN (put in eval mode here); ``device`` moves it (None: stay where it is).
            A list of models with the same head and labels is scored as an ensemble: classifiers
            by their mean class posteriors, CTC models (``decoders=("closed_set",)`` only) by
            their mean closed-set log-posteriors over the candidate labels.
        utterances: manifest entries with ``label`` (classify) or ``text`` (ctc).
        decoders: CTC decoders to score, "greedy" and/or "beam"; ignored for classifiers.
        max_seconds: padded audio per batch (items x longest item).
        worst: how many of the worst CTC utterances (most word errors) to list per decoder.
        pad_seconds: silence added before and after every utterance (tightly trimmed clips
            scored with a model trained on connected speech, which always has some around words).
        speaker_norm: models trained with speaker normalisation (``model.speaker_norm``) normalise
            each speaker of ``utterances`` by statistics of that speaker's own (unlabelled) audio
            here; False runs them as if every speaker were the reference (as ``transcribe`` does).
        speaker_utterances: take each speaker's statistics from these utterances' audio instead
            (an enrolment set; a scored speaker without any here is run as the reference).
        num_workers: DataLoader processes that read and pad the audio while the model runs (0: in
            this process).

    Returns:
        {"num_utterances", "head", "labels", "device", "speaker_norm", "metrics", "timing",
        "predictions"}:
        classify metrics hold accuracy, per-class scores and "confusion_matrix" {"labels", "counts"}
        (rows = reference); ctc metrics hold, per decoder, wer, cer, word/char counts and "worst".
        "predictions" has one dict per utterance in manifest order.

    Raises:
        DataError: no utterances, or a label/text the model cannot be scored against.
        ConfigError: an unknown decoder, a beam size below 1, an ensemble whose models differ in
            head, labels or unit, or a CTC ensemble asked for a decoder other than closed_set.
    """
    utterances = list(utterances)
    if not utterances:
        raise DataError("no utterances to evaluate")
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    config = models[0].config
    references = _references(utterances, config)
    classify = config.head == "classify"
    if not classify:
        decoders = _check_decoders(decoders)
    _check_ensemble(models, decoders)
    if beam_size < 1:
        raise ConfigError(f"beam size must be >= 1, got {beam_size}")
    models, tables, normalised = prepare_ensemble(models, utterances, device, speaker_norm, speaker_utterances)
    predicted: list = [None] * len(utterances)  # class index (classify) or {decoder: text}
    scores: list[float | None] = [None] * len(utterances)
    audio_seconds = 0.0
    model_seconds = 0.0
    num_batches = 0
    decode_seconds = {d: 0.0 for d in (() if classify else decoders)}
    options = {
        "greedy": DecodingOptions(method="greedy"),
        "beam": DecodingOptions(method="beam", beam_size=beam_size),
    }
    start = time.perf_counter()
    batches = model_outputs(
        models, utterances, tables, pad_seconds=pad_seconds, max_seconds=max_seconds, num_workers=num_workers,
        quiet=quiet, desc="evaluate",
    )  # fmt: skip
    for batch, results, seconds_of_audio, seconds_in_model in batches:
        audio_seconds += seconds_of_audio
        model_seconds += seconds_in_model
        num_batches += 1
        if classify or "closed_set" in decoders:
            tick = time.perf_counter()
            probs = label_posteriors(results, config.head)
            best = probs.argmax(dim=-1)
            if not classify:
                decode_seconds["closed_set"] += time.perf_counter() - tick
        outputs, steps = results[0]
        for j, i in enumerate(batch):
            if classify:
                predicted[i] = int(best[j])
                scores[i] = float(probs[j, best[j]])
                continue
            texts = {}
            for name in decoders:
                if name == "closed_set":
                    texts[name] = config.labels[int(best[j])]
                    continue
                tick = time.perf_counter()
                texts[name], _ = decode_ctc(
                    outputs[j, : int(steps[j])], config.labels, config.unit, config.frame_shift, options[name]
                )
                decode_seconds[name] += time.perf_counter() - tick
            predicted[i] = texts
    seconds = time.perf_counter() - start

    if classify:
        metrics, predictions = _classification_metrics(utterances, references, predicted, scores, config.labels)
    else:
        metrics, predictions = _ctc_metrics(utterances, references, predicted, decoders, worst)
    return {
        "num_utterances": len(utterances),
        "head": config.head,
        "labels": list(config.labels),
        "device": str(models[0].device),
        "speaker_norm": normalised,
        "metrics": metrics,
        "timing": {
            "seconds": seconds,
            "audio_seconds": audio_seconds,
            "real_time_factor": seconds / audio_seconds if audio_seconds else 0.0,
            "model_seconds": model_seconds,
            "decode_seconds": decode_seconds,
            "batches": num_batches,
        },
        "predictions": predictions,
    }


def _check_ensemble(models: Sequence, decoders: Sequence[str]) -> None:
    """ConfigError unless ``models`` can be scored together (see ``evaluate``)."""
    if len(models) > 1:
        check_same_labels(models)
    if models[0].config.head == "ctc" and tuple(decoders) != ("closed_set",) and len(models) > 1:
        raise ConfigError("an ensemble of CTC models is scored with --decoder closed_set only")


def _speakers(utterances) -> list[str]:
    """Each utterance's speaker, or its own name where the manifest gives none (a speaker of one)."""
    return [u.speaker or utterance_name(u) for u in utterances]


def _classification_metrics(utterances, references, predicted, scores, labels) -> tuple[dict, list[dict]]:
    matrix = confusion_matrix(references, predicted, len(labels))
    metrics = classification_scores(matrix, labels)
    metrics["confusion_matrix"] = {"labels": list(labels), "counts": matrix.tolist()}
    speakers = _speakers(utterances)
    right = [r == p for r, p in zip(references, predicted, strict=True)]
    metrics["accuracy_interval"] = interval_by_speaker(right, speakers)  # None: too few speakers
    metrics["interval_speakers"] = len(set(speakers))
    predictions = [
        {"id": utterance_name(u), "reference": labels[r], "prediction": labels[p], "score": s}
        for u, r, p, s in zip(utterances, references, predicted, scores, strict=True)
    ]
    return metrics, predictions


def _ctc_metrics(utterances, references, predicted, decoders, worst) -> tuple[dict, list[dict]]:
    speakers = _speakers(utterances)
    metrics = {}
    for name in decoders:
        hypotheses = [p[name] for p in predicted]
        result = error_rates(references, hypotheses)
        per_utterance, errors, lengths = [], [], []
        for u, ref, hyp in zip(utterances, references, hypotheses, strict=True):
            words = word_counts(ref, hyp)
            errors.append(words.errors)
            lengths.append(words.reference_length)
            if words.errors:
                per_utterance.append(
                    {
                        "id": utterance_name(u),
                        "reference": ref,
                        "hypothesis": hyp,
                        "word_errors": words.errors,
                        "wer": words.rate,
                        "cer": char_counts(ref, hyp).rate,
                    }
                )
        per_utterance.sort(key=lambda e: (-e["word_errors"], -e["wer"], e["id"]))
        result["worst"] = per_utterance[: max(worst, 0)]
        result["utterances_with_errors"] = len(per_utterance)
        result["utterance_accuracy"] = 1 - len(per_utterance) / len(utterances)
        # WER over the drawn speakers' words; None with too few speakers or no reference words
        result["wer_interval"] = interval_by_speaker(errors, speakers, totals=lengths)
        result["interval_speakers"] = len(set(speakers))
        metrics[name] = result
    predictions = [
        {"id": utterance_name(u), "reference": ref, **{name: p[name] for name in decoders}}
        for u, ref, p in zip(utterances, references, predicted, strict=True)
    ]
    return metrics, predictions


def _interval_text(interval: list[float] | None, speakers: int) -> str:
    if interval is None:
        return f"interval: none ({speakers} speakers; it needs {MIN_INTERVAL_SPEAKERS} to resample)"
    level = f"{100 * INTERVAL_LEVEL:g} %"
    return f"{level} interval {100 * interval[0]:.2f}-{100 * interval[1]:.2f}% ({speakers} speakers resampled)"


def format_summary(report: dict) -> str:
    """A human-readable summary of a report (what the CLI prints)."""
    lines = []
    if report.get("model") or report.get("manifest"):
        lines.append(f"model {report.get('model')}  manifest {report.get('manifest')}")
    timing = report["timing"]
    lines.append(
        f"{report['num_utterances']} utterances, {timing['audio_seconds']:.1f} s of audio in {timing['seconds']:.2f} s "
        f"on {report['device']} (real-time factor {timing['real_time_factor']:.4f})"
    )
    if report.get("speaker_norm"):
        lines.append(f"speaker normalisation from each speaker's own audio: {', '.join(report['speaker_norm'])}")
    metrics = report["metrics"]
    if report["head"] == "classify":
        lines.append(format_class_table(metrics))
        lines.append(f"accuracy {_interval_text(metrics['accuracy_interval'], metrics['interval_speakers'])}")
        return "\n".join(lines)
    for name in ALL_DECODERS:
        if name not in metrics:
            continue
        m = metrics[name]
        w, c = m["words"], m["chars"]
        lines.append(
            f"{name}: WER {100 * m['wer']:.2f}% (S={w['substitutions']} D={w['deletions']} I={w['insertions']} "
            f"N={w['reference_length']})  CER {100 * m['cer']:.2f}% (N={c['reference_length']})  "
            f"{m['utterances_with_errors']} utterances with errors "
            f"(utterance accuracy {100 * m['utterance_accuracy']:.2f}%); WER "
            + _interval_text(m.get("wer_interval"), m.get("interval_speakers", 0))
        )
        for e in m["worst"]:
            lines.append(
                f"  {e['id']}: {e['word_errors']} errors\n    ref: {e['reference']}\n    hyp: {e['hypothesis']}"
            )
    return "\n".join(lines)


def write_report(report: dict, output_dir: str | os.PathLike) -> list[Path]:
    """Write report.json (without per-utterance predictions), predictions.jsonl and, for a
    classifier, confusion_matrix.png into ``output_dir``, each atomically; returns the paths."""
    output_dir = Path(output_dir)
    summary = {k: v for k, v in report.items() if k != "predictions"}
    paths = [output_dir / "report.json", output_dir / "predictions.jsonl"]
    with atomic_write(paths[0], "w", encoding="utf-8") as f:
        f.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    with atomic_write(paths[1], "w", encoding="utf-8") as f:
        f.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in report.get("predictions", []))
    if report["head"] == "classify":
        matrix = report["metrics"]["confusion_matrix"]
        title = f"accuracy {report['metrics']['accuracy']:.3f} on {report['num_utterances']} utterances"
        paths.append(
            plot_confusion_matrix(
                np.array(matrix["counts"]), matrix["labels"], output_dir / "confusion_matrix.png", title
            )
        )
    return paths
