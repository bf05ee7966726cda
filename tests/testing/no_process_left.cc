#include "testing/no_process_left.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
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

class NoProcessLeftBehind : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
  void TearDown() override {
    for (pid_t pid : ChildrenOfThisProcess()) {
      std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      ADD_FAILURE() << "process " << pid << " was left behind: " << stat;
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

[[maybe_unused]] ::testing::Environment* const kNoProcessLeftBehind =
    ::testing::AddGlobalTestEnvironment(new NoProcessLeftBehind);

}  // namespace
}  // namespace mcpgw::testing
