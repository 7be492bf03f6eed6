#!/usr/bin/env bash
# PPOC and DAC against PPO on Hopper-v5 and HalfCheetah-v5 at 1M env steps, seeds 0-2 (docs/options.md), through
# `hrlkit sweep` on one CPU, one trial at a time, each algorithm at its env preset. A sweep whose directory exists is
# resumed (`hrlkit sweep --resume`: finished trials stay, an interrupted one continues from its checkpoint); rerun the
# script to continue after an interruption. Then:
#   .venv/bin/hrlkit report RUNS_DIR/*/runs/* --out RUNS_DIR/report
#   bash benchmarks/options_mujoco.sh [RUNS_DIR] [ENV...]      (default runs/bench/options; Hopper-v5 HalfCheetah-v5)
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/bench/options}
shift || true
envs=${*:-Hopper-v5 HalfCheetah-v5}
mkdir -p "$out"
for env in $envs; do
  for algo in dac ppoc ppo; do
    dir=$out/${env}__${algo}
    if [ "$algo" = ppo ] && [ "$env" = Hopper-v5 ]; then
      continue  # PPO on Hopper-v5: the three runs of benchmarks/on_policy_hopper.sh (docs/on_policy.md)
    fi
    if [ -f "$dir/sweep_spec.json" ]; then
      .venv/bin/hrlkit sweep --resume "$dir" >> "$dir.log" 2>&1
    else
      .venv/bin/hrlkit sweep "$algo" --env "$env" --seeds 3 --cpus 1 --max-concurrent 1 --out "$dir" >> "$dir.log" 2>&1
    fi
  done
done
