#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace mcpgw::container::internal {
namespace {

// The steps of the child between clone and exec; the one that failed is reported back.
enum Step : int {
  kNone = 0,
  kPdeathsig,
  kParentGone,
  kSetpgid,
  kDup2,
  kCloseFds,
  kChdir,
  kSigmask,
  kExec,
};

const char* StepName(int step) {
  switch (step) {
    case kPdeathsig:
      return "prctl(PR_SET_PDEATHSIG)";
    case kParentGone:
      return "getppid (the parent exited during the start)";
    case kSetpgid:
      return "setpgid";
    case kDup2:
      return "dup2";
    case kCloseFds:
      return "close_range";
    case kChdir:
      return "chdir";
    case kSigmask:
      return "sigprocmask";
    case kExec:
      return "execve";
    default:
      return "start";
  }
}

// Shared with the child, which runs in our memory (CLONE_VM) until it execs or exits; the
// parent is suspended meanwhile (CLONE_VFORK), so no locking is needed.
struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* working_dir;  // nullptr: stay
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  pid_t parent_pid;
  unsigned max_fd;  // for closing descriptors when close_range is missing
  volatile int failed_step;
  volatile int error;
};

// The child side calls only async-signal-safe system call wrappers: it shares the parent's
// memory and must not allocate, lock, or be instrumented by the sanitizers.
#define MCPGW_CHILD_CODE __attribute__((no_sanitize("address", "undefined"), noinline))

[[noreturn]] MCPGW_CHILD_CODE void ChildFail(ChildArgs* a, int step) {
  a->error = errno;
  a->failed_step = step;
  _exit(127);
}

MCPGW_CHILD_CODE int ChildMain(void* arg) noexcept {
  auto* a = static_cast<ChildArgs*>(arg);
  // Every signal is blocked (the spawning thread blocks them all), so no handler of the parent
  // can run here. Reset every disposition: ignored signals (SIGPIPE, ignored by the gateway)
  // would otherwise stay ignored across exec, and handlers must not run before exec.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) {
      sigaction(sig, &dfl, nullptr);  // fails harmlessly for the C library's reserved signals
    }
  }
  // Die with the parent thread (the runtime's long-lived thread), even if it is SIGKILLed...
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    ChildFail(a, kPdeathsig);
  }
  // ...and if it died before the line above, we have been re-parented already.
  if (getppid() != a->parent_pid) {
    ChildFail(a, kParentGone);
  }
  if (setpgid(0, 0) != 0) {
    ChildFail(a, kSetpgid);
  }
  // The pipe ends are >= 3 (see Spawn), so these never overwrite one another; dup2 clears
  // O_CLOEXEC on 0, 1 and 2.
  if (dup2(a->stdin_fd, 0) < 0 || dup2(a->stdout_fd, 1) < 0 || dup2(a->stderr_fd, 2) < 0) {
    ChildFail(a, kDup2);
  }
  // Our own descriptors are O_CLOEXEC, but other code in the process may open some without it.
  if (close_range(3, ~0U, 0) != 0) {
    if (errno != ENOSYS && errno != EINVAL) {
      ChildFail(a, kCloseFds);
    }
    for (unsigned fd = 3; fd < a->max_fd; ++fd) {
      close(static_cast<int>(fd));
    }
  }
  if (a->working_dir != nullptr && chdir(a->working_dir) != 0) {
    ChildFail(a, kChdir);
  }
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) {
    ChildFail(a, kSigmask);
  }
  execve(a->path, a->argv, a->envp);
  ChildFail(a, kExec);
}

bool HasNul(absl::string_view s) { return s.find('\0') != absl::string_view::npos; }

std::string Quote(absl::string_view s) { return absl::StrCat("'", s, "'"); }

std::string Mode(const struct stat& st) { return absl::StrFormat("%04o", st.st_mode & 07777); }

