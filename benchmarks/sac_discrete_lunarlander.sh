#!/usr/bin/env bash
# SAC-discrete against DQN on LunarLander-v3 at equal env steps (300k, the SAC-discrete preset's budget; DQN's preset
# is rl-baselines3-zoo's, which stops at 100k), seeds 0-2, each at its section of the LunarLander-v3 preset, one trial
# at a time through `hrlkit sweep`, one seed of both learners before the next seed. A sweep whose directory exists is
# resumed (`hrlkit sweep --resume`): rerun the script to continue after an interruption. Then:
#   .venv/bin/hrlkit report RUNS_DIR/*/runs/* --metric eval/mean_return --out RUNS_DIR/report
#   bash benchmarks/sac_discrete_lunarlander.sh [RUNS_DIR] [SEEDS]      (default runs/bench/sacd_lunarlander; 3)
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/bench/sacd_lunarlander}
seeds=${2:-3}
mkdir -p "$out"
for seed in $(seq 0 $((seeds - 1))); do
  for algo in sac-discrete dqn; do
    dir=$out/${algo}__seed${seed}
    if [ -f "$dir/sweep_spec.json" ]; then
      .venv/bin/hrlkit sweep --resume "$dir" >> "$dir.log" 2>&1
    else
      .venv/bin/hrlkit sweep "$algo" --env LunarLander-v3 --seed "$seed" --seeds 1 --total-env-steps 300000 \
        --cpus 1 --max-concurrent 1 --out "$dir" >> "$dir.log" 2>&1
    fi
  done
done
