#!/usr/bin/env bash
# Free Spoken Digit Dataset recipe (stages as in icefall's prepare.sh; results in RESULTS.md):
#   stage 0: FSDD manifests: isolated digits (official split, six leave-one-speaker-out folds),
#            connected digits at 16 kHz (theo held out), connected digits of all six speakers for the
#            official split, and per fold connected digits of its five training speakers, deep edge-cropped
#   stage 1: synthetic voices: espeak-ng (training voices + held-out test voices), flite/festival,
#            Pico and accented-English digits (local/make_synthetic.py)
#   stage 2: isolated digits, official split: connected-digit CTC model, scored closed-set
#   stage 3: isolated digits, leave-one-speaker-out, per fold: the reported system V2. Models C, C2
#            (seed 1), F (seed 2, vocal-tract-length warp) and X (seed 4, accented voices added),
#            each given speaker normalisation (speechrnn speaker-norm), then adapted to the held-out
#            speaker without its labels by two rounds of self-training (local/self_train.sh)
#   stage 4: connected digits, full-utterance BiGRU-CTC on FSDD, held-out speaker theo
#   stage 5: the bundled streaming model: a chunked BiGRU-CTC over Google's pretrained speech embedding,
#            trained on FSDD + synthetic voices and real people: the real-speech share's training
#            speakers' digits, and their other words and noise as "no digit" (needs
#            recipes/commands/run.sh stages 0-1 for those and the embedding; runs them when missing)
#   stage 6: export the bundled model to speechrnn/assets/digits_ctc.pt
#   stage 7: results tables (scripts/fsdd_results.py)
#
#   recipes/fsdd/run.sh [--stage N] [--stop-stage N] [--data DIR] [--exp DIR] [--speakers "S ..."]
#                       [-- --set k=v ...]
# --speakers: the leave-one-speaker-out folds of stages 0 and 3 (default all six).
# Everything after "--" goes to every "speechrnn train" call (e.g. -- --set train.threads=1).
set -euo pipefail

stage=0
stop_stage=7
data=data
exp=exp/fsdd
speakers="george jackson lucas nicolas theo yweweler"
python=${PYTHON:-python}
. "$(dirname "$0")/../parse_options.sh"  # --name value sets $name; "--" ends the options
extra=("$@")

cd "$(dirname "$0")/../.."  # repository root: config paths are relative to it
configs=recipes/fsdd/configs
fsdd=$data/fsdd
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') run.sh: $*"; }
runs() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
train() {  # train CONFIG OUT_DIR [--set ...]
  local config=$1 out=$2; shift 2
  "$python" -m speechrnn train "$config" --quiet --set "train.out_dir=$out" "$@" "${extra[@]}"
}
evaluate() {  # evaluate RUN MANIFEST NAME [option ...]: $exp/RUN/best.pt on MANIFEST, report in $exp/RUN/NAME
  local out=$1 manifest=$2 name=$3; shift 3
  "$python" -m speechrnn evaluate --quiet --model "$exp/$out/best.pt" --manifest "$manifest" \
    --output-dir "$exp/$out/$name" "$@"
}
closed_set=(--decoder closed_set --pad-ms 200)  # isolated clips: ten digits' CTC scores, 200 ms of silence around

if runs 0; then
  log "stage 0: FSDD manifests in $data (source: \$SPEECHRNN_FSDD or ../shared/data/fsdd)"
  "$python" -m speechrnn prepare fsdd --output "$fsdd"
  small=(--connected-train 2000 --connected-valid 200 --connected-test 0)
  "$python" -m speechrnn prepare fsdd --output "$data/fsdd_all" --test-speaker none "${small[@]}"
  for speaker in $speakers; do
    "$python" -m speechrnn prepare fsdd --output "$data/fsdd_loso_deep/$speaker" --test-speaker "$speaker" \
      "${small[@]}" --edge-crop-ms 150 --edge-crop-fraction 0.35
  done
fi

if runs 1; then
  log "stage 1: synthetic espeak-ng, flite, festival, Pico and accented digits in $data/synth"
  "$python" recipes/fsdd/local/make_synthetic.py --output "$data/synth"
fi

if runs 2; then
  log "stage 2: isolated digits, official split (connected-digit CTC, closed-set scoring)"
  train $configs/connected.toml "$exp/official_ctc" --set train.epochs=10 \
    --set "data.train=$data/fsdd_all/connected/train.jsonl" --set "data.valid=$data/fsdd_all/connected/valid.jsonl"
  evaluate official_ctc "$fsdd/isolated/official/test.jsonl" eval_test "${closed_set[@]}"
fi

