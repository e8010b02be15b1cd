#!/usr/bin/env bash
# Systems V1 and V2 of a leave-one-speaker-out fold (run.sh stage 3): the fold's speaker-normalised
# models Cn, C2n, Fn and Xn adapted to the held-out speaker without its labels (class-balanced
# self-training).
#   round 1: the ensemble of the four labels the speaker's clips (speechrnn pseudo-label; the manifest's
#            own labels are ignored) and the most confident 50 % of each label's clips are kept; each
#            model is fine-tuned from its speaker-normalised checkpoint on them (listed twice) and the
#            five training speakers' isolated clips (configs/loso_adapt.toml); last.pt is the result.
#   round 2: the same with the round-1 ensemble as the labeller and 80 % of each label's clips, again
#            fine-tuned from Cn, C2n, Fn and Xn (not from round 1).
# Each round's ensemble is scored on the speaker's clips ($exp/loso_<tag><round>_<speaker>/eval_test);
# a round whose report is already there is not run again.
#
#   recipes/fsdd/local/self_train.sh --speaker NAME [--bases "c c2 f x"] [--tag v] [--data DIR] [--exp DIR]
#                                    [-- --set k=v ...]
# Everything after "--" goes to every "speechrnn train" call.
set -euo pipefail

speaker=
bases="c c2 f x"
tag=v
data=data
exp=exp/fsdd
python=${PYTHON:-python}
. "$(dirname "$0")/../../parse_options.sh"
[ -n "$speaker" ] || { echo "self_train.sh: --speaker NAME is required" >&2; exit 2; }
extra=("$@")

cd "$(dirname "$0")/../../.."
fold=$data/fsdd/isolated/loso/$speaker
fraction_of_round=(0 0.5 0.8)
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') self_train.sh: $*"; }

labeller=(); for base in $bases; do labeller+=("$exp/loso_${base}n_$speaker/best.pt"); done
for round in 1 2; do
  fraction=${fraction_of_round[$round]}
  run=$exp/loso_$tag${round}_$speaker
  pseudo=$run/pseudo.jsonl
  if [ -f "$run/eval_test/report.json" ]; then
    log "round $round: already done ($run/eval_test/report.json)"
    labeller=(); for base in $bases; do labeller+=("$exp/loso_$tag${round}${base}_$speaker/last.pt"); done
    continue
  fi
  log "round $round: pseudo-label $speaker's clips, keep the top $fraction of each label"
  models=(); for model in "${labeller[@]}"; do models+=(--model "$model"); done
  "$python" -m speechrnn pseudo-label --quiet "${models[@]}" --manifest "$fold/test.jsonl" --pad-ms 200 \
    --min-confidence 0 --top-fraction "$fraction" --output "$pseudo"
  labeller=()
  for base in $bases; do  # each from its own speaker-normalised model, with its own augmentation
    log "round $round: adapt ${base}n"
    warp=(); [ "$base" = f ] && warp=(--set augment.freq_warp=0.1)
    "$python" -m speechrnn train recipes/fsdd/configs/loso_adapt.toml --quiet "${warp[@]}" \
      --set "train.out_dir=$exp/loso_$tag${round}${base}_$speaker" \
      --set "train.init_from=$exp/loso_${base}n_$speaker/best.pt" --set "train.seed=$round" \
      --set "data.train=[\"$fold/train.jsonl\", \"$pseudo\", \"$pseudo\"]" --set "data.valid=$fold/valid.jsonl" \
      "${extra[@]}"
    labeller+=("$exp/loso_$tag${round}${base}_$speaker/last.pt")
  done
  models=(); for model in "${labeller[@]}"; do models+=(--model "$model"); done
  "$python" -m speechrnn evaluate --quiet "${models[@]}" --manifest "$fold/test.jsonl" --decoder closed_set \
    --pad-ms 200 --output-dir "$run/eval_test"
done
