#!/usr/bin/env bash
# Free Spoken Digit Dataset recipe (stages as in icefall's prepare.sh):
#   stage 0: prepare manifests: isolated (official + leave-one-speaker-out), connected digits at 16 kHz
#            (held-out theo), and connected training sets for the official split and for each fold
#   stage 1: synthesise digits: espeak-ng voices (training variety + held-out voices for testing),
#            flite and festival voices at five vocal-tract scalings (training variety)
#   stage 2: isolated digits, official split: connected-digit CTC model on all six speakers' training
#            takes, isolated test takes recognised by closed-set CTC scoring
#   stage 3: isolated digits, speaker-independent, per held-out speaker (six folds): the same on FSDD
#            voices only; model A adds the synthetic voices, model B also edge crops and tones,
#            model C also pico voices and deep edge crops; model E is C trained with speaker
#            normalisation (each speaker's log-mel statistics from its own unlabelled audio); C2 is C
#            with seed 1; F is C with a vocal-tract-length warp of the mel axis and seed 2; G is C
#            fine-tuned on isolated clips with the closed-set objective (optim.closed_set); <model>n is
#            a model given speaker normalisation after training (speechrnn speaker-norm); the
#            ensemble Cn + C2n + Fn was the reported system until S2 (named before F was trained;
#            until then Cn + C2n); S1 and S2 adapt Cn, C2n and Fn to the held-out speaker without its
#            labels (local/self_train.sh): pseudo-label its clips with the ensemble, keep the most
#            confident half of each label, fine-tune each model on them and the training speakers'
#            clips (configs/loso_adapt.toml); S2 repeats that with S1's labels and 80 %; the
#            ensemble S2 was the reported system until T2 (named before any fold of S1 or S2 was
#            scored); S3, a third round on every clip, was added after S2 was scored (94.7 %); C3 is C
#            with seed 3; T1 and T2 are S1 and S2 with C3n as a fourth model; T2 was the reported
#            system until W2 (named after S2 was scored, before C3 was trained); W1 and W2 are S1 and
#            S2 with test-time vocal-tract-length warps (evaluate --warp) wherever the ensemble labels
#            or is scored; W2 was the reported system until V2 (named after T2 was scored, before any
#            warp was scored; also scored with those warps: Cn + C2n + Fn, and S2's models as they
#            are); X is C with accented English
#            voices added (synthetic voices of eight other languages saying respelled digits, stage
#            1) and seed 4; V1 and V2 are S1 and S2 with Xn as a fourth model; V2 is the reported
#            system (named while W1 and W2 were adapting, before any round of them was scored; W's
#            two warped scorings of nicolas had been seen: 78.0 and 79.6 %)
#   stage 4: connected digits (CTC), full-utterance BiGRU, held-out speaker: train + evaluate
#   stage 5: the bundled streaming model (chunked BiGRU, FSDD + synthetic voices): train + evaluate
#   stage 6: export the bundled model to speechrnn/assets/digits_ctc.pt
#   stage 7: results table (scripts/fsdd_results.py)
#
#   recipes/fsdd/run.sh [--stage N] [--stop-stage N] [--data DIR] [--exp DIR] [--speakers "S ..."]
#                       [--loso-runs "RUN ..."] [-- --set k=v ...]
# --speakers: the leave-one-speaker-out folds of stages 0 and 3 (default all six); --loso-runs: stage 3's
# models and self-trained systems (default all: ctc a b c e c2 f x c3 g s t w v); "c c2 f x v" trains and
# scores only what the reported system V2 needs (four models and two self-training rounds per fold).
# Everything after "--" goes to every "speechrnn train" call (e.g. -- --set train.epochs=2).
set -euo pipefail

stage=0
stop_stage=7
data=data
exp=exp/fsdd
python=${PYTHON:-python}
speakers="george jackson lucas nicolas theo yweweler"  # stages 0 and 3: the leave-one-speaker-out folds
all_loso_runs="ctc a b c e c2 f x c3 g s t w v"
loso_runs=$all_loso_runs  # stage 3's models and self-trained systems; "c c2 f x v": what V2 needs
. "$(dirname "$0")/../parse_options.sh"  # --name value sets $name; "--" ends the options
for run in $loso_runs; do
  [[ " $all_loso_runs " == *" $run "* ]] || { echo "run.sh: unknown --loso-runs entry '$run' (from: $all_loso_runs)" >&2; exit 2; }
