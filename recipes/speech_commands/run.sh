#!/usr/bin/env bash
# Speech Commands v0.02 recipe (stages as in icefall's prepare.sh):
#   stage 0: download, extract and write manifests (35-word and 12-class tasks, noise.jsonl), and
#            the official 12-class test archive (speech_commands_test_set_v0.02.tar.gz) as
#            sc12_test_official.jsonl
#   stage 1: train                      (torchrun over all GPUs when --ngpu > 1)
#   stage 2: evaluate best.pt on the test split (report.json, confusion_matrix.png) and, for sc12,
#            on the official test files papers report (eval_test_official/)
#
#   recipes/speech_commands/run.sh [--stage N] [--stop-stage N] [--task sc12|sc35] [--data DIR]
#                                  [--exp DIR] [--url URL] [--sha256 HEX] [--test-url URL]
#                                  [--test-sha256 HEX] [--ngpu N] [-- --set k=v ...]
# Everything after "--" goes to "speechrnn train" (e.g. -- --set train.epochs=5).
set -euo pipefail

stage=0
stop_stage=100
task=sc12
data=data/speech_commands
exp=
url=
sha256=
test_url=
test_sha256=
ngpu=1
python=${PYTHON:-python}

. "$(dirname "$0")/../parse_options.sh"  # --name value sets $name; "--" ends the options
case "$task" in sc12|sc35) ;; *) echo "run.sh: --task must be sc12 or sc35" >&2; exit 2 ;; esac

cd "$(dirname "$0")/../.."  # repository root: config paths are relative to it
config=recipes/speech_commands/configs/${task}_bigru.toml
exp=${exp:-exp/${task}_bigru}
manifests=$data/manifests
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') run.sh: $*"; }

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: prepare Speech Commands v0.02 in $data"
  args=(prepare speech_commands --root "$data")
  [ -n "$url" ] && args+=(--url "$url")
  [ -n "$sha256" ] && args+=(--sha256 "$sha256")
  args+=(--test-set)
  [ -n "$test_url" ] && args+=(--test-set-url "$test_url")
  [ -n "$test_sha256" ] && args+=(--test-set-sha256 "$test_sha256")
  "$python" -m speechrnn "${args[@]}"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: train $config -> $exp"
  overrides=(--set "data.train=$manifests/${task}_train.jsonl" --set "data.valid=$manifests/${task}_valid.jsonl"
             --set "data.noise=$manifests/noise.jsonl" --set "train.out_dir=$exp")
  if [ "$ngpu" -gt 1 ]; then
    torchrun --standalone --nproc-per-node "$ngpu" -m speechrnn.train "$config" "${overrides[@]}" "$@"
  else
    "$python" -m speechrnn train "$config" "${overrides[@]}" "$@"
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: evaluate $exp/best.pt on $manifests/${task}_test.jsonl"
  "$python" -m speechrnn evaluate --model "$exp/best.pt" --manifest "$manifests/${task}_test.jsonl" \
    --output-dir "$exp/eval_test"
  if [ "$task" = sc12 ]; then
    log "stage 2: evaluate $exp/best.pt on the official test files $manifests/sc12_test_official.jsonl"
    "$python" -m speechrnn evaluate --model "$exp/best.pt" --manifest "$manifests/sc12_test_official.jsonl" \
      --output-dir "$exp/eval_test_official"
  fi
fi
