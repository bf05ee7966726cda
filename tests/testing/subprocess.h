// Runs a program to completion for end-to-end tests: feeds it stdin, collects stdout and
// stderr, and reports how it ended. (Tests may spawn; libmcp never does.)
#pragma once

#include <string>
#include <vector>

namespace mcpgw::testing {

struct ChildResult {
  bool started = false;
  std::string out;
  std::string err;
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
};

// RunProgram runs `argv` (argv[0] is a path, or a name looked up in PATH), writes `input` to its
// stdin, then closes it. `extra_env` entries ("NAME=value") are added to this process's
// environment. Blocks until the program exits.
ChildResult RunProgram(const std::vector<std::string>& argv, const std::string& input = "",
                       const std::vector<std::string>& extra_env = {});

// RequireOrSkip tells a test whose prerequisite is missing what to do: when CI=true (or the
// given variable is 1) it is a failure; otherwise the test is skipped with `why`.
bool MustNotSkip(const char* require_variable);

// E2eNodeModules is tests/e2e/node_modules (or $MCPGW_E2E_NODE_MODULES); empty when absent.
std::string E2eNodeModules();

}  // namespace mcpgw::testing

// Skips the test when a prerequisite is missing, except in CI where it fails.
#define MCPGW_REQUIRE_OR_SKIP(condition, require_variable, why)                          \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      if (::mcpgw::testing::MustNotSkip(require_variable)) {                            \
        FAIL() << (why) << " (required here: CI=true or " << (require_variable) << "=1)"; \
      }                                                                                 \
      GTEST_SKIP() << (why);                                                            \
    }                                                                                   \
  } while (false)
