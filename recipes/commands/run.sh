#!/usr/bin/env bash
# The bundled commands model (speechrnn/assets/commands.pt), trained from what a machine without the full
# corpus has: the real-speech share's training speakers, synthetic voices, real non-command speech, noise.
# (The full Speech Commands corpus recipe, for a GPU, is recipes/speech_commands.)
#   stage 0: manifests of the real speech, split by speaker (20 % of speakers kept for validation)
#   stage 1: synthetic voices saying the commands and other words; _silence_ clips; the pretrained speech
#            embedding (Google's, from openWakeWord's wheel on PyPI) that the model builds on
#   stage 2: train (configs/commands.toml; the checkpoint is picked on the validation speakers)
#   stage 3: score it on the validation speakers (scripts/eval_real.py: per class, per source, confusions)
#   stage 4: export exp/commands/best.pt -> speechrnn/assets/commands.pt
#
#   recipes/commands/run.sh [--stage N] [--stop-stage N] [--data DIR] [--exp DIR] [--realspeech DIR]
#                           [--fsdd DIR] [-- --set k=v ...]
# Everything after "--" goes to "speechrnn train" (e.g. -- --set train.threads=2).
set -euo pipefail

stage=0
stop_stage=4
data=data/commands
exp=exp/commands
realspeech=${SPEECHRNN_REALSPEECH:-../shared/data/realspeech}
fsdd=${SPEECHRNN_FSDD:-../shared/data/fsdd}
real_copies=3  # each real training clip is listed this many times (real voices outweigh synthetic ones)
python=${PYTHON:-python}

. "$(dirname "$0")/../parse_options.sh"  # --name value sets $name; "--" ends the options
cd "$(dirname "$0")/../.."  # repository root: config paths are relative to it
realspeech=$(realpath "$realspeech")
fsdd=$(realpath "$fsdd")
manifests=$data/manifests
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') run.sh: $*"; }
runs() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

if runs 0; then
  log "stage 0: real-speech manifests from $realspeech, split by speaker"
  "$python" -m speechrnn prepare speech_commands --root "$data" --skip-corpus --valid-percent 20 \
    --test-set-dir "$realspeech/speech_commands_test_set_v0.02"
  "$python" -m speechrnn prepare speech_commands --root "$data" --skip-corpus --valid-percent 20 \
    --words-dir "$realspeech/speech_commands_v0.01_sample" --words-name sc_v0.01_sample --words-task12
  "$python" recipes/commands/local/prepare_unknown.py --realspeech "$realspeech" --fsdd "$fsdd" --output "$manifests"
fi

if runs 1; then
  log "stage 1: synthetic words and _silence_ clips in $data"
  "$python" recipes/commands/local/make_synthetic_words.py --output "$data/synth"
  "$python" recipes/commands/local/make_silence.py --source "$manifests/sc12_test_official_train.jsonl" \
    --output "$data/silence" --count 400
  "$python" recipes/commands/local/get_speech_embedding.py --output "$data/embedding_model.onnx"
fi

if runs 2; then
  log "stage 2: train configs/commands.toml -> $exp"
  real=""
  for _ in $(seq "$real_copies"); do
    real+="\"$manifests/sc12_test_official_train.jsonl\", \"$manifests/sc_v0.01_sample_train.jsonl\", "
  done
  train="[$real\"$data/synth/commands.jsonl\", \"$data/synth/unknown.jsonl\", \
\"$manifests/wake_words_train.jsonl\", \"$manifests/fsdd_unknown.jsonl\", \"$data/silence.jsonl\"]"
  "$python" -m speechrnn train recipes/commands/configs/commands.toml --set "data.train=$train" \
    --set "data.valid=$manifests/sc12_test_official_valid.jsonl" --set "data.noise=$data/silence_noise.jsonl" \
    --set "train.out_dir=$exp" --set "train.embedding_from=$data/embedding_model.onnx" "$@"
fi

if runs 3; then
  log "stage 3: score $exp/best.pt on the validation speakers"
  "$python" scripts/eval_real.py --model "$exp/best.pt" --split valid --data-root "$realspeech" \
    --output-dir "$exp/eval_real"
fi

if runs 4; then
  log "stage 4: export $exp/best.pt -> speechrnn/assets/commands.pt"
  "$python" -c "import speechrnn.model as m, sys; m.export_model(sys.argv[1], sys.argv[2])" \
    "$exp/best.pt" speechrnn/assets/commands.pt
fi
