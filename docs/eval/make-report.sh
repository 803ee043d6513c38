#!/usr/bin/env bash
# Makes docs/eval/: the evaluation of a model trained on ../shared/corpus and
# ../shared/lab-corpus, against the real captures of both, with the files the model's dataset held
# out as the held-out set (so the floor, the model and the baselines are all measured on captures
# no one trained on).
#
#   docs/eval/make-report.sh [MODEL_DIR] [FLOWS_PER_CLASS] [OUT_DIR]
#
# Defaults: models/default, 100 flows a class, docs/eval. Needs target/release/netdiffd (or the
# binary BIN names) and jq.
# CORPORA="../shared/lab-corpus" evaluates on one corpus only (and generates only its classes);
# KEEP=1 keeps the work folder (real links, synthetic captures).
# SEED=N draws the model's flows with seed N and the baselines, samplings and forests with N - 1
# (default 1: the shipped report), to tell a difference from sampling noise.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-models/default}
flows=${2:-100}
out=${3:-docs/eval}
bin=${BIN:-target/release/netdiffd}
seed=${SEED:-1}
work=$(mktemp -d /tmp/netdiffd-eval.XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

# One folder of class folders holding both corpora (links), with one manifest: the first
# corpus decides a class's group, as `netdiffd dataset` does.
real=$work/real
mkdir -p "$real"
echo "class,macro" >"$real/MANIFEST.csv"
for corpus in ${CORPORA:-../shared/corpus ../shared/lab-corpus}; do
    for f in "$corpus"/*/*.pcap "$corpus"/*/*.pcapng; do
        [ -e "$f" ] || continue
        class=$(basename "$(dirname "$f")")
        mkdir -p "$real/$class"
        if [ -e "$real/$class/$(basename "$f")" ]; then
            echo "name clash: $class/$(basename "$f")" >&2
            exit 1
        fi
        ln -s "$(realpath "$f")" "$real/$class/$(basename "$f")"
    done
    tail -n +2 "$corpus/MANIFEST.csv" | while IFS=, read -r class macro _; do
        grep -q "^$class," "$real/MANIFEST.csv" || echo "$class,$macro" >>"$real/MANIFEST.csv"
    done
done

# The files the model's dataset held out, from its card (those of the corpora evaluated).
holdout=$(jq -r '.corpus[] | select(.split == "holdout") | .path | split("/") | .[-1]' "$model/card.json" |
    while read -r f; do ls "$real"/*/"$f" >/dev/null 2>&1 && echo "$f"; done | paste -sd,)
echo "work folder: $work"
echo "held out: $holdout"

# The model's traffic: one capture a class.
synth=$work/synthetic
for class in $(jq -r '.classes[].name' "$model/card.json"); do
    [ -d "$real/$class" ] || continue
    mkdir -p "$synth/$class"
    "$bin" generate --model "$model" --mix "$class=1" --flows "$flows" --seed "$seed" \
        -o "$synth/$class/synthetic.pcap" | tail -1
done

mkdir -p "$out"
"$bin" eval --real "$real" --synthetic "$synth" --baselines --holdout-files "$holdout" \
    --seed $((seed - 1)) -o "$out"
rm -rf "$out/baselines"