absl::Status CheckWorkingDir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat("working directory ", Quote(dir),
                                              " does not exist: create it or fix working_dir"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat("working directory ", Quote(dir),
                       " cannot be reached: a directory on its path is not searchable"));
    }
    return absl::ErrnoToStatus(err, absl::StrCat("stat ", dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "working directory ", Quote(dir), " is not a directory: give a directory in working_dir"));
  }
  if (access(dir.c_str(), X_OK) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("working directory ", Quote(dir), " is not accessible (mode ", Mode(st),
                     "): allow this user to enter it (chmod +x) or choose another"));
  }
  return absl::OkStatus();
}

// The value of NAME in an environment built by BuildEnvironment, or nullptr.
const std::string* FindVariable(const std::vector<std::string>& env, absl::string_view name) {
  for (const std::string& entry : env) {
    if (entry.size() > name.size() && entry[name.size()] == '=' &&
        absl::string_view(entry).substr(0, name.size()) == name) {
      return &entry;
    }
  }
  return nullptr;
}

// Finds the program as execve will (relative paths from the working directory).
absl::StatusOr<std::string> ResolveCommand(const std::string& command,
                                           const std::vector<std::string>& env,
                                           const std::string& working_dir) {
  auto from_working_dir = [&](const std::string& p) {
    return p.empty() || p[0] == '/' || working_dir.empty() ? p : absl::StrCat(working_dir, "/", p);
  };
  if (command.find('/') != std::string::npos) {
    std::string full = from_working_dir(command);
    struct stat st;
    if (stat(full.c_str(), &st) != 0) {
      int err = errno;
      std::string where =
          full == command ? ""
                          : absl::StrCat(" (relative to the working directory ", working_dir, ")");
      if (err == ENOENT || err == ENOTDIR) {
        return absl::NotFoundError(absl::StrCat(Quote(command), " does not exist", where,
                                                ": install it or give the right path"));
      }
      if (err == EACCES) {
        return absl::PermissionDeniedError(
            absl::StrCat(Quote(command), where,
                         " cannot be reached: a directory on its path is not searchable"));
      }
      return absl::ErrnoToStatus(err, absl::StrCat("stat ", full));
    }
    if (S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(Quote(command), " is a directory, not a program: give the program's path"));
    }
    if (!S_ISREG(st.st_mode) || access(full.c_str(), X_OK) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(Quote(command), " is not executable (mode ", Mode(st),
                       "): make it executable (chmod +x) or run it through its interpreter"));
    }
    return command;
  }

  const std::string* path_entry = FindVariable(env, "PATH");
  std::string search_path;
  std::string path_note;
  if (path_entry != nullptr) {
    search_path = path_entry->substr(5);
  } else {
    // execvp's fallback; the child gets no PATH, so say where we looked.
    char buf[256];
    size_t n = confstr(_CS_PATH, buf, sizeof(buf));
    search_path = n > 0 && n <= sizeof(buf) ? std::string(buf) : "/bin:/usr/bin";
    path_note = " (the child has no PATH: pass PATH in pass_env or set it in env)";
  }
  std::string not_executable;
  for (absl::string_view dir : absl::StrSplit(search_path, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", command);
    std::string full = from_working_dir(candidate);
    struct stat st;
    if (stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    if (access(full.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (not_executable.empty()) {
      not_executable = absl::StrCat(candidate, " (mode ", Mode(st), ")");
    }
  }
  if (!not_executable.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "command ", Quote(command), " was found in PATH=", search_path, path_note,
        " but is not executable: ", not_executable, "; make it executable (chmod +x) or fix PATH"));
  }
  return absl::NotFoundError(absl::StrCat("command ", Quote(command),
                                          " not found in PATH=", search_path, path_note,
                                          ": install it or give the full path"));
}

// Moves a descriptor to 3 or above (with O_CLOEXEC) so that the child's dup2 onto 0, 1 and 2
// cannot overwrite another pipe end. Only matters when this process closed its own 0, 1 or 2.
absl::Status MoveAbove2(int& fd) {
  if (fd > 2) {
    return absl::OkStatus();
  }
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (moved < 0) {
    return absl::ErrnoToStatus(errno, "fcntl(F_DUPFD_CLOEXEC)");
  }
  close(fd);
  fd = moved;
  return absl::OkStatus();
}

void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds) {
    if (fd >= 0) {
      close(fd);
    }
  }
}

