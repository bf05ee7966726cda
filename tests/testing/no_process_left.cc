#include "testing/no_process_left.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace mcpgw::testing {
namespace {

// ReadProcStat returns /proc/<pid>/stat, or "" when the process is gone (it may exit between
// the directory listing and the read; ifstream would throw then).
std::string ReadProcStat(const std::string& pid) {
  std::string path = "/proc/" + pid + "/stat";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return "";
  }
  std::string out;
  char buf[1024];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace

std::vector<pid_t> ChildrenOfThisProcess() {
  std::vector<pid_t> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) {
    return out;
  }
  while (dirent* e = readdir(dir)) {
    int pid;
    if (!absl::SimpleAtoi(e->d_name, &pid)) {
      continue;
    }
    std::string stat = ReadProcStat(e->d_name);
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) {
      continue;
    }
    std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
    int ppid;
    if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &ppid) && ppid == getpid()) {
      out.push_back(pid);
    }
  }
  closedir(dir);
  return out;
}

namespace {

// OpenDescriptors maps each open descriptor of this process to what it is ("pipe:[123]",
// "socket:[456]", a path).
std::map<int, std::string> OpenDescriptors() {
  std::map<int, std::string> out;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return out;
  }
  int own = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    int fd;
    if (!absl::SimpleAtoi(e->d_name, &fd) || fd == own) {
      continue;
    }
    char target[512];
    ssize_t n = readlinkat(own, e->d_name, target, sizeof(target) - 1);
    out[fd] = n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
  }
  closedir(dir);
  return out;
}

// StatFields splits a /proc/PID/stat line after the name: state ppid pgrp session ... (empty
// when the line has no name).
std::vector<std::string> StatFields(const std::string& stat) {
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 > stat.size()) {
    return {};
  }
  return absl::StrSplit(stat.substr(paren + 2), ' ');
}

// IsReparentedZombie is true for an ended process that is not a process-group leader: a
// grandchild re-parented to us as the subreaper (such as the tracer AddressSanitizer's leak
// check clones in a child that is then killed), which only we can reap. Servers started by the
// code under test lead their own process groups, so an unreaped one of those is still reported.
bool IsReparentedZombie(pid_t pid, const std::string& stat) {
  std::vector<std::string> fields = StatFields(stat);
  int pgrp = 0;
  return fields.size() > 2 && fields[0] == "Z" && absl::SimpleAtoi(fields[2], &pgrp) &&
         pgrp != pid;
}

// IsDaemon is true for a process that leads a session of its own: a service a test set-up
// started on purpose with setsid (the local registry, podman's API service), re-parented to us
// as the subreaper once the script that started it exited. Servers started by the code under
// test never call setsid (ProcessRuntime gives them a process group, not a session).
bool IsDaemon(pid_t pid, const std::string& stat) {
  std::vector<std::string> fields = StatFields(stat);
  int session = 0;
  return fields.size() > 3 && absl::SimpleAtoi(fields[3], &session) && session == pid &&
         session != getsid(0);
}

class NoProcessLeftBehind : public ::testing::Environment {
 public:
  void SetUp() override {
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    fds_at_start_ = OpenDescriptors();
  }
  void TearDown() override {
    // Every descriptor a test opened is closed again (sockets to the engine, pipes to
    // children, eventfds). Descriptors opened before the first test are the harness's. A
    // thread that finishes on its own (a runtime destroyed from its own callback detaches its
    // thread) may still be closing its descriptors: they get a moment.
    std::map<int, std::string> left;
    for (int attempt = 0; attempt < 100; ++attempt) {
      left.clear();
      for (const auto& [fd, what] : OpenDescriptors()) {
        if (!fds_at_start_.contains(fd)) {
          left[fd] = what;
        }
      }
      if (left.empty()) {
        break;
      }
      usleep(20000);
    }
    for (const auto& [fd, what] : left) {
      ADD_FAILURE() << "descriptor " << fd << " (" << what << ") was left open";
    }
    for (pid_t pid : ChildrenOfThisProcess()) {
      std::string stat = ReadProcStat(std::to_string(pid));
      if (IsDaemon(pid, stat)) {
        continue;
      }
      if (IsReparentedZombie(pid, stat)) {
        waitpid(pid, nullptr, 0);
        continue;
      }
      ADD_FAILURE() << "process " << pid << " was left behind: " << stat;
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

 private:
  std::map<int, std::string> fds_at_start_;
};

[[maybe_unused]] ::testing::Environment* const kNoProcessLeftBehind =
    ::testing::AddGlobalTestEnvironment(new NoProcessLeftBehind);

}  // namespace
}  // namespace mcpgw::testing
