// File: process_runtime.h
//
// ProcessRuntime runs MCP servers as local child processes (`npx ...`, `uvx ...`, a binary):
// pipes for stdin/stdout/stderr, an explicit environment, its own process group, and a clean
// kill. Children die with the gateway, even when it is killed with SIGKILL.
//
//   MCPGW_ASSIGN_OR_RETURN(auto runtime, mcpgw::container::ProcessRuntime::Create({}));
//   mcpgw::container::RunSpec spec{.command = "uvx", .args = {"mcp-server-fetch"}};
//   MCPGW_ASSIGN_OR_RETURN(mcpgw::container::InstancePtr server, runtime->Run(spec));
//   // server->id() is the process id (and process group id) as decimal text.
//
// How it works:
// - One thread per runtime does everything that concerns the children: it forks them (so that
//   PR_SET_PDEATHSIG, which fires when the *thread* that forked exits, only fires when the
//   runtime goes away), waits for their exit through pidfds (no SIGCHLD handler, no thread per
//   child), reaps them at once (no zombies), drains their stderr into a bounded RingBuffer (a
//   server that floods stderr never blocks), and sends the SIGKILLs that follow a Stop's grace.
// - A child is started with clone(CLONE_VM | CLONE_VFORK) (what posix_spawn does, plus the
//   PDEATHSIG it cannot set): signals reset to their default action and unblocked (this process
//   ignores SIGPIPE), its own process group, stdin/stdout/stderr on pipes, every other
//   descriptor closed, the working directory, then exec. The command is looked up, and the
//   working directory checked, before the start, so that errors say what to fix.
// - When a child exits, whatever is left in its process group is killed.
// - Stdin/stdout become a base::FdChannel (one I/O thread of its own once started).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "mcpgw/container/runtime.h"

namespace mcpgw::container {

namespace internal {
struct ProcessRuntimeCore;
}  // namespace internal

// Thread-safe. Destroying it kills (SIGKILL) every process it started that still runs, reaps
// them, runs their OnExit callbacks, and joins its thread (when destroyed from one of its own
// OnExit callbacks, the thread finishes that work on its own); Instances may outlive it (they
// then only report the end). Stop servers gracefully before destroying their runtime.
class ProcessRuntime final : public Runtime {
 public:
  struct Options {
    // Bytes of each child's stderr kept for StderrTail (older bytes are dropped).
    size_t stderr_tail_bytes = size_t{64} << 10;
    // When an Instance is destroyed while its process runs: SIGTERM, then SIGKILL after this.
    absl::Duration destroy_grace = absl::Seconds(2);
  };

  // Create starts the runtime's thread. Returns the errno status when a descriptor or the
  // thread's stack cannot be allocated.
  static absl::StatusOr<std::unique_ptr<ProcessRuntime>> Create(Options options);

  ProcessRuntime(const ProcessRuntime&) = delete;
  ProcessRuntime& operator=(const ProcessRuntime&) = delete;
  ~ProcessRuntime() override;

  // Run starts `spec.command` (see Runtime::Run). The environment is exactly: the parent's
  // variables named in `spec.pass_env` that are set (or the whole parent environment with
  // `spec.inherit_env`), overridden by `spec.env`. Returns:
  // - InvalidArgument: empty command, an image, a NUL byte, a variable name that is empty or
  //   contains '='.
  // - NotFound: the command is not in the child's PATH or the path does not exist; the working
  //   directory does not exist.
  // - PermissionDenied: the command is not executable, the working directory not accessible.
  // - FailedPrecondition: the working directory is not a directory; the file is not a program.
  // - Unimplemented: the kernel lacks pidfd_open (Linux < 5.3).
  // - the errno status of pipe2, clone, pidfd_open or execve otherwise.
  // The returned Instance's id() is the process id in decimal. Reads this process's
  // environment: do not call setenv/putenv concurrently (they are not thread-safe anyway).
  absl::StatusOr<InstancePtr> Run(const RunSpec& spec) override;

  absl::StatusOr<std::vector<InstanceInfo>> List(const Labels& selector) override;

  // Prepare resolves `spec.command` as Run would (same errors) and reports the executable's
  // absolute path as `digest`. Nothing is pulled; `on_progress` is never called.
  absl::StatusOr<Prepared> Prepare(const RunSpec& spec,
                                   PullProgressCallback on_progress = nullptr) override;

  // Remove kills (SIGKILL, its whole process group) a process this runtime started;
  // NotFound for any other id.
  absl::Status Remove(absl::string_view id) override;

 private:
  explicit ProcessRuntime(std::shared_ptr<internal::ProcessRuntimeCore> core);

  std::shared_ptr<internal::ProcessRuntimeCore> core_;
};

}  // namespace mcpgw::container