absl::Status ChildError(int step, int err, const ExecPlan& plan) {
  if (step == kExec) {
    switch (err) {
      case ENOENT:
        return absl::NotFoundError(absl::StrCat(
            Quote(plan.path), " cannot be run: it vanished, or the interpreter named on its #! ",
            "line does not exist; install the interpreter or fix the #! line"));
      case EACCES:
        return absl::PermissionDeniedError(absl::StrCat(
            Quote(plan.path), " cannot be run: permission denied (is it on a noexec mount?)"));
      case ENOEXEC:
        return absl::FailedPreconditionError(
            absl::StrCat(Quote(plan.path),
                         " is not a program this system can run: a script needs a #! line, "
                         "a binary must be built for this machine"));
      case E2BIG:
        return absl::InvalidArgumentError(absl::StrCat(
            "the arguments and environment of ", Quote(plan.path), " are too large for execve"));
      default:
        return absl::ErrnoToStatus(err, absl::StrCat("execve ", plan.path));
    }
  }
  if (step == kChdir) {
    absl::Status s = CheckWorkingDir(plan.working_dir);  // it changed since we checked it
    return s.ok() ? absl::ErrnoToStatus(err, absl::StrCat("chdir ", plan.working_dir)) : s;
  }
  if (step == kParentGone) {
    return absl::AbortedError("this process is exiting: the child was not started");
  }
  return absl::ErrnoToStatus(err, absl::StrCat(StepName(step), " in the child of ", plan.path));
}

void WaitForPid(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

std::vector<std::string> BuildEnvironment(const RunSpec& spec, const char* const* parent_env) {
  std::map<std::string, std::string> vars;
  auto take = [&](absl::string_view entry) {
    size_t eq = entry.find('=');
    if (eq != absl::string_view::npos && eq > 0) {
      vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
  };
  if (parent_env != nullptr) {
    if (spec.inherit_env) {
      for (const char* const* e = parent_env; *e != nullptr; ++e) {
        take(*e);  // emplace keeps the first of duplicates, like getenv
      }
    } else {
      for (const std::string& name : spec.pass_env) {
        for (const char* const* e = parent_env; *e != nullptr; ++e) {
          absl::string_view entry(*e);
          if (entry.size() > name.size() && entry[name.size()] == '=' &&
              entry.substr(0, name.size()) == name) {
            take(entry);
            break;
          }
        }
      }
    }
  }
  for (const auto& [name, value] : spec.env) {
    vars[name] = value;
  }
  std::vector<std::string> env;
  env.reserve(vars.size());
  for (const auto& [name, value] : vars) {
    env.push_back(absl::StrCat(name, "=", value));
  }
  return env;
}

absl::StatusOr<ExecPlan> PlanExec(const RunSpec& spec, const char* const* parent_env) {
  if (!spec.image.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the spec names the image ", Quote(spec.image),
        ", but the process runtime runs local commands: use a container runtime for images, "
        "or leave image empty"));
  }
  if (spec.command.empty()) {
    return absl::InvalidArgumentError("the spec has no command: name the program to run");
  }
  if (HasNul(spec.command) || HasNul(spec.working_dir)) {
    return absl::InvalidArgumentError("the command or working directory contains a NUL byte");
  }
  for (size_t i = 0; i < spec.args.size(); ++i) {
    if (HasNul(spec.args[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("argument ", i + 1, " of ", Quote(spec.command), " contains a NUL byte"));
    }
  }
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find('=') != std::string::npos || HasNul(name) || HasNul(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "environment variable ", Quote(name),
          ": a name must be non-empty without '=' and no NUL byte may appear in name or value"));
    }
  }
  if (!spec.working_dir.empty()) {
    absl::Status s = CheckWorkingDir(spec.working_dir);
    if (!s.ok()) {
      return s;
    }
  }
  ExecPlan plan;
  plan.env = BuildEnvironment(spec, parent_env);
  plan.working_dir = spec.working_dir;
  absl::StatusOr<std::string> path = ResolveCommand(spec.command, plan.env, spec.working_dir);
  if (!path.ok()) {
    return path.status();
  }
  plan.path = *std::move(path);
  plan.argv.reserve(spec.args.size() + 1);
  plan.argv.push_back(spec.command);
  plan.argv.insert(plan.argv.end(), spec.args.begin(), spec.args.end());
  return plan;
}

