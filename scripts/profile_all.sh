#!/usr/bin/env bash
# Measure the shipped cpu-host profiles: every zoo model at both granularities, 1 thread, 100 repeats.
# Usage: scripts/profile_all.sh [extra `donna profile` args...]   (e.g. --device-type cpu-mine)
# ORDER=blocked measures each unit's repeats back to back (the paper's method, needed for RAPL/NVML energy);
# the default, interleaved, runs round-robin over the units and the whole model, which is robust to the
# drifting background load of a shared machine but measures time only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
NOTES=${NOTES:-"2-core cloud VM shared with other processes during profiling (see load_avg_before/after)"}
for model in vgg8 resnet152 vgg19 vit_b_16; do
  for gran in layer block; do
    "$PY" -m donna_core.cli profile --model "$model" --granularity "$gran" --device cpu --threads 1 \
      --repeats "${REPEATS:-100}" --order "${ORDER:-interleaved}" --notes "$NOTES" "$@"
  done
done
# Decoder LLMs (issue 12), per phase at context 128; TinyLlama prefill takes ~5 s per run on 1 thread, so it
# gets 30 repeats (the shipped profiles: 100 repeats for the others, 10/5/3 warm-up runs).
if [[ "${LLMS:-1}" == 1 ]]; then
  for spec in "gpt2 prefill 100 10" "gpt2 decode 100 10" "tinyllama decode 100 5" "tinyllama prefill 30 3"; do
    read -r model phase reps warm <<< "$spec"
    "$PY" -m donna_core.cli profile --model "$model" --phase "$phase" --device cpu --threads 1 \
      --repeats "${REPEATS:-$reps}" --warmup "$warm" --order "${ORDER:-interleaved}" --notes "$NOTES" "$@"
  done
fi
