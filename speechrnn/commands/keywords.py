"""``--threshold`` / ``--label-threshold``: keyword detection settings on the command line, shared by
``speechrnn transcribe --stream``, ``python -m speechrnn.runtime transcribe --stream`` and
``scripts/mic_demo.py`` (no torch here: the runtime's command line uses it too).
"""

from __future__ import annotations

import argparse

from speechrnn.detect import KeywordConfig, keyword_config


def add_keyword_arguments(parser: argparse.ArgumentParser) -> None:
    """``--threshold`` and ``--label-threshold`` of a stream's keyword detections (also mic_demo's, the runtime's)."""
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="P",
        help=f"with --stream and a classifier: detection threshold on the smoothed posterior "
        f"(default {KeywordConfig.threshold}; lower finds more commands and fires more often)",
    )
    parser.add_argument(
        "--label-threshold",
        action="append",
        default=[],
        metavar="LABEL=P",
        help="a threshold for one command, e.g. stop=0.9 (repeatable)",
    )


def keyword_settings(args: argparse.Namespace) -> KeywordConfig:
    """The ``KeywordConfig`` that ``--threshold`` / ``--label-threshold`` ask for."""
    return keyword_config(getattr(args, "threshold", None), getattr(args, "label_threshold", []))