absl::StatusOr<CloneStack> CloneStack::Create() {
  // The child only runs a few system calls, but sanitizer interceptors may run on this stack
  // too. A guard page below it turns an overflow into a crash instead of corruption.
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = size_t{256} << 10;
  void* mem = mmap(nullptr, size + page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) {
    return absl::ErrnoToStatus(errno, "mmap (the stack for starting processes)");
  }
  if (mprotect(mem, page, PROT_NONE) != 0) {
    int err = errno;
    munmap(mem, size + page);
    return absl::ErrnoToStatus(err, "mprotect");
  }
  return CloneStack(mem, size + page);
}

CloneStack::CloneStack(CloneStack&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)) {}

CloneStack::~CloneStack() {
  if (base_ != nullptr) {
    munmap(base_, size_);
  }
}

absl::StatusOr<SpawnedProcess> Spawn(const ExecPlan& plan, const CloneStack& stack) {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    CloseAll({in[0], in[1], out[0], out[1], err[0], err[1]});
    return absl::ErrnoToStatus(e, "pipe2");
  }
  for (int* fd : {&in[0], &in[1], &out[0], &out[1], &err[0], &err[1]}) {
    absl::Status s = MoveAbove2(*fd);
    if (!s.ok()) {
      CloseAll({in[0], in[1], out[0], out[1], err[0], err[1]});
      return s;
    }
  }

  // Everything the child reads is prepared here: it must not allocate.
  std::vector<char*> argv;
  argv.reserve(plan.argv.size() + 1);
  for (const std::string& a : plan.argv) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(plan.env.size() + 1);
  for (const std::string& e : plan.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);
  struct rlimit nofile = {};
  unsigned max_fd = 1024;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<unsigned>(std::min<rlim_t>(nofile.rlim_cur, 1u << 20));
  }

  ChildArgs args{
      .path = plan.path.c_str(),
      .argv = argv.data(),
      .envp = envp.data(),
      .working_dir = plan.working_dir.empty() ? nullptr : plan.working_dir.c_str(),
      .stdin_fd = in[0],
      .stdout_fd = out[1],
      .stderr_fd = err[1],
      .parent_pid = getpid(),
      .max_fd = max_fd,
      .failed_step = kNone,
      .error = 0,
  };
  // CLONE_VFORK: we resume once the child has exec'd or exited. The child's exit signal stays
  // SIGCHLD so that ordinary wait calls see it.
  pid_t pid = clone(&ChildMain, stack.top(), CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  int clone_errno = errno;
  CloseAll({in[0], out[1], err[1]});
  if (pid < 0) {
    CloseAll({in[1], out[0], err[0]});
    return absl::ErrnoToStatus(clone_errno, "clone");
  }
  if (args.failed_step != kNone) {
    int step = args.failed_step;
    int e = args.error;
    WaitForPid(pid);  // it has exited already
    CloseAll({in[1], out[0], err[0]});
    return ChildError(step, e, plan);
  }
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));  // O_CLOEXEC by definition
  if (pidfd < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    WaitForPid(pid);
    CloseAll({in[1], out[0], err[0]});
    if (e == ENOSYS) {
      return absl::UnimplementedError(
          "this kernel has no pidfd_open: running local processes needs Linux 5.3 or later");
    }
    return absl::ErrnoToStatus(e, "pidfd_open");
  }
  return SpawnedProcess{
      .pid = pid, .pidfd = pidfd, .stdin_fd = in[1], .stdout_fd = out[0], .stderr_fd = err[0]};
}

}  // namespace mcpgw::container::internal
