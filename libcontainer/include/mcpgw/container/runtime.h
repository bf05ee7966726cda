// File: runtime.h
//
// The interface behind which MCP servers are started: a local process (`ProcessRuntime`, see
// process_runtime.h) or a container (`DockerEngine`, docker_engine.h). A runtime runs a
// `RunSpec` and hands back an `Instance`: a duplex stdin/stdout byte stream (the caller frames
// messages on it, see mcpgw/base/byte_channel.h), the tail of its stderr, its exit, and a way
// to stop it. This library knows nothing about MCP.
//
//   MCPGW_ASSIGN_OR_RETURN(auto runtime, mcpgw::container::ProcessRuntime::Create({}));
//   mcpgw::container::RunSpec spec;
//   spec.command = "npx";
//   spec.args = {"-y", "@modelcontextprotocol/server-everything"};
//   spec.env["API_KEY"] = key;
//   MCPGW_ASSIGN_OR_RETURN(auto instance, runtime->Run(spec));
//   mcpgw::base::ByteChannelPtr stdio = instance->TakeStdio();  // start it, frame on it
//   instance->OnExit([](mcpgw::container::ExitStatus status) {
//     spdlog::info("everything server {}", status.ToString());  // on the runtime's thread
//   });
//   ...
//   instance->Stop(absl::Seconds(5));  // SIGTERM now, SIGKILL in 5 s if still running
//   absl::StatusOr<ExitStatus> end = instance->WaitForExit(absl::Seconds(6));
//   if (end.ok() && !end->success()) {
//     return ExitError("everything server", *end, instance->StderrTail(20));
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mcpgw/base/byte_channel.h"

namespace mcpgw::container {

using Labels = absl::flat_hash_map<std::string, std::string>;

// How an instance ended: either it exited with a code, or a signal killed it.
struct ExitStatus {
  // The code passed to exit() when `signal` is 0; -1 when the status could not be learned
  // (another part of the program reaped the process first).
  int exit_code = 0;
  // The signal that killed the process, 0 when it exited normally.
  int signal = 0;

  static ExitStatus Exited(int code) { return {.exit_code = code, .signal = 0}; }
  static ExitStatus Killed(int sig) { return {.exit_code = -1, .signal = sig}; }

  bool killed() const { return signal != 0; }
  bool success() const { return signal == 0 && exit_code == 0; }

  // ToString reads "exited with code 3" or "was killed by signal 9 (SIGKILL)".
  std::string ToString() const;

  friend bool operator==(const ExitStatus&, const ExitStatus&) = default;
};

// ExitError builds the error for an instance that ended when it should not have (a server that
// exited during start-up, or while serving): "<what> exited with code 1; the last lines it wrote
// to stderr:\n<tail>". `what` names it for the user (a server name, or the command); pass
// `Instance::StderrTail(n)` as `stderr_tail`. Returns Unavailable.
absl::Status ExitError(absl::string_view what, const ExitStatus& status,
                       absl::string_view stderr_tail);

// A file or directory of the host (or a volume, or a tmpfs) mounted into a container.
struct Mount {
  enum class Type {
    kBind,    // `source` is an absolute path on the engine's host
    kVolume,  // `source` names an engine volume (created on first use)
    kTmpfs,   // an empty in-memory filesystem; `source` must be empty
  };
  Type type = Type::kBind;
  std::string source;
  // Absolute path inside the container.
  std::string target;
  bool read_only = false;
};

// A resource limit inside a container ("nofile", "nproc", ...: setrlimit's names without
// RLIMIT_, lower case).
struct Ulimit {
  std::string name;
  int64_t soft = 0;
  int64_t hard = 0;
};

// What to run. A local process needs `command`; a container needs `image` (DockerEngine).
// Thread-compatible (a plain value).
struct RunSpec {
  // --- The program (every runtime) ---

