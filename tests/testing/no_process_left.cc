#include "testing/no_process_left.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace mcpgw::testing {

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
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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

// IsDaemon is true for a process that leads a session of its own: a service a test set-up
// started on purpose with setsid (the local registry, podman's API service), re-parented to us
// as the subreaper once the script that started it exited. Servers started by the code under
// test never call setsid (ProcessRuntime gives them a process group, not a session).
bool IsDaemon(pid_t pid, const std::string& stat) {
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) {
    return false;
  }
  // After the name: state ppid pgrp session ...
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
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
    // children, eventfds). Descriptors opened before the first test are the harness's.
    for (const auto& [fd, what] : OpenDescriptors()) {
      if (!fds_at_start_.contains(fd)) {
        ADD_FAILURE() << "descriptor " << fd << " (" << what << ") was left open";
      }
    }
    for (pid_t pid : ChildrenOfThisProcess()) {
      std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (IsDaemon(pid, stat)) {
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
