#!/usr/bin/env bash
# Meta-World MT1 pick-place-v3: the option learners (DAC on PPO, Option-Critic) against flat SAC at equal env steps
# (docs/options.md), each at its section of the Meta-World/MT1 preset, one seed of every learner before the next seed,
# one trial at a time on one CPU, through `hrlkit sweep`. A sweep whose directory exists is resumed (`hrlkit sweep
# --resume`: a finished trial stays, an interrupted one continues from its checkpoint): rerun the script to continue.
# Then:
#   .venv/bin/hrlkit report RUNS_DIR/*/runs/* --metric eval/success_rate --out RUNS_DIR/report
#   [STEPS=N] [FIRST_SEED=K] bash benchmarks/options_metaworld.sh [RUNS_DIR] [SEEDS] [ALGO...]
#   (defaults: runs/bench/metaworld; 3 seeds; dac sac option-critic; STEPS: each new sweep's env steps, else the
#   preset's 1M; a resumed sweep keeps the budget it started with; FIRST_SEED: start at seed K, default 0, e.g. to
#   leave a seed whose sweep already passed STEPS alone)
set -u
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-osmesa}
out=${1:-runs/bench/metaworld}
seeds=${2:-3}
shift 2 || shift $#
algos=${*:-dac sac option-critic}
mkdir -p "$out"
for seed in $(seq "${FIRST_SEED:-0}" $((seeds - 1))); do
  for algo in $algos; do
    dir=$out/${algo}__seed${seed}
    if [ -f "$dir/sweep_spec.json" ]; then
      .venv/bin/hrlkit sweep --resume "$dir" >> "$dir.log" 2>&1
    else
      .venv/bin/hrlkit sweep "$algo" --env Meta-World/MT1 --seed "$seed" --seeds 1 --cpus 1 --max-concurrent 1 \
        ${STEPS:+--total-env-steps "$STEPS"} --out "$dir" >> "$dir.log" 2>&1
    fi
  done
done