  // The program: a name looked up in the PATH the process will get (env["PATH"] if given, else
  // the parent's PATH when it is passed), or a path containing '/' (relative to `working_dir`).
  // For an image, optional: replaces the image's entrypoint.
  std::string command;
  // Arguments after the program name (argv[1..]).
  std::vector<std::string> args;
  // Variables set for the program; they override passed or inherited ones.
  absl::flat_hash_map<std::string, std::string> env;
  // Variables of this (the parent) process passed on when set; the rest of the parent's
  // environment is not. The default keeps `npx`, `uvx` and friends working.
  std::vector<std::string> pass_env = {"PATH", "HOME", "LANG"};
  // Pass the parent's whole environment instead of `pass_env` (a local, trusted server).
  bool inherit_env = false;
  // Directory the program starts in; empty: the parent's current directory.
  std::string working_dir;
  // Labels to find the instance by (`Runtime::List`); a container runtime stores them on the
  // container, so instances left by an earlier run of the gateway can be found and removed.
  Labels labels;

  // --- Container only (DockerEngine); ProcessRuntime refuses a spec with an image ---

  // Image reference, e.g. "mcp/fetch:latest" or "ghcr.io/org/server@sha256:...". With an image,
  // `args` replace the image's command and `pass_env`/`inherit_env` do not apply (only `env`
  // reaches the container).
  std::string image;
  // Files and directories the container sees.
  std::vector<Mount> mounts;
  // "none" (the default: no network at all), "bridge", "host", or the name of an engine network.
  std::string network = "none";
  // CPU limit in cores (1.5 = one and a half cores); 0 = no limit.
  double cpus = 0;
  // Memory limit in bytes (swap included: the container gets no swap beyond it); 0 = no limit.
  int64_t memory_bytes = 0;
  // Largest number of processes and threads in the container; 0 = the engine's default.
  int64_t pids_limit = 0;
  // Mount the image's root filesystem read-only (give writable places as tmpfs mounts).
  bool read_only_rootfs = false;
  // The user the program runs as: "uid", "uid:gid" or a name from the image; empty = the
  // image's user.
  std::string user;
  // Resource limits (setrlimit) inside the container; unset ones keep the engine's defaults
  // (podman: once any is given, give `nofile` and `nproc` too — it sets the others to values
  // a machine's hard limits may refuse).
  std::vector<Ulimit> ulimits;
};

// What `Runtime::Prepare` learnt: where the program comes from, for logs and caches.
struct Prepared {
  // A content address of what will run: the image's repository digest
  // ("registry/name@sha256:..."; for an image never pushed or pulled, its local id
  // "sha256:..."), or for a local program the absolute path of the executable.
  std::string digest;
  // The image's local id ("sha256:..."); empty for a local program.
  std::string image_id;
  // True when Prepare had to pull the image.
  bool pulled = false;
};

// A progress report while an image is pulled: one per engine event, in order.
struct PullProgress {
  // The layer the event is about ("" for events about the whole image).
  std::string layer;
  // The engine's words: "Pulling fs layer", "Downloading", "Pull complete", "Digest: ...".
  std::string status;
  // Bytes done and total of the layer's current phase; 0 when the engine gave none.
  int64_t current = 0;
  int64_t total = 0;
  // Over the layers seen so far: bytes downloaded and bytes to download (a lower bound until
  // every layer has reported its size).
  int64_t downloaded = 0;
  int64_t to_download = 0;
};

using PullProgressCallback = absl::AnyInvocable<void(const PullProgress&)>;

// What `Runtime::List` reports about an instance.
struct InstanceInfo {
  std::string id;
  Labels labels;
  // Set once it has ended.
  std::optional<ExitStatus> exit_status;
};

// A running (or ended) program started by a Runtime. Destroying it stops the program if it
// still runs (gracefully, without blocking; see the implementation for the grace period).
//
// Thread-safe: every method may be called from any thread, concurrently.
class Instance {
 public:
  using ExitCallback = absl::AnyInvocable<void(ExitStatus) &&>;

