"""Fetch Google's pretrained speech embedding (``embedding_model.onnx``) for ``model.subsampling="embedding"``.

The model (TF Hub ``google/speech_embedding/1``, Apache-2.0; Lin et al., ICASSP 2020) ships as ONNX
inside openWakeWord's 0.4.0 wheel on PyPI. This downloads that wheel with pip (no dependencies), takes
the one file out of it, checks its SHA-256 and writes it atomically; a second run with the file in
place does nothing.

    python recipes/commands/local/get_speech_embedding.py --output data/commands/embedding_model.onnx
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from speechrnn.atomic import atomic_write

WHEEL = "openwakeword==0.4.0"
MEMBER = "openwakeword/resources/models/embedding_model.onnx"
SHA256 = "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="data/commands/embedding_model.onnx")
    parser.add_argument("--wheel", help="an openwakeword-0.4.0 wheel already downloaded (else pip fetches it)")
    args = parser.parse_args()
    output = Path(args.output)
    if output.is_file() and sha256(output.read_bytes()) == SHA256:
        print(f"{output}: present")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if wheel is None:
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
            if subprocess.run(command).returncode != 0:
                print(f"error: pip could not download {WHEEL}", file=sys.stderr)
                return 1
            wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
    if sha256(data) != SHA256:
        print(f"error: {MEMBER} in {wheel} has SHA-256 {sha256(data)}, expected {SHA256}", file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(output) as f:
        f.write(data)
    print(f"{output}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
