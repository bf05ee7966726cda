#!/usr/bin/env bash
# Instructions per iteration of each micro-benchmark, counted by valgrind's callgrind inside
# the benchmark function only, over a fixed number of iterations. Unlike times, these counts
# repeat on a noisy shared machine.
# Usage: bench/instructions.sh [build/release/bench/mcpgw_bench] [filter-regex] [iterations]
set -euo pipefail
bin="${1:-build/release/bench/mcpgw_bench}"
filter="${2:-.}"
iters="${3:-2000}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-32s %14s\n' benchmark instructions/iter
export MCPGW_BENCH_ITERATIONS="$iters"
for name in $("$bin" --benchmark_list_tests | grep -E "$filter"); do
  base="${name%%/*}"
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
    --toggle-collect="*${base}*" "$bin" --benchmark_filter="^${name}\$" >/dev/null 2>&1
  name="${name%%/iterations:*}"
  total=$(grep -m1 '^summary:' "$out/cg" | awk '{print $2}')
  printf '%-32s %14d\n' "$name" $((total / iters))
done
