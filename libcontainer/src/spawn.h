// Private to libcontainer: how ProcessRuntime turns a RunSpec into an exec plan (environment,
// command lookup, checks whose errors a user can act on) and starts a child from it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mcpgw/container/runtime.h"

namespace mcpgw::container::internal {

// Everything exec needs, decided before the start.
struct ExecPlan {
  std::string path;               // what execve gets (relative paths: to working_dir)
  std::vector<std::string> argv;  // argv[0] is spec.command
  std::vector<std::string> env;   // "NAME=value", sorted by name
  std::string working_dir;        // empty: the parent's
};

// BuildEnvironment returns the child's environment ("NAME=value", sorted by name): the variables
// of `parent_env` (a NULL-terminated environ-style array) named in spec.pass_env, or all of them
// with spec.inherit_env, then spec.env on top.
std::vector<std::string> BuildEnvironment(const RunSpec& spec, const char* const* parent_env);

// PlanExec validates `spec` for a local process, builds its environment and looks the command
// up in the PATH the child will get. Error codes: see ProcessRuntime::Run.
absl::StatusOr<ExecPlan> PlanExec(const RunSpec& spec, const char* const* parent_env);

struct SpawnedProcess {
  pid_t pid = -1;
  int pidfd = -1;
  int stdin_fd = -1;   // our write end of the child's stdin
  int stdout_fd = -1;  // our read end of the child's stdout
  int stderr_fd = -1;  // our read end of the child's stderr
};

// A stack for the short life of a child between clone and exec (the parent is suspended
// meanwhile, so one stack serves every spawn of one thread). Thread-compatible.
class CloneStack {
 public:
  static absl::StatusOr<CloneStack> Create();
  CloneStack(CloneStack&& other) noexcept;
  CloneStack& operator=(CloneStack&&) = delete;
  CloneStack(const CloneStack&) = delete;
  ~CloneStack();

  void* top() const { return static_cast<char*>(base_) + size_; }

 private:
  CloneStack(void* base, size_t size) : base_(base), size_(size) {}
  void* base_;
  size_t size_;
};

// Spawn starts `plan`: pipes (O_CLOEXEC) for stdin/stdout/stderr, clone(CLONE_VM|CLONE_VFORK),
// and in the child: signal dispositions to default, PR_SET_PDEATHSIG(SIGKILL) with the getppid
// check, its own process group, pipes on 0/1/2, every other descriptor closed, chdir, an empty
// signal mask, execve. Returns once exec succeeded, or the error of the step that failed.
//
// Call it from the thread that is to be the child's parent for its whole life (PDEATHSIG fires
// when that thread exits), with all signals blocked in that thread (no handler of ours may run
// in the child, which shares our memory until exec).
absl::StatusOr<SpawnedProcess> Spawn(const ExecPlan& plan, const CloneStack& stack);

}  // namespace mcpgw::container::internal
