#!/usr/bin/env bash
# LibriSpeech recipe, character CTC (stages as in icefall's prepare.sh):
#   stage 0: download, extract and write manifests for --parts (+ chars.txt vocabulary)
#   stage 1: train                      (torchrun over all GPUs when --ngpu > 1)
#   stage 2: evaluate best.pt (greedy and beam WER/CER) on each --test-sets part
#
#   recipes/librispeech/run.sh [--stage N] [--stop-stage N] [--data DIR] [--exp DIR]
#       [--parts train-clean-100,dev-clean,test-clean] [--test-sets "test-clean dev-clean"]
#       [--url-base URL] [--ngpu N] [-- --set k=v ...]
# Everything after "--" goes to "speechrnn train" (e.g. -- --set data.max_seconds=600).
set -euo pipefail

stage=0
stop_stage=100
data=data/librispeech
exp=exp/librispeech_bigru_ctc
parts=train-clean-100,dev-clean,test-clean
test_sets="test-clean"
url_base=
ngpu=1
python=${PYTHON:-python}

. "$(dirname "$0")/../parse_options.sh"  # --name value sets $name; "--" ends the options

cd "$(dirname "$0")/../.."  # repository root: config paths are relative to it
config=recipes/librispeech/configs/bigru_ctc.toml
manifests=$data/manifests
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') run.sh: $*"; }

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: prepare LibriSpeech $parts in $data"
  args=(prepare librispeech --root "$data" --parts "$parts" --min-duration 1 --max-duration 20)
  [ -n "$url_base" ] && args+=(--url-base "$url_base")
  "$python" -m speechrnn "${args[@]}"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: train $config -> $exp"
  overrides=(--set "data.train=$manifests/train-clean-100.jsonl" --set "data.valid=$manifests/dev-clean.jsonl"
             --set "train.out_dir=$exp")
  if [ "$ngpu" -gt 1 ]; then
    torchrun --standalone --nproc-per-node "$ngpu" -m speechrnn.train "$config" "${overrides[@]}" "$@"
  else
    "$python" -m speechrnn train "$config" "${overrides[@]}" "$@"
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  for part in $test_sets; do
    log "stage 2: evaluate $exp/best.pt on $part"
    "$python" -m speechrnn evaluate --model "$exp/best.pt" --manifest "$manifests/$part.jsonl" \
      --decoder both --output-dir "$exp/eval_$part"
  done
fi
