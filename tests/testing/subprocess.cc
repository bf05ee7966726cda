#include "testing/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/time/clock.h"

extern char** environ;

namespace mcpgw::testing {
namespace {

std::string ReadAll(int fd) {
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    data.append(buf, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace

ChildResult RunProgram(const std::vector<std::string>& args, const std::string& input,
                       const std::vector<std::string>& extra_env) {
  ChildResult result;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // the test process may ignore SIGPIPE; children get it back
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args_copy = args;
  std::vector<char*> argv;
  for (std::string& a : args_copy) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_copy;
  for (char** e = environ; *e != nullptr; ++e) {
    env_copy.emplace_back(*e);
  }
  env_copy.insert(env_copy.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& e : env_copy) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    result.err = std::string("posix_spawn ") + args[0] + ": " + strerror(rc);
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return result;
  }
  result.started = true;
  std::thread writer([&] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = write(in[1], input.data() + off, input.size() - off);
      if (n <= 0) {
        break;  // the child stopped reading (EPIPE: SIGPIPE is ignored in this thread's process)
      }
      off += static_cast<size_t>(n);
    }
    close(in[1]);
  });
  std::thread err_reader([&] { result.err = ReadAll(err[0]); });
  result.out = ReadAll(out[0]);
  writer.join();
  err_reader.join();
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

std::unique_ptr<BackgroundProgram> BackgroundProgram::Start(
    const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
    std::string* why) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    *why = std::string("pipe2: ") + strerror(errno);
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args_copy = args;
  std::vector<char*> argv;
  for (std::string& a : args_copy) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_copy;
  for (char** e = environ; *e != nullptr; ++e) {
    env_copy.emplace_back(*e);
  }
  env_copy.insert(env_copy.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& e : env_copy) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    *why = std::string("posix_spawn ") + args[0] + ": " + strerror(rc);
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return nullptr;
  }
  std::unique_ptr<BackgroundProgram> p(new BackgroundProgram());
  p->pid_ = pid;
  p->stdin_fd_ = in[1];
  BackgroundProgram* self = p.get();
  p->out_reader_ = std::thread([self, fd = out[0]] {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
      absl::MutexLock lock(&self->mu_);
      self->out_.append(buf, static_cast<size_t>(n));
    }
    close(fd);
  });
  p->err_reader_ = std::thread([self, fd = err[0]] {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
      absl::MutexLock lock(&self->mu_);
      self->err_.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    absl::MutexLock lock(&self->mu_);
    self->err_closed_ = true;
  });
  return p;
}

BackgroundProgram::~BackgroundProgram() {
  if (!result_.has_value()) {
    Stop(SIGKILL, absl::ZeroDuration());
  }
}

std::optional<std::string> BackgroundProgram::WaitForStderr(const std::string& marker,
                                                           absl::Duration timeout) {
  std::optional<std::string> found;
  auto seen = [this, &marker, &found]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t at = err_.find(marker);
    if (at != std::string::npos) {
      size_t end = err_.find('\n', at);
      if (end != std::string::npos) {
        found = err_.substr(at + marker.size(), end - at - marker.size());
        return true;
      }
    }
    return err_closed_;
  };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  return found;
}

ChildResult BackgroundProgram::Stop(int signal, absl::Duration timeout) {
  if (result_.has_value()) {
    return *result_;
  }
  ChildResult result;
  result.started = true;
  kill(pid_, signal);
  if (stdin_fd_ >= 0) {
    close(stdin_fd_);
    stdin_fd_ = -1;
  }
  int status = 0;
  absl::Time deadline = absl::Now() + timeout;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  out_reader_.join();
  err_reader_.join();
  absl::MutexLock lock(&mu_);
  result.out = out_;
  result.err = err_;
  result_ = result;
  return result;
}

std::string BackgroundProgram::err() const {
  absl::MutexLock lock(&mu_);
  return err_;
}

bool MustNotSkip(const char* require_variable) {
  const char* ci = std::getenv("CI");
  const char* req = std::getenv(require_variable);
  return (ci != nullptr && std::strcmp(ci, "true") == 0) ||
         (req != nullptr && std::strcmp(req, "1") == 0);
}

std::string E2eNodeModules() {
  const char* env = std::getenv("MCPGW_E2E_NODE_MODULES");
  std::string dir = env != nullptr && *env != '\0' ? env : MCPGW_SOURCE_DIR "/tests/e2e/node_modules";
  struct stat st;
  if (stat((dir + "/.bin/node").c_str(), &st) != 0) {
    return "";
  }
  return dir;
}

}  // namespace mcpgw::testing
