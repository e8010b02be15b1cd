"""``speechrnn speaker-norm``: give a trained model speaker normalisation (a reference)."""

from __future__ import annotations

from speechrnn.speaker_norm import with_speaker_norm


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="trained checkpoint (global feature normalisation)")
    parser.add_argument(
        "--manifest", required=True, nargs="+", help="audio of the reference speakers (its training manifests)"
    )
    parser.add_argument("--mode", choices=("mean", "meanvar"), default="meanvar", help="default meanvar")
    parser.add_argument("--output", required=True, help="checkpoint to write (atomically)")


def run(args) -> int:
    from speechrnn.data.manifest import read_manifest
    from speechrnn.model import load_checkpoint, load_model, provenance, save_checkpoint

    keep = provenance(load_checkpoint(args.model))
    utterances = [u for path in args.manifest for u in read_manifest(path)]
    model = with_speaker_norm(load_model(args.model), utterances, args.mode)
    keep["speaker_reference_manifests"] = [str(p) for p in args.manifest]
    save_checkpoint(args.output, model, **keep)
    speakers = len({u.speaker for u in utterances if u.speaker})
    print(f"wrote {args.output}: speaker normalisation ({args.mode}) onto the average of {speakers} speakers")
    return 0
