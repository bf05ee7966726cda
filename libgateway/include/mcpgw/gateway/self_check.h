// File: self_check.h
//
// A self-check of the protocol core: an MCP client session and a server session talk over the
// stdio transport through a pair of pipes inside this process. For each protocol revision the
// client offers, the server negotiates; then the client pings and measures round trips. It is
// what `mcpgw selftest` runs, and a quick way to see that the build works on a machine.
//
//   MCPGW_ASSIGN_OR_RETURN(SelfCheckReport report, RunSelfCheck({.pings = 1000}));
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mcpgw::gateway {

struct SelfCheckOptions {
  int pings = 1000;
  absl::Duration timeout = absl::Seconds(10);
};

struct SelfCheckReport {
  // "offered → negotiated" for each revision offered (and one unknown revision).
  std::vector<std::pair<std::string, std::string>> negotiations;
  int pings = 0;
  absl::Duration p50;
  absl::Duration p99;
  absl::Duration max;
};

// RunSelfCheck runs the check. Returns the first failure (a transport that cannot be made, a
// handshake that fails or negotiates the wrong revision, a ping that fails).
absl::StatusOr<SelfCheckReport> RunSelfCheck(const SelfCheckOptions& options);

}  // namespace mcpgw::gateway
