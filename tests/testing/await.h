// Blocking waits for asynchronous library calls, for tests only (libraries never block).
//
//   absl::StatusOr<std::vector<Tool>> tools = AwaitResult<std::vector<Tool>>(
//       [&](auto done) { client->ListTools(std::move(done)); });
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace mcpgw::testing {

// AwaitResult calls `start` with a callback and waits (bounded) for it to be called.
template <typename T, typename Start>
absl::StatusOr<T> AwaitResult(Start&& start, absl::Duration timeout = absl::Seconds(20)) {
  struct State {
    absl::Mutex mu;
    std::optional<absl::StatusOr<T>> result;
  };
  auto state = std::make_shared<State>();
  start([state](absl::StatusOr<T> r) {
    absl::MutexLock lock(&state->mu);
    state->result = std::move(r);
  });
  absl::MutexLock lock(&state->mu);
  auto ready = [&state]() { return state->result.has_value(); };
  if (!state->mu.AwaitWithTimeout(absl::Condition(&ready), timeout)) {
    return absl::DeadlineExceededError("the callback was not called in time");
  }
  return *std::move(state->result);
}

}  // namespace mcpgw::testing
