#include "mcpgw/gateway/instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/gateway/profile.h"

namespace mcpgw::gateway {
namespace {

// DockerEngine puts this label on every container it starts (see docker_engine.h).
constexpr absl::string_view kManagedLabel = "io.mcpgw.managed";
constexpr size_t kIdDigits = 32;
constexpr absl::string_view kLockSuffix = ".lock";
constexpr absl::string_view kTempSuffix = ".tmp";
// The line MarkUsesContainers appends to the lock file.
constexpr absl::string_view kContainersLine = "containers";

template <typename F>
auto RetryEintr(F f) {
  decltype(f()) r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool IsId(absl::string_view id) {
  if (id.size() != kIdDigits) {
    return false;
  }
  for (char c : id) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> RandomId() {
  unsigned char bytes[kIdDigits / 2];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::ErrnoToStatus(errno, "getrandom");
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

// Creates `dir` (mode 0700) when missing, then checks it is a real directory of this user
// that no other user may use: lock files there decide which containers get removed.
absl::Status EnsurePrivateDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0) {
    // A umask such as 0277 would otherwise leave the owner unable to use it.
    if (chmod(dir.c_str(), 0700) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", dir));
    }
  } else if (errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create the gateway instance "
                                                   "directory ",
                                                   dir));
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", dir));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "gateway instance directory ", dir,
        " is a symbolic link; mcpgw only uses a real directory there (remove the link)"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "gateway instance directory ", dir, " exists and is not a directory; move it away"));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "gateway instance directory ", dir, " is owned by uid ", st.st_uid, ", not by you (uid ",
        geteuid(),
        "); another user may have made it to interfere with your gateways: remove it, or set "
        "XDG_RUNTIME_DIR to a directory of yours"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "gateway instance directory ", dir, " has mode ", ModeString(st.st_mode),
        ", which lets other users change which of your containers are removed; mcpgw refuses "
        "it until you run `chmod 700 ",
        dir, "`"));
  }
  return absl::OkStatus();
}

std::string PathOf(absl::string_view dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name);
}

// Reads the start of a lock file (what its owner wrote: a few short lines).
std::string ReadSmall(int fd) {
  std::string text;
  char buf[1024];
  off_t at = 0;
  while (text.size() < 4096) {
    ssize_t n = RetryEintr([&] { return pread(fd, buf, sizeof(buf), at); });
    if (n <= 0) {
      break;
    }
    text.append(buf, static_cast<size_t>(n));
    at += n;
  }
  return text;
}

bool UsesContainers(absl::string_view text) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line == kContainersLine) {
      return true;
    }
  }
  return false;
}

// Tries the lock of `path`: -1 and kUnknown when there is no such file (or it is not a regular
// file); the open descriptor,
// locked, and kDead when the lock was free (the caller closes it, which releases the lock);
// -1 and kAlive when another process holds it. flock locks belong to the open file
// description, so opening the file and closing it never disturbs the owner's lock (unlike
// fcntl locks, which a process loses when it closes any descriptor of the file).
absl::StatusOr<std::pair<OwnerState, int>> TryLock(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::make_pair(OwnerState::kUnknown, -1);
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return std::make_pair(OwnerState::kUnknown, -1);  // not a lock file
  }
  if (RetryEintr([fd] { return flock(fd, LOCK_EX | LOCK_NB); }) != 0) {
    int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return std::make_pair(OwnerState::kAlive, -1);
    }
    return absl::ErrnoToStatus(err, absl::StrCat("flock ", path));
  }
  return std::make_pair(OwnerState::kDead, fd);
}

// Removes every container of the dead gateway `id`; false when one may remain.
bool RemoveContainersOf(const std::string& id, container::Runtime& containers,
                        SweepReport& report) {
  absl::StatusOr<std::vector<container::InstanceInfo>> left =
      containers.List({{std::string(kManagedLabel), "true"}, {std::string(kGatewayLabel), id}});
  if (!left.ok()) {
    report.errors.push_back(
        absl::Status(left.status().code(), absl::StrCat("listing the containers of dead gateway ",
                                                        id, ": ", left.status().message())));
    return false;
  }
  bool all = true;
  for (const container::InstanceInfo& info : *left) {
    absl::Status removed = containers.Remove(info.id);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      all = false;
      report.errors.push_back(absl::Status(
          removed.code(), absl::StrCat("removing container ", info.id, " of dead gateway ", id,
                                       ": ", removed.message())));
      continue;
    }
    auto server = info.labels.find(kServerLabel);
    report.removed.push_back({.gateway = id,
                              .container = info.id,
                              .server = server != info.labels.end() ? server->second : ""});
  }
  return all;
}

}  // namespace

absl::StatusOr<std::string> DefaultInstanceDir() {
  const char* runtime_dir = getenv("XDG_RUNTIME_DIR");
  std::string root;
  if (runtime_dir != nullptr && runtime_dir[0] == '/') {
    root = absl::StrCat(runtime_dir, "/mcpgw");
  } else {
    root = absl::StrCat("/tmp/mcpgw-", geteuid());
  }
  MCPGW_RETURN_IF_ERROR(EnsurePrivateDir(root));
  return absl::StrCat(root, "/instances");
}

GatewayInstance::GatewayInstance(std::string dir, std::string id, int fd)
    : dir_(std::move(dir)), id_(std::move(id)), fd_(fd) {}

