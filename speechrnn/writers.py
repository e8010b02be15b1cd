"""Output writers for ``speechrnn transcribe`` (in the style of whisper's ``utils.py``).

One class per format: txt, json, srt, vtt, tsv. A writer turns a ``decode.Transcription``
of one input file into text (``format``) and writes it to ``<output_dir>/<input stem>.<ext>``
atomically (``__call__``). For CTC models srt/vtt/tsv group the word times into segments:
one per run of words with pauses shorter than ``max_gap`` seconds (usually one per
utterance). Classification results become one segment over the whole file with the label.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from speechrnn.atomic import atomic_write
from speechrnn.errors import ConfigError
from speechrnn.results import Transcription

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
MAX_GAP = 1.0  # seconds of silence between words that start a new subtitle segment


@dataclass(frozen=True)
class Segment:
    """A span of the input with its text, in seconds."""

    start: float
    end: float
    text: str


def segments(result: Transcription, max_gap: float = MAX_GAP) -> list[Segment]:
    """Group a result into segments: word runs (CTC) or one segment over the whole file (classifier).

    A CTC result without words (nothing recognised) gives no segments.
    """
    if result.label is not None or not result.words:
        if result.label is None and not result.text:
            return []
        return [Segment(0.0, result.duration, result.text)]
    groups: list[list] = [[result.words[0]]]
    for word in result.words[1:]:
        if word.start - groups[-1][-1].end > max_gap:
            groups.append([])
        groups[-1].append(word)
    return [Segment(g[0].start, g[-1].end, " ".join(w.word for w in g)) for g in groups]


def format_timestamp(seconds: float, always_include_hours: bool = True, decimal_marker: str = ".") -> str:
    """Seconds -> "HH:MM:SS.mmm" (srt uses "," as the decimal marker)."""
    milliseconds = max(0, round(seconds * 1000.0))
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    secs, milliseconds = divmod(milliseconds, 1_000)
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{secs:02d}{decimal_marker}{milliseconds:03d}"


def result_to_dict(result: Transcription, audio_path: str | os.PathLike) -> dict:
    """The JSON object for one file: path, text, duration, and words (CTC) or label/score/scores."""
    entry: dict = {"path": str(audio_path), "text": result.text, "duration": round(result.duration, 4)}
    if result.label is not None:
        entry.update(label=result.label, score=result.score, scores=dict(result.scores))
    else:
        entry["words"] = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in result.words]
    return entry


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (``speechrnn.atomic.atomic_write``)."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


class ResultWriter:
    """Base class: ``format`` gives the file's text; calling the writer writes it to ``output_dir``."""

    extension: str

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)

    def output_path(self, audio_path: str | os.PathLike) -> Path:
        return self.output_dir / f"{Path(audio_path).stem}.{self.extension}"

    def __call__(self, result: Transcription, audio_path: str | os.PathLike) -> Path:
        path = self.output_path(audio_path)
        write_text_atomic(path, self.format(result, audio_path))
        return path

    def format(self, result: Transcription, audio_path: str | os.PathLike) -> str:
        raise NotImplementedError


class WriteTXT(ResultWriter):
    extension = "txt"

    def format(self, result: Transcription, audio_path: str | os.PathLike) -> str:
        return result.text + "\n"


class WriteJSON(ResultWriter):
    extension = "json"

    def format(self, result: Transcription, audio_path: str | os.PathLike) -> str:
        return json.dumps(result_to_dict(result, audio_path), ensure_ascii=False) + "\n"


class WriteSRT(ResultWriter):
    extension = "srt"

    def format(self, result: Transcription, audio_path: str | os.PathLike) -> str:
        blocks = []
        for i, segment in enumerate(segments(result), 1):
            start = format_timestamp(segment.start, True, ",")
            end = format_timestamp(segment.end, True, ",")
            blocks.append(f"{i}\n{start} --> {end}\n{segment.text}\n")
        return "\n".join(blocks)


class WriteVTT(ResultWriter):
    extension = "vtt"

    def format(self, result: Transcription, audio_path: str | os.PathLike) -> str:
        lines = ["WEBVTT", ""]
        for segment in segments(result):
            lines += [f"{format_timestamp(segment.start)} --> {format_timestamp(segment.end)}", segment.text, ""]
        return "\n".join(lines)


class WriteTSV(ResultWriter):
    """Tab-separated start, end (integer milliseconds) and text, one row per segment; classifiers add score."""

    extension = "tsv"

    def format(self, result: Transcription, audio_path: str | os.PathLike) -> str:
        classify = result.label is not None
        rows = ["start\tend\ttext" + ("\tscore" if classify else "")]
        for segment in segments(result):
            text = segment.text.replace("\t", " ")
            row = f"{round(1000 * segment.start)}\t{round(1000 * segment.end)}\t{text}"
            rows.append(row + (f"\t{result.score:.4f}" if classify else ""))
        return "\n".join(rows) + "\n"


WRITERS: dict[str, type[ResultWriter]] = {
    "txt": WriteTXT,
    "json": WriteJSON,
    "srt": WriteSRT,
    "vtt": WriteVTT,
    "tsv": WriteTSV,
}


def get_writer(output_format: str, output_dir: str | os.PathLike) -> Callable[[Transcription, str], list[Path]]:
    """A callable ``(result, audio_path) -> [written paths]`` for one format or "all" of them.

    It refuses (ConfigError) an input whose file name another input already wrote under ``output_dir``.
    """
    if output_format == "all":
        writers = [cls(output_dir) for cls in WRITERS.values()]
    elif output_format in WRITERS:
        writers = [WRITERS[output_format](output_dir)]
    else:
        raise ConfigError(f"unknown output format {output_format!r} (choose from {', '.join(FORMATS)}, all)")

    owners: dict[Path, str] = {}  # output path (first format) -> the input that wrote it

    def write_all(result: Transcription, audio_path: str | os.PathLike) -> list[Path]:
        # a/take.wav and b/take.flac would both write take.txt: the second is refused, not written over the first
        target = writers[0].output_path(audio_path)
        first = owners.setdefault(target, str(audio_path))
        if first != str(audio_path) and Path(first).resolve() != Path(audio_path).resolve():
            raise ConfigError(
                f"{audio_path}: its output {target.with_suffix('')}.* would overwrite that of {first} "
                "(same file name; transcribe it into another --output-dir)"
            )
        return [writer(result, audio_path) for writer in writers]

    return write_all
