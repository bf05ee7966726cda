// Registration helper: with MCPGW_BENCH_ITERATIONS=N in the environment every benchmark runs
// exactly N iterations (bench/instructions.sh uses it to count instructions per iteration
// under callgrind); otherwise Google Benchmark picks the count.
#pragma once

#include <cstdlib>

#include "benchmark/benchmark.h"

namespace mcpgw::bench {

inline void FixedIterationsFromEnv(benchmark::internal::Benchmark* b) {
  if (const char* n = std::getenv("MCPGW_BENCH_ITERATIONS")) {
    b->Iterations(std::atoll(n));
  }
}

}  // namespace mcpgw::bench

#define MCPGW_BENCHMARK(fn) BENCHMARK(fn)->Apply(::mcpgw::bench::FixedIterationsFromEnv)