done

cd "$(dirname "$0")/../.."  # repository root: config paths are relative to it
configs=recipes/fsdd/configs
fsdd=$data/fsdd
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') run.sh: $*"; }
runs() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
train() {  # train CONFIG OUT_DIR [--set ...]
  local config=$1 out=$2; shift 2
  "$python" -m speechrnn train "$config" --quiet --set "train.out_dir=$out" "$@" "${extra[@]}"
}
evaluate() {  # evaluate MODEL MANIFEST OUT_DIR
  "$python" -m speechrnn evaluate --quiet --model "$1" --manifest "$2" --output-dir "$3"
}
extra=("$@")
wanted() {  # wanted RUN...: every RUN is in --loso-runs (a self-trained system also needs its base models)
  local run
  for run in "$@"; do [[ " $loso_runs " == *" $run "* ]] || return 1; done
}
any_wanted() {  # any_wanted RUN...: at least one RUN is in --loso-runs
  local run
  for run in "$@"; do wanted "$run" && return 0; done
  return 1
}
deep_runs="c e c2 f x c3"  # stage 3's models on the deep-cropped clips (deep_model); G fine-tunes C on them

isolated_model() {  # isolated_model NAME CONNECTED_DIR TEST_MANIFEST: train on connected digits, score closed-set
  train $configs/connected.toml "$exp/$1" --set train.epochs=10 \
    --set "data.train=$2/connected/train.jsonl" --set "data.valid=$2/connected/valid.jsonl"
  "$python" -m speechrnn evaluate --quiet --model "$exp/$1/best.pt" --manifest "$3" \
    --decoder closed_set --pad-ms 200 --output-dir "$exp/$1/eval_test"
}
score_fold() {  # score_fold [--warp "FACTORS"] OUT RUN[/CHECKPOINT]...: $exp/RUN_$speaker/CHECKPOINT (default
  local warp=(1) out models=() run  # best.pt) together on $speaker's isolated clips, with test-time warps FACTORS
  [ "$1" = --warp ] && { read -ra warp <<< "$2"; shift 2; }
  out=$1
  shift
  for run in "$@"; do
    [[ $run == */* ]] || run=$run/best.pt
    models+=(--model "$exp/${run%%/*}_$speaker/${run#*/}")
  done
  "$python" -m speechrnn evaluate --quiet "${models[@]}" --manifest "$fsdd/isolated/loso/$speaker/test.jsonl" \
    --decoder closed_set --pad-ms 200 --warp "${warp[@]}" --output-dir "$exp/${out}_$speaker/eval_test"
}
deep_model() {  # deep_model RUN VOICES [--set ...]: $speaker's fold, configs/loso.toml on deep-cropped FSDD clips + VOICES
  local run=$1 voices=$2; shift 2
  train $configs/loso.toml "$exp/loso_${run}_$speaker" "$@" \
    --set "data.train=[\"$data/fsdd_loso_deep/$speaker/connected/train.jsonl\", $voices]" \
    --set "data.valid=$data/fsdd_loso_deep/$speaker/connected/valid.jsonl"
}
self_train() {  # self_train [self_train.sh options]: adapt $speaker's fold
  recipes/fsdd/local/self_train.sh --speaker "$speaker" --data "$data" --exp "$exp" "$@" -- "${extra[@]}"
}
tta_warps="0.9 0.95 1 1.05 1.1"  # test-time vocal-tract-length warps of W1 and W2 (F trains with 0.9-1.1)

if runs 0; then
  log "stage 0: prepare FSDD manifests in $fsdd (source: \$SPEECHRNN_FSDD or ../shared/data/fsdd)"
  "$python" -m speechrnn prepare fsdd --output "$fsdd"
  small=(--connected-train 2000 --connected-valid 200 --connected-test 0)
  "$python" -m speechrnn prepare fsdd --output "$data/fsdd_all" --test-speaker none "${small[@]}"
  for speaker in $speakers; do  # only the variants that --loso-runs trains on
    if any_wanted ctc a; then
      "$python" -m speechrnn prepare fsdd --output "$data/fsdd_loso/$speaker" --test-speaker "$speaker" "${small[@]}"
    fi
    if wanted b; then
      "$python" -m speechrnn prepare fsdd --output "$data/fsdd_loso_crop/$speaker" --test-speaker "$speaker" \
        "${small[@]}" --edge-crop-ms 80
    fi
    if any_wanted $deep_runs g; then
      "$python" -m speechrnn prepare fsdd --output "$data/fsdd_loso_deep/$speaker" --test-speaker "$speaker" \
        "${small[@]}" --edge-crop-ms 150 --edge-crop-fraction 0.35
    fi
  done
fi

if runs 1; then
  log "stage 1: synthesise espeak-ng, flite, festival, pico and accented digits in $data/synth"
  "$python" recipes/fsdd/local/make_synthetic.py --output "$data/synth" --deep-crop-ms 150
fi

if runs 2; then
  log "stage 2: isolated digits, official split (closed-set CTC)"
  isolated_model official_ctc "$data/fsdd_all" "$fsdd/isolated/official/test.jsonl"
fi

if runs 3; then
  for speaker in $speakers; do
    if wanted ctc; then
      log "stage 3: isolated digits, held-out speaker $speaker (closed-set CTC)"
      isolated_model "loso_ctc_$speaker" "$data/fsdd_loso/$speaker" "$fsdd/isolated/loso/$speaker/test.jsonl"
    fi
    voices="\"$data/synth/train.jsonl\", \"$data/synth/tts/connected/train.jsonl\""
    if wanted a; then
      log "stage 3: held-out speaker $speaker, model A (+ synthetic voices)"
      train $configs/connected.toml "$exp/loso_a_$speaker" --set train.epochs=8 \
        --set "data.train=[\"$data/fsdd_loso/$speaker/connected/train.jsonl\", $voices]" \
        --set "data.valid=$data/fsdd_loso/$speaker/connected/valid.jsonl"
    fi
    if wanted b; then
      log "stage 3: held-out speaker $speaker, model B (+ edge crops, tones)"
      train $configs/loso.toml "$exp/loso_b_$speaker" \
        --set "data.train=[\"$data/fsdd_loso_crop/$speaker/connected/train.jsonl\", $voices]" \
        --set "data.valid=$data/fsdd_loso_crop/$speaker/connected/valid.jsonl"
    fi
    deep="\"$data/synth/train.jsonl\", \"$data/synth/tts_deep/connected/train.jsonl\""
    deep="$deep, \"$data/synth/pico_deep/connected/train.jsonl\""
    accented="$deep, \"$data/synth/accent_deep/connected/train.jsonl\""
    for run in $deep_runs; do
      wanted $run || continue
      log "stage 3: held-out speaker $speaker, model ${run^^}"
      case $run in  # C: B's training with pico voices and deep edge crops on every voice; the others vary C
        c) deep_model c "$deep" ;;
        e) deep_model e "$deep" --set model.speaker_norm=meanvar ;;  # trained with speaker normalisation
        c2) deep_model c2 "$deep" --set train.seed=1 ;;
        f) deep_model f "$deep" --set train.seed=2 --set augment.freq_warp=0.1 ;;  # vocal-tract-length warp
        x) deep_model x "$accented" --set train.seed=4 ;;  # accented English voices added
        c3) deep_model c3 "$deep" --set train.seed=3 ;;
      esac
    done
    if wanted g; then
      log "stage 3: held-out speaker $speaker, model G (C fine-tuned on isolated clips, closed-set objective)"
      isolated="\"$fsdd/isolated/loso/$speaker/train.jsonl\", \"$data/synth/isolated.jsonl\""
      for voices in "$data/synth/tts" "$data/synth/pico"; do
        isolated="$isolated, \"$voices/isolated/official/train.jsonl\", \"$voices/isolated/official/test.jsonl\""
      done
      train $configs/loso_closed_set.toml "$exp/loso_g_$speaker" --set "train.init_from=$exp/loso_c_$speaker/best.pt" \
        --set "data.train=[$isolated]" --set "data.valid=$fsdd/isolated/loso/$speaker/valid.jsonl"
    fi
    log "stage 3: held-out speaker $speaker, every model with test-time speaker normalisation (<run>n)"
    for run in ctc a b c c2 f g c3 x; do  # reference: the fold's five FSDD speakers
      wanted $run || continue
      "$python" -m speechrnn speaker-norm --model "$exp/loso_${run}_$speaker/best.pt" \
        --manifest "$fsdd/isolated/loso/$speaker/train.jsonl" --output "$exp/loso_${run}n_$speaker/best.pt"
      score_fold "loso_${run}n" "loso_${run}n"
      [ "$run" = ctc ] || score_fold "loso_$run" "loso_$run"  # isolated_model scored ctc already
    done
    wanted e && score_fold loso_e loso_e
    wanted a b && score_fold loso_ens loso_a loso_b
    wanted a b c && score_fold loso_ens3 loso_a loso_b loso_c && score_fold loso_ens3n loso_an loso_bn loso_cn
    wanted c c2 && score_fold loso_cc2 loso_c loso_c2 && score_fold loso_cnc2n loso_cn loso_c2n
    wanted c c2 f && score_fold loso_cc2f loso_c loso_c2 loso_f && score_fold loso_cnc2nfn loso_cn loso_c2n loso_fn
    if wanted s; then
      log "stage 3: held-out speaker $speaker, S1 and S2: Cn, C2n and Fn adapted to it without labels (self-training)"
      self_train --rounds 3
    fi
    if wanted t; then
      log "stage 3: held-out speaker $speaker, T1 and T2: the same two rounds with C3n as a fourth model"
      self_train --bases "c c2 f c3" --tag t
    fi
    if wanted w; then
      log "stage 3: held-out speaker $speaker, W1 and W2: S1 and S2 with test-time warps wherever the ensemble labels or scores"
      score_fold --warp "$tta_warps" loso_cnc2nfnw loso_cn loso_c2n loso_fn
      wanted s && score_fold --warp "$tta_warps" loso_s2w loso_s2c/last.pt loso_s2c2/last.pt loso_s2f/last.pt
      self_train --warps "$tta_warps" --tag w
    fi
    if wanted v; then
      log "stage 3: held-out speaker $speaker, V1 and V2: S1 and S2 with Xn as a fourth model"
      score_fold loso_cnc2nfnxn loso_cn loso_c2n loso_fn loso_xn
      self_train --bases "c c2 f x" --tag v
    fi
  done