if runs 3; then
  voices="\"$data/synth/train.jsonl\", \"$data/synth/tts_deep/connected/train.jsonl\""
  voices="$voices, \"$data/synth/pico_deep/connected/train.jsonl\""
  for speaker in $speakers; do
    fold=$data/fsdd_loso_deep/$speaker/connected
    for model in c c2 f x; do
      log "stage 3: held-out speaker $speaker, model ${model^^}"
      case $model in  # configs/loso.toml on the fold's deep-cropped clips and the synthetic voices
        c) args=() ;;
        c2) args=(--set train.seed=1) ;;
        f) args=(--set train.seed=2 --set augment.freq_warp=0.1) ;;  # vocal-tract-length warp
        x) args=(--set train.seed=4) ;;  # and accented English (below)
      esac
      train_voices=$voices
      [ $model = x ] && train_voices="$voices, \"$data/synth/accent_deep/connected/train.jsonl\""
      train $configs/loso.toml "$exp/loso_${model}_$speaker" "${args[@]}" \
        --set "data.train=[\"$fold/train.jsonl\", $train_voices]" --set "data.valid=$fold/valid.jsonl"
      log "stage 3: held-out speaker $speaker, model ${model^^}n (speaker normalisation, reference: the fold's FSDD speakers)"
      "$python" -m speechrnn speaker-norm --model "$exp/loso_${model}_$speaker/best.pt" \
        --manifest "$fsdd/isolated/loso/$speaker/train.jsonl" --output "$exp/loso_${model}n_$speaker/best.pt"
    done
    log "stage 3: held-out speaker $speaker, Cn + C2n + Fn + Xn before adaptation"
    models=(); for model in c c2 f x; do models+=(--model "$exp/loso_${model}n_$speaker/best.pt"); done
    "$python" -m speechrnn evaluate --quiet "${models[@]}" --manifest "$fsdd/isolated/loso/$speaker/test.jsonl" \
      "${closed_set[@]}" --output-dir "$exp/loso_cnc2nfnxn_$speaker/eval_test"
    log "stage 3: held-out speaker $speaker, V1 and V2: two rounds of self-training on its unlabelled clips"
    recipes/fsdd/local/self_train.sh --speaker "$speaker" --data "$data" --exp "$exp" -- "${extra[@]}"
  done
fi

if runs 4; then
  log "stage 4: connected digits, full-utterance BiGRU-CTC"
  train $configs/connected.toml "$exp/connected_bidir" \
    --set "data.train=$fsdd/connected/train.jsonl" --set "data.valid=$fsdd/connected/valid.jsonl"
  evaluate connected_bidir "$fsdd/connected/test.jsonl" eval_test
fi

if runs 5; then
  log "stage 5: the bundled streaming model: chunked BiGRU-CTC over the speech embedding"
  commands=$data/commands
  [ -f "$commands/embedding_model.onnx" ] || recipes/commands/run.sh --stage 0 --stop-stage 1 --data "$commands"
  manifests=$commands/manifests
  real=("$manifests/sc12_test_official_train.jsonl" "$manifests/sc_v0.01_sample_train.jsonl")
  digits=(zero one two three four five six seven eight nine)
  "$python" recipes/fsdd/local/spoken_words.py --output "$data/real_words/real_digits.jsonl" "${real[@]}" \
    --keep "${digits[@]}" --drop-others
  "$python" recipes/fsdd/local/spoken_words.py --output "$data/real_words/digits_or_nothing.jsonl" "${real[@]}" \
    "$manifests/wake_words_train.jsonl" "$commands/synth/unknown.jsonl" "$commands/silence.jsonl" \
    --keep "${digits[@]}" --others 600
  train_set="\"$fsdd/connected/train.jsonl\", \"$data/synth/train.jsonl\", \"$data/real_words/digits_or_nothing.jsonl\""
  for _ in $(seq 12); do train_set+=", \"$data/real_words/real_digits.jsonl\""; done
  train $configs/bundled.toml "$exp/bundled" --set "data.train=[$train_set]" \
    --set "data.valid=$fsdd/connected/valid.jsonl" --set "data.noise=$commands/silence_noise.jsonl" \
    --set "train.embedding_from=$commands/embedding_model.onnx"
  evaluate bundled "$fsdd/connected/test.jsonl" eval_test
  evaluate bundled "$data/synth/test.jsonl" eval_synth_heldout
  "$python" scripts/eval_real.py --model "$exp/bundled/best.pt" --split valid --quiet --output-dir "$exp/bundled/eval_real"
fi

if runs 6; then
  log "stage 6: export $exp/bundled/best.pt -> speechrnn/assets/digits_ctc.pt"
  "$python" -c "import speechrnn.model as m, sys; m.export_model(sys.argv[1], sys.argv[2])" \
    "$exp/bundled/best.pt" speechrnn/assets/digits_ctc.pt
fi

if runs 7; then
  "$python" scripts/fsdd_results.py --exp "$exp"
fi
