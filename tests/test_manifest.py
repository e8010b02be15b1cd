"""JSONL manifests: unknown fields carried, required and typed fields enforced, typos named."""

from __future__ import annotations

import json

import pytest

from speechrnn.data.manifest import Utterance, read_manifest, write_manifest
from speechrnn.errors import DataError


def _manifest(tmp_path, *entries) -> str:
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    return path


def test_unknown_fields_are_carried_and_written_back(tmp_path):
    path = _manifest(tmp_path, {"audio": "a.wav", "duration": 1, "label": "yes", "source": "phone", "gender": "f"})
    (utterance,) = read_manifest(path)
    assert utterance.extra == {"gender": "f", "source": "phone"}
    assert (utterance.label, utterance.duration, utterance.audio) == ("yes", 1.0, str(tmp_path / "a.wav"))
    write_manifest(tmp_path / "out.jsonl", [utterance])
    written = json.loads((tmp_path / "out.jsonl").read_text())
    assert written["source"] == "phone" and written["gender"] == "f" and "extra" not in written
    assert read_manifest(tmp_path / "out.jsonl") == [utterance]
    assert hash(utterance) == hash(Utterance(audio=utterance.audio, duration=1.0, label="yes"))


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"duration": 1, "label": "yes"}, r"m.jsonl:1: missing field 'audio'"),
        ({"audio": "a.wav", "label": "yes"}, r"m.jsonl:1: missing field 'duration'"),
        ({"audio": "a.wav", "duration": "long", "label": "yes"}, r"m.jsonl:1: duration must be a number"),
        ({"audio": "a.wav", "duration": 1, "label": 3}, r"m.jsonl:1: field 'label' must be a string, not int"),
        ({"audio": ["a.wav"], "duration": 1, "label": "y"}, r"m.jsonl:1: field 'audio' must be a string, not list"),
        ({"auido": "a.wav", "duration": 1, "label": "yes"}, r"unknown field 'auido' \(did you mean 'audio'\?\)"),
        ({"audio": "a.wav", "duration": 1, "lable": "yes"}, r"unknown field 'lable' \(did you mean 'label'\?\)"),
    ],
)
def test_bad_lines_are_refused_naming_the_field(tmp_path, entry, message):
    with pytest.raises(DataError, match=message):
        read_manifest(_manifest(tmp_path, entry))


def test_a_field_close_to_one_already_present_is_kept_not_refused(tmp_path):
    (utterance,) = read_manifest(_manifest(tmp_path, {"audio": "a.wav", "duration": 1, "label": "y", "labels": "x"}))
    assert utterance.extra == {"labels": "x"}
