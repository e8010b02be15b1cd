"""Download and prepare a corpus: ``speechrnn prepare <corpus> ...``.

Each corpus module in ``CORPORA`` provides ``add_prepare_arguments(parser)`` and
``run_prepare(args) -> int``; modules are imported only when their sub-command is used.
"""

from __future__ import annotations

import importlib
import sys

CORPORA = {
    "fsdd": "speechrnn.commands.prepare.fsdd",
    "speech_commands": "speechrnn.commands.prepare.speech_commands",
    "librispeech": "speechrnn.commands.prepare.librispeech",
}

_HELP = {
    "fsdd": "Free Spoken Digit Dataset: isolated (official, leave-one-speaker-out) and connected digits",
    "speech_commands": "Google Speech Commands v0.02: 35-word and 12-class tasks, background-noise manifest",
    "librispeech": "LibriSpeech (OpenSLR 12): character CTC manifests for the chosen parts",
}


def _requested_corpus(argv: list[str]) -> str | None:
    """The corpus named after 'prepare' on the command line (only that module is imported)."""
    words = [a for a in argv if not a.startswith("-")]
    if "prepare" in words:
        after = words[words.index("prepare") + 1 :]
        return after[0] if after else None
    return None


def add_arguments(parser) -> None:
    """One sub-command per corpus; ``run`` dispatches to the chosen corpus module."""
    corpora = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    requested = _requested_corpus(sys.argv[1:])
    for name, module_name in CORPORA.items():
        sub = corpora.add_parser(name, help=_HELP.get(name, name), description=_HELP.get(name, name))
        if requested is None or requested == name:
            module = importlib.import_module(module_name)
            module.add_prepare_arguments(sub)
            sub.set_defaults(prepare_run=module.run_prepare)


def run(args) -> int:
    """Dispatch to the corpus module's ``run_prepare``."""
    return int(args.prepare_run(args) or 0)
