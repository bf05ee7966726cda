// Runs a program to completion for end-to-end tests: feeds it stdin, collects stdout and
// stderr, and reports how it ended. (Tests may spawn; libmcp never does.)
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

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

// BackgroundProgram runs a program beside the test (a server the test talks to), collecting its
// stdout and stderr while it runs. Its stdin stays open (a pipe) until it is stopped. The
// destructor kills it (SIGKILL) if it still runs, and reaps it.
class BackgroundProgram {
 public:
  // Null when it cannot be started (`why` says why).
  static std::unique_ptr<BackgroundProgram> Start(const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& extra_env,
                                                  std::string* why);
  ~BackgroundProgram();

  // WaitForStderr waits until a line of its stderr contains `marker` and returns what follows
  // the marker on that line; nullopt when it exits or `timeout` passes first.
  std::optional<std::string> WaitForStderr(const std::string& marker, absl::Duration timeout);
  // Stop sends `signal`, closes its stdin and waits for it to exit (SIGKILL after `timeout`):
  // how it ended, with all it wrote.
  ChildResult Stop(int signal, absl::Duration timeout = absl::Seconds(15));
  pid_t pid() const { return pid_; }
  std::string err() const;

 private:
  BackgroundProgram() = default;

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::thread out_reader_;
  std::thread err_reader_;
  mutable absl::Mutex mu_;
  std::string out_ ABSL_GUARDED_BY(mu_);
  std::string err_ ABSL_GUARDED_BY(mu_);
  bool err_closed_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<ChildResult> result_;
};

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
