#!/usr/bin/env bash
# Models S1 and S2 of a leave-one-speaker-out fold (run.sh stage 3): the fold's Cn, C2n and Fn
# adapted to the held-out speaker without its labels (self-training, class-balanced).
#   round 1: the ensemble Cn + C2n + Fn labels the speaker's clips (speechrnn pseudo-label; the
#            manifest's own labels are ignored); the most confident half of each label's clips are
#            kept; each of C, C2 and F is fine-tuned from its speaker-normalised model on them (listed
#            twice) and the five training speakers' isolated clips (configs/loso_adapt.toml).
#   round 2: the same with the round-1 ensemble as the labeller and 80 % of each label's clips,
#            again fine-tuned from Cn, C2n and Fn (not from round 1).
#   round 3 (only with --rounds 3; added after S2 had been scored, not the reported system): the
#            same with the round-2 ensemble as the labeller and every clip.
# --bases "c c2 f c3" --tag t: the same with model C3 (C's recipe, seed 3) as a fourth model (T1, T2).
# --warps "0.9 0.95 1 1.05 1.1" --tag w: S1 and S2's recipe with test-time vocal-tract-length warps
#            (evaluate/pseudo-label --warp) wherever the ensemble labels or is scored (W1, W2).
# Each round's ensemble is scored on the speaker's clips (exp/fsdd/loso_<tag><round>_<speaker>/eval_test);
# a round whose report is already there is not run again.
#
#   recipes/fsdd/local/self_train.sh --speaker NAME [--rounds 2] [--bases "c c2 f"] [--tag s]
#                                    [--warps "1"] [--data DIR] [--exp DIR] [-- --set k=v ...]
# Everything after "--" goes to every "speechrnn train" call.
set -euo pipefail

speaker=
rounds=2
bases="c c2 f"
tag=s
warps=1
data=data
exp=exp/fsdd
python=${PYTHON:-python}
. "$(dirname "$0")/../../parse_options.sh"
[ -n "$speaker" ] || { echo "self_train.sh: --speaker NAME is required" >&2; exit 2; }
extra=("$@")
read -ra warp_factors <<< "$warps"

cd "$(dirname "$0")/../../.."
fold=$data/fsdd/isolated/loso/$speaker
fraction_of_round=(0 0.5 0.8 1.0)
[[ $rounds =~ ^[1-3]$ ]] || { echo "self_train.sh: --rounds must be 1, 2 or 3, got $rounds" >&2; exit 2; }
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') self_train.sh: $*"; }

labeller=(); for base in $bases; do labeller+=("$exp/loso_${base}n_$speaker/best.pt"); done
for round in $(seq "$rounds"); do
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
    --min-confidence 0 --top-fraction "$fraction" --warp "${warp_factors[@]}" --output "$pseudo"
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
    --pad-ms 200 --warp "${warp_factors[@]}" --output-dir "$run/eval_test"
done
