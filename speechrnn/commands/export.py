"""``speechrnn export MODEL --format onnx --output DIR [--quantize int8]``: a model for ``speechrnn.runtime``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a checkpoint, or a bundled model's name (digits, commands)")
    parser.add_argument("--format", default="onnx", choices=["onnx"], help="export format (default: onnx)")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder to write (replaced if an export)")
    parser.add_argument(
        "--quantize",
        default=None,
        choices=["int8"],
        help="store the weights as int8 (GRUs and a speech embedding's convolutions still compute in float32)",
    )


def run(args: argparse.Namespace) -> int:
    from speechrnn.export import export_onnx  # noqa: PLC0415

    output = export_onnx(args.model, args.output, quantize=args.quantize)
    print(output)
    return 0