fi

if runs 4; then
  log "stage 4: connected digits, full-utterance BiGRU-CTC"
  train $configs/connected.toml "$exp/connected_bidir" \
    --set "data.train=$fsdd/connected/train.jsonl" --set "data.valid=$fsdd/connected/valid.jsonl"
  evaluate "$exp/connected_bidir/best.pt" "$fsdd/connected/test.jsonl" "$exp/connected_bidir/eval_test"
fi

if runs 5; then
  log "stage 5: bundled streaming model (chunked BiGRU-CTC, FSDD + synthetic voices)"
  train $configs/bundled.toml "$exp/bundled" \
    --set "data.train=[\"$fsdd/connected/train.jsonl\", \"$data/synth/train.jsonl\"]" \
    --set "data.valid=$fsdd/connected/valid.jsonl"
  log "stage 5: its full-utterance bidirectional reference (same recipe, no chunking)"
  train $configs/bundled.toml "$exp/bundled_bidir" --set model.chunk_size=0 --set model.right_context=0 \
    --set "data.train=[\"$fsdd/connected/train.jsonl\", \"$data/synth/train.jsonl\"]" \
    --set "data.valid=$fsdd/connected/valid.jsonl"
  for run in bundled bundled_bidir; do
    evaluate "$exp/$run/best.pt" "$fsdd/connected/test.jsonl" "$exp/$run/eval_test"
    evaluate "$exp/$run/best.pt" "$data/synth/test.jsonl" "$exp/$run/eval_synth_heldout"
  done
fi

if runs 6; then
  log "stage 6: export $exp/bundled/best.pt -> speechrnn/assets/digits_ctc.pt"
  "$python" -c "import speechrnn.model as m, sys; m.export_model(sys.argv[1], sys.argv[2])" \
    "$exp/bundled/best.pt" speechrnn/assets/digits_ctc.pt
fi

if runs 7; then
  "$python" scripts/fsdd_results.py --exp "$exp"
fi
