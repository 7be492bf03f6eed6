#!/usr/bin/env bash
# Hopper-v5 at 1M env steps for PPO, TRPO and VPG, seeds 0-2 (docs/on_policy.md): one run at a time, one torch thread
# (the presets set it), each started or, when its directory exists, resumed exactly where it stopped. Rerun the script
# to continue after an interruption; finished runs return at once.
#   bash benchmarks/on_policy_hopper.sh [RUNS_DIR]      (default runs/bench/hopper)
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/bench/hopper}
mkdir -p "$out"
for seed in 0 1 2; do
  for algo in ppo trpo vpg; do
    dir=$out/Hopper-v5__${algo}__${seed}
    if [ -d "$dir/checkpoints" ]; then
      .venv/bin/hrlkit train "$algo" --resume "$dir" --no-progress >> "$dir.log" 2>&1
    else
      .venv/bin/hrlkit train "$algo" --env Hopper-v5 --seed "$seed" --run-dir "$dir" --no-progress >> "$dir.log" 2>&1
    fi
  done
done