absl::StatusOr<std::unique_ptr<GatewayInstance>> GatewayInstance::Acquire(absl::string_view dir) {
  std::string directory(dir);
  while (directory.size() > 1 && directory.back() == '/') {
    directory.pop_back();
  }
  MCPGW_RETURN_IF_ERROR(EnsurePrivateDir(directory));
  // The file is made under a temporary name, locked, then renamed: a sweep never sees
  // `<id>.lock` unlocked while its owner lives. A sweep may take the temporary file for a dead
  // one's (between open and flock) and remove it: then start again with a new id.
  for (int attempt = 0; attempt < 5; ++attempt) {
    MCPGW_ASSIGN_OR_RETURN(std::string id, RandomId());
    std::string temp = PathOf(directory, absl::StrCat(".", id, kTempSuffix));
    int fd =
        open(temp.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot create a lock file in ", directory));
    }
    absl::Cleanup close_fd = [fd] { close(fd); };
    if (RetryEintr([fd] { return flock(fd, LOCK_EX | LOCK_NB); }) != 0) {
      if (errno == EWOULDBLOCK) {
        continue;  // a sweep holds it and will remove it
      }
      return absl::ErrnoToStatus(errno, absl::StrCat("flock ", temp));
    }
    std::string text = absl::StrCat("mcpgw gateway\npid ", getpid(), "\n");
    if (RetryEintr([&] { return write(fd, text.data(), text.size()); }) !=
        static_cast<ssize_t>(text.size())) {
      unlink(temp.c_str());
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", temp));
    }
    std::string path = PathOf(directory, absl::StrCat(id, kLockSuffix));
    if (rename(temp.c_str(), path.c_str()) != 0) {
      if (errno == ENOENT) {
        continue;  // removed by a sweep before we locked it
      }
      int err = errno;
      unlink(temp.c_str());
      return absl::ErrnoToStatus(err, absl::StrCat("rename ", temp, " to ", path));
    }
    std::move(close_fd).Cancel();
    return std::unique_ptr<GatewayInstance>(
        new GatewayInstance(std::move(directory), std::move(id), fd));
  }
  return absl::UnavailableError(absl::StrCat("could not create a lock file in ", directory,
                                             ": other gateways kept removing it"));
}

GatewayInstance::~GatewayInstance() {
  // Unlinked before the lock goes: no sweep ever sees this file unlocked.
  if (!keep_lock_file_.load()) {
    unlink(lock_path().c_str());
  }
  close(fd_);
}

std::string GatewayInstance::lock_path() const {
  return PathOf(dir_, absl::StrCat(id_, kLockSuffix));
}

absl::Status GatewayInstance::MarkUsesContainers() {
  std::string line = absl::StrCat(kContainersLine, "\n");
  if (RetryEintr([&] { return write(fd_, line.data(), line.size()); }) !=
      static_cast<ssize_t>(line.size())) {
    return absl::ErrnoToStatus(errno, absl::StrCat("write ", lock_path()));
  }
  return absl::OkStatus();
}

void GatewayInstance::KeepLockFile() { keep_lock_file_.store(true); }

absl::StatusOr<OwnerState> ProbeOwner(absl::string_view dir, absl::string_view id) {
  if (!IsId(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", id, "' is not a gateway instance id (32 hex digits)"));
  }
  MCPGW_ASSIGN_OR_RETURN(auto state, TryLock(PathOf(dir, absl::StrCat(id, kLockSuffix))));
  if (state.second >= 0) {
    close(state.second);
  }
  return state.first;
}

absl::StatusOr<SweepReport> SweepDeadGateways(absl::string_view dir, absl::string_view own_id,
                                              container::Runtime* containers) {
  std::string directory(dir);
  DIR* d = opendir(directory.c_str());
  if (d == nullptr) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot read the gateway instance directory ", dir));
  }
  std::vector<std::string> names;
  while (dirent* entry = readdir(d)) {
    names.emplace_back(entry->d_name);
  }
  closedir(d);

  SweepReport report;
  for (const std::string& name : names) {
    absl::string_view n = name;
    bool temp = absl::ConsumePrefix(&n, ".") && absl::ConsumeSuffix(&n, kTempSuffix);
    if (!temp) {
      n = name;
      if (!absl::ConsumeSuffix(&n, kLockSuffix)) {
        continue;
      }
    }
    if (!IsId(n) || n == own_id) {
      continue;
    }
    std::string id(n);
    std::string path = PathOf(directory, name);
    absl::StatusOr<std::pair<OwnerState, int>> state = TryLock(path);
    if (!state.ok()) {
      report.errors.push_back(state.status());
      continue;
    }
    if (state->first != OwnerState::kDead) {
      continue;  // alive, or gone meanwhile
    }
    int fd = state->second;
    absl::Cleanup close_fd = [fd] { close(fd); };  // releases the lock, after the unlink
    if (temp) {
      unlink(path.c_str());  // its owner died before it could start anything
      continue;
    }
    // The owner marked its file before starting its first container: a file without the mark
    // has no container to look for.
    bool everything_removed = true;
    if (UsesContainers(ReadSmall(fd))) {
      if (containers == nullptr) {
        everything_removed = false;  // only a container engine can tell
      } else {
        everything_removed = RemoveContainersOf(id, *containers, report);
      }
    }
    if (everything_removed) {
      unlink(path.c_str());
      report.dead_gateways.push_back(id);
    } else {
      report.kept.push_back(id);
    }
  }
  return report;
}

}  // namespace mcpgw::gateway
