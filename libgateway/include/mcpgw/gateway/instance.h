// File: instance.h
//
// Several gateways may run at once on one machine, even on the same profile. Each one is a
// `GatewayInstance`: a random id, and an exclusive flock on `<dir>/<id>.lock` held for the
// gateway's whole life. The kernel drops the lock when the process ends, however it ends
// (SIGKILL included), so "the lock is free" proves the owner is gone. Every container a
// gateway starts carries the label io.mcpgw.gateway=<id>; a gateway that starts sweeps what
// dead gateways left behind (`SweepDeadGateways`) and never touches a live one's containers.
//
//   MCPGW_ASSIGN_OR_RETURN(std::string dir, DefaultInstanceDir());
//   MCPGW_ASSIGN_OR_RETURN(std::unique_ptr<GatewayInstance> self, GatewayInstance::Acquire(dir));
//   spec.labels[std::string(kGatewayLabel)] = self->id();
//   MCPGW_RETURN_IF_ERROR(self->MarkUsesContainers());  // before the first container starts
//   MCPGW_ASSIGN_OR_RETURN(SweepReport swept, SweepDeadGateways(dir, self->id(), docker));
//
// A lock file whose owner is gone is removed by the sweep once nothing of that owner is left.
// A container whose gateway has no lock file in `dir` is never removed: its owner may be
// another user's gateway, or one using another directory (another XDG_RUNTIME_DIR), and its
// death cannot be proved from here.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mcpgw/container/runtime.h"

namespace mcpgw::gateway {

// The label naming the gateway instance that started a container: io.mcpgw.gateway=<id>.
inline constexpr absl::string_view kGatewayLabel = "io.mcpgw.gateway";
// The label naming the profile a container was started for: io.mcpgw.profile=<name>.
inline constexpr absl::string_view kProfileLabel = "io.mcpgw.profile";

// DefaultInstanceDir returns the directory of the gateways' lock files, creating what is
// missing (mode 0700): $XDG_RUNTIME_DIR/mcpgw/instances when XDG_RUNTIME_DIR is set to an
// absolute path, else /tmp/mcpgw-<uid>/instances. The directories mcpgw owns there
// (.../mcpgw or /tmp/mcpgw-<uid>, and instances) must be real directories owned by this user
// and closed to other users: PermissionDenied naming the directory and the fix otherwise (in
// /tmp another user could have made /tmp/mcpgw-<uid> first).
absl::StatusOr<std::string> DefaultInstanceDir();

// Thread-safe (immutable after Acquire, except MarkUsesContainers/KeepLockFile, which may be
// called from any thread).
class GatewayInstance {
 public:
  // Acquire makes a new instance: a random id (32 hex digits) and its lock file
  // `<dir>/<id>.lock`, created 0600 and locked (flock LOCK_EX) before it appears under that
  // name, so no other gateway ever sees it unlocked while this one lives. The descriptor is
  // close-on-exec: servers started by the gateway do not hold the lock. `dir` is created
  // (0700) when missing; its parent must exist. PermissionDenied when `dir` is a symbolic
  // link, is owned by another user or is open to other users (the message says how to fix
  // it); FailedPrecondition when it is not a directory; the errno status of a failed call.
  static absl::StatusOr<std::unique_ptr<GatewayInstance>> Acquire(absl::string_view dir);

  GatewayInstance(const GatewayInstance&) = delete;
  GatewayInstance& operator=(const GatewayInstance&) = delete;
  // Removes the lock file (unless KeepLockFile was called), then releases the lock.
  ~GatewayInstance();

  const std::string& id() const { return id_; }
  const std::string& dir() const { return dir_; }
  // `<dir>/<id>.lock`.
  std::string lock_path() const;

  // MarkUsesContainers records in the lock file that this gateway starts containers; call it
  // before the first one starts. A sweep removes the lock file of a dead gateway that never
  // did without asking a container engine, and keeps the file of one that did until an
  // engine has been asked.
  absl::Status MarkUsesContainers();

  // KeepLockFile leaves the lock file in place at destruction (the lock is still released):
  // some of this gateway's containers may remain, and the next gateway's sweep will remove
  // them and the file.
  void KeepLockFile();

 private:
  GatewayInstance(std::string dir, std::string id, int fd);

  const std::string dir_;
  const std::string id_;
  const int fd_;
  std::atomic<bool> keep_lock_file_{false};
};

enum class OwnerState {
  kAlive,    // the lock file exists and is locked: its gateway runs
  kDead,     // the lock file exists and nobody holds its lock: its gateway is gone
  kUnknown,  // no lock file for that id in the directory: not provably dead
};

// ProbeOwner tells whether the gateway `id` whose lock file would be in `dir` still runs, by
// trying its lock (and letting it go at once). InvalidArgument for an id that is not 32 hex
// digits; the errno status of a failed call.
absl::StatusOr<OwnerState> ProbeOwner(absl::string_view dir, absl::string_view id);

// What a sweep did.
struct SweepReport {
  struct Removed {
    std::string gateway;    // the dead gateway's id
    std::string container;  // the container's id
    std::string server;     // its io.mcpgw.server label, empty when absent
  };
  // Containers removed, in the order removed.
  std::vector<Removed> removed;
  // Dead gateways whose lock files were removed (nothing of theirs is left).
  std::vector<std::string> dead_gateways;
  // Dead gateways whose lock files were kept: they used containers and no engine was given,
  // or one of their containers could not be listed or removed (`errors` says why).
  std::vector<std::string> kept;
  std::vector<absl::Status> errors;
};

// SweepDeadGateways looks at every lock file in `dir` except `own_id`'s. For each whose owner
// is dead (its lock is free), holding that lock meanwhile: removes (force: killed if still
// running) every container labelled io.mcpgw.managed=true and io.mcpgw.gateway=<that id>
// through `containers`, then the lock file. A dead gateway that used containers keeps its lock
// file when `containers` is null or a removal failed, so a later sweep retries. Live owners,
// and containers of gateways with no lock file in `dir`, are left alone. Files that are not
// lock files are ignored. Fails only when `dir` cannot be read; problems with single gateways
// are in the report's `errors`. Blocks on the container engine; call it before serving.
absl::StatusOr<SweepReport> SweepDeadGateways(absl::string_view dir, absl::string_view own_id,
                                              container::Runtime* containers);

}  // namespace mcpgw::gateway