  virtual ~Instance() = default;

  // id names the instance in its runtime (a process id, a container id). Never empty.
  virtual const std::string& id() const = 0;

  // TakeStdio hands over the program's stdin (writes) and stdout (reads) as one channel, not
  // yet started. The caller owns it; closing its write side gives the program end of input.
  // Returns nullptr after the first call.
  virtual base::ByteChannelPtr TakeStdio() = 0;

  // StderrTail returns at most the last `lines` lines the program wrote to stderr (stderr is
  // always drained and only a bounded tail is kept).
  virtual std::string StderrTail(size_t lines) const = 0;

  // OnExit registers `callback` to be called exactly once with the exit status: on the caller's
  // thread before OnExit returns if the program has already ended, else on the runtime's thread
  // once it ends (keep it short: it delays that thread's other work). Callbacks run even if this
  // Instance is destroyed meanwhile: capture a weak_ptr or a liveness token, not a bare `this`.
  // When it runs, StderrTail holds everything the program wrote to stderr; the stdio channel
  // delivers stdout on its own thread, so its last bytes may arrive after this call.
  virtual void OnExit(ExitCallback callback) = 0;

  // WaitForExit blocks until the program has ended and returns how, or DeadlineExceeded after
  // `timeout` (zero polls). For tests and the CLI; never call it from an OnExit callback.
  virtual absl::StatusOr<ExitStatus> WaitForExit(absl::Duration timeout) = 0;

  // Stop asks the program to end (SIGTERM to its process group / `docker stop`) and kills it
  // (SIGKILL) if it still runs after `grace`; a zero or negative grace kills at once. Does not
  // block: the end is reported through OnExit and WaitForExit. Idempotent: a later call may only
  // shorten the grace; after the end it does nothing.
  virtual void Stop(absl::Duration grace) = 0;
};

using InstancePtr = std::unique_ptr<Instance>;

// Starts programs. Implementations: ProcessRuntime (local processes), DockerEngine (containers).
//
// Thread-safe: every method may be called from any thread, concurrently.
class Runtime {
 public:
  virtual ~Runtime() = default;

  // Run starts `spec` and returns once the program is running (for a process: once exec
  // succeeded). Errors say what to fix: NotFound (command or working directory missing),
  // PermissionDenied (not executable), InvalidArgument (a malformed spec, or one this runtime
  // cannot run), FailedPrecondition, Unavailable (the backend cannot be reached), or the errno
  // status of a failed system call. Blocks for the start only; may be called from an OnExit
  // callback (to restart).
  virtual absl::StatusOr<InstancePtr> Run(const RunSpec& spec) = 0;

  // List returns the instances whose labels include every entry of `selector` (all of them for
  // an empty selector). For ProcessRuntime: the instances of this runtime that still run or whose
  // Instance still exists.
  virtual absl::StatusOr<std::vector<InstanceInfo>> List(const Labels& selector) = 0;

  // Prepare makes sure `spec` can start without delay: for an image, inspects it and pulls it
  // when absent (reporting each engine event to `on_progress`, on the calling thread); for a
  // local program, resolves the executable. Blocks until done (a pull may take minutes: call
  // it early and off any latency-sensitive thread). Run does not pull: Prepare first.
  // Errors: NotFound (no such image in the registry, no such program), PermissionDenied
  // (the registry refused), Unavailable (backend or registry unreachable), InvalidArgument.
  virtual absl::StatusOr<Prepared> Prepare(const RunSpec& spec,
                                           PullProgressCallback on_progress = nullptr) = 0;

  // Remove ends the instance `id` at once (SIGKILL) and removes what is left of it, such as a
  // container left by an earlier run of the gateway (found with List). NotFound when there is
  // no such instance.
  virtual absl::Status Remove(absl::string_view id) = 0;
};

using RuntimePtr = std::unique_ptr<Runtime>;

}  // namespace mcpgw::container
