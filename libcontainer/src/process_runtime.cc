#include "mcpgw/container/process_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <deque>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/base/fd_channel.h"
#include "mcpgw/container/ring_buffer.h"
#include "spawn.h"

extern char** environ;

namespace mcpgw::container {
namespace internal {

// One child process. Shared by its Instance and the runtime's thread.
struct Child {
  Child(pid_t p, int pid_fd, int err_fd, Labels l, size_t tail_bytes)
      : pid(p),
        id(std::to_string(p)),
        labels(std::move(l)),
        stderr_tail(tail_bytes),
        pidfd(pid_fd),
        stderr_fd(err_fd) {}

  // Sends `sig` to the child's process group (to the child alone if it left its group). The
  // caller holds `mu` and has checked `exited` is false: the child is not reaped, so its pid
  // (and group id) cannot belong to another process.
  void SignalLocked(int sig) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (kill(-pid, sig) != 0 && errno == ESRCH) {
      kill(pid, sig);
    }
  }

  const pid_t pid;
  const std::string id;
  const Labels labels;
  RingBuffer stderr_tail;

  // Used by the runtime's thread only (-1 once closed).
  int pidfd;
  int stderr_fd;

  absl::Mutex mu;
  bool exited ABSL_GUARDED_BY(mu) = false;  // reaped
  ExitStatus exit_status ABSL_GUARDED_BY(mu);
  std::vector<Instance::ExitCallback> on_exit ABSL_GUARDED_BY(mu);
  bool term_sent ABSL_GUARDED_BY(mu) = false;
  std::optional<absl::Time> kill_at ABSL_GUARDED_BY(mu);  // SIGKILL due (a Stop's grace)
  bool handle_alive ABSL_GUARDED_BY(mu) = true;           // its Instance exists
};

// A Run call handed to the runtime's thread (which must be the one that forks).
struct SpawnJob {
  explicit SpawnJob(const ExecPlan& p, const Labels& l) : plan(p), labels(l) {}
  const ExecPlan& plan;
  const Labels& labels;
  absl::StatusOr<SpawnedProcess> result;
  std::shared_ptr<Child> child;
  absl::Notification done;
};

struct ProcessRuntimeCore {
  ProcessRuntimeCore(ProcessRuntime::Options o, int wake, CloneStack s)
      : options(o), wake_fd(wake), stack(std::move(s)) {}
  ~ProcessRuntimeCore() { close(wake_fd); }

  void Loop() noexcept;
  void Wake() {
    uint64_t one = 1;
    ssize_t n = write(wake_fd, &one, sizeof(one));
    (void)n;  // a full counter already means "wake up"
  }
  bool OnOwnThread() const { return std::this_thread::get_id() == thread_id; }
  // Runs on the runtime's thread: starts the process and registers it.
  void RunJob(SpawnJob& job);
  // Runs on the runtime's thread when the child's pidfd is readable: reaps it and calls the
  // OnExit callbacks, once what it wrote to stderr is in its tail.
  void Reap(Child& child, std::string& buffer);
  void Stop(Child& child, absl::Duration grace);
  // Reads what the child wrote to stderr (one read); closes the pipe at its end. Returns true
  // when it read a full buffer (more may be waiting).
  bool DrainStderr(Child& child, std::string& buffer);

  const ProcessRuntime::Options options;
  const int wake_fd;  // eventfd that interrupts poll()
  const CloneStack stack;
  std::thread thread;
  std::thread::id thread_id;  // set before any Run

  absl::Mutex mu;
  std::vector<std::shared_ptr<Child>> children ABSL_GUARDED_BY(mu);
  std::deque<std::shared_ptr<SpawnJob>> jobs ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
};

void ProcessRuntimeCore::RunJob(SpawnJob& job) {
  job.result = Spawn(job.plan, stack);
  if (job.result.ok()) {
    // Non-blocking, so that this thread never waits on one child's stderr.
    int flags = fcntl(job.result->stderr_fd, F_GETFL);
    fcntl(job.result->stderr_fd, F_SETFL, flags | O_NONBLOCK);
    job.child = std::make_shared<Child>(job.result->pid, job.result->pidfd, job.result->stderr_fd,
                                        job.labels, options.stderr_tail_bytes);
    absl::MutexLock lock(&mu);
    children.push_back(job.child);
  }
}

void ProcessRuntimeCore::Reap(Child& child, std::string& buffer) {
  // The child has ended but is not reaped (this thread is the only reaper), so its group id is
  // still ours: kill whatever it left behind in its group (a server's children must not
  // outlive it).
  kill(-child.pid, SIGKILL);
  // Everything it wrote to stderr is in the pipe now: take it before reporting the end, so that
  // an OnExit callback or WaitForExit sees the complete tail. Bounded, as a process outside
  // the group may still be writing.
  for (int i = 0; i < 64 && child.stderr_fd >= 0 && DrainStderr(child, buffer); ++i) {
  }
  ExitStatus status;
  std::vector<Instance::ExitCallback> callbacks;
  {
    absl::MutexLock lock(&child.mu);
    siginfo_t info = {};
    // Reaped under `mu`, so that Stop never signals a pid that was reaped and then reused.
    int rc = waitid(P_PID, static_cast<id_t>(child.pid), &info, WEXITED | WNOHANG);
    if (rc == 0 && info.si_pid == 0) {
      return;  // not yet (a spurious wake-up)
    }
    if (rc != 0) {
      status = ExitStatus{.exit_code = -1, .signal = 0};  // reaped elsewhere (SIGCHLD ignored?)
    } else if (info.si_code == CLD_EXITED) {
      status = ExitStatus::Exited(info.si_status);
    } else {
      status = ExitStatus::Killed(info.si_status);
    }
    child.exited = true;
    child.exit_status = status;
    child.kill_at.reset();
    callbacks = std::move(child.on_exit);
    child.on_exit.clear();
  }
  close(child.pidfd);
  child.pidfd = -1;
  for (Instance::ExitCallback& callback : callbacks) {
    std::move(callback)(status);
  }
}

void ProcessRuntimeCore::Stop(Child& child, absl::Duration grace) {
  {
    absl::MutexLock lock(&child.mu);
    if (child.exited) {
      return;
    }
    if (grace <= absl::ZeroDuration()) {
      child.term_sent = true;
      child.kill_at.reset();
      child.SignalLocked(SIGKILL);
      return;
    }
    absl::Time deadline = absl::Now() + grace;
    if (!child.term_sent) {
      child.term_sent = true;
      child.kill_at = deadline;
      child.SignalLocked(SIGTERM);
    } else if (child.kill_at.has_value() && deadline < *child.kill_at) {
      child.kill_at = deadline;
    } else {
      return;
    }
  }
  Wake();  // the thread recomputes its poll timeout
}

bool ProcessRuntimeCore::DrainStderr(Child& child, std::string& buffer) {
  ssize_t n = read(child.stderr_fd, buffer.data(), buffer.size());
  if (n > 0) {
    child.stderr_tail.Append(absl::string_view(buffer.data(), static_cast<size_t>(n)));
    return static_cast<size_t>(n) == buffer.size();
  }
  if (n < 0 && errno == EINTR) {
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return false;
  }
  close(child.stderr_fd);  // end of stream, or an error: nothing more will come
  child.stderr_fd = -1;
  return false;
}

void ProcessRuntimeCore::Loop() noexcept {
  // No signal handler of this process ever runs on this thread: the children start in our
  // memory (CLONE_VM) with this thread's signal mask, until they reset it.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, nullptr);

  std::string buffer(size_t{64} << 10, '\0');
  std::vector<std::shared_ptr<Child>> snapshot;
  std::vector<pollfd> fds;
  struct Slot {
    Child* child;
    bool is_pidfd;
  };
  std::vector<Slot> slots;
  while (true) {
    std::deque<std::shared_ptr<SpawnJob>> jobs_now;
    {
      absl::MutexLock lock(&mu);
      jobs_now.swap(jobs);
    }
    for (const std::shared_ptr<SpawnJob>& job : jobs_now) {
      RunJob(*job);
      job->done.Notify();
    }

    {
      absl::MutexLock lock(&mu);
      // Forget children that are reaped and whose Instance is gone (closing a stderr that a
      // process outside the group may still hold).
      auto forgotten = [](const std::shared_ptr<Child>& c) {
        if (c->pidfd >= 0) {
          return false;
        }
        {
          absl::MutexLock child_lock(&c->mu);
          if (c->handle_alive) {
            return false;
          }
        }
        if (c->stderr_fd >= 0) {
          close(c->stderr_fd);
          c->stderr_fd = -1;
        }
        return true;
      };
      children.erase(std::remove_if(children.begin(), children.end(), forgotten), children.end());
      if (stopping && jobs.empty() &&
          std::none_of(children.begin(), children.end(),
                       [](const std::shared_ptr<Child>& c) { return c->pidfd >= 0; })) {
        break;
      }
      snapshot = children;
    }

    fds.clear();
    slots.clear();
    fds.push_back(pollfd{wake_fd, POLLIN, 0});
    slots.push_back(Slot{nullptr, false});
    absl::Time now = absl::Now();
    std::optional<absl::Time> next_kill;
    for (const std::shared_ptr<Child>& c : snapshot) {
      if (c->pidfd >= 0) {
        fds.push_back(pollfd{c->pidfd, POLLIN, 0});
        slots.push_back(Slot{c.get(), true});
        absl::MutexLock lock(&c->mu);
        if (c->kill_at.has_value()) {
          if (*c->kill_at <= now) {
            c->kill_at.reset();
            c->SignalLocked(SIGKILL);  // the grace is over
          } else if (!next_kill.has_value() || *c->kill_at < *next_kill) {
            next_kill = c->kill_at;
          }
        }
      }
      if (c->stderr_fd >= 0) {
        fds.push_back(pollfd{c->stderr_fd, POLLIN, 0});
        slots.push_back(Slot{c.get(), false});
      }
    }
    int timeout_ms = -1;
    if (next_kill.has_value()) {
      int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(*next_kill - now, absl::Milliseconds(1)));
      timeout_ms = static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
    }
    int rc = poll(fds.data(), fds.size(), timeout_ms);
    if (rc < 0) {
      continue;  // EINTR (cannot happen with every signal blocked) or ENOMEM: try again
    }
    if (fds[0].revents & POLLIN) {
      uint64_t value;
      ssize_t ignored = read(wake_fd, &value, sizeof(value));
      (void)ignored;
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) {
        continue;
      }
      Child& c = *slots[i].child;
      if (slots[i].is_pidfd) {
        Reap(c, buffer);
      } else if (c.stderr_fd >= 0) {
        DrainStderr(c, buffer);
      }
    }
  }
  // Every child is reaped; stop reading what processes outside their groups may still write.
  absl::MutexLock lock(&mu);
  for (const std::shared_ptr<Child>& c : children) {
    if (c->stderr_fd >= 0) {
      close(c->stderr_fd);
      c->stderr_fd = -1;
    }
  }
  children.clear();
}

}  // namespace internal

namespace {

using internal::Child;
using internal::ProcessRuntimeCore;

// Thread-safe (see Instance).
class ProcessInstance final : public Instance {
 public:
  ProcessInstance(std::shared_ptr<ProcessRuntimeCore> core, std::shared_ptr<Child> child,
                  base::ByteChannelPtr stdio)
      : core_(std::move(core)), child_(std::move(child)), stdio_(std::move(stdio)) {}

  ~ProcessInstance() override {
    base::ByteChannelPtr stdio;
    {
      absl::MutexLock lock(&mu_);
      stdio = std::move(stdio_);
    }
    stdio.reset();  // closes our pipe ends: the child reads end of input
    bool running;
    {
      absl::MutexLock lock(&child_->mu);
      child_->handle_alive = false;
      running = !child_->exited;
    }
    if (running) {
      core_->Stop(*child_, core_->options.destroy_grace);
    }
    core_->Wake();  // so that the runtime forgets the child once it is reaped
  }

  const std::string& id() const override { return child_->id; }

  base::ByteChannelPtr TakeStdio() override {
    absl::MutexLock lock(&mu_);
    return std::move(stdio_);
  }

  std::string StderrTail(size_t lines) const override {
    return child_->stderr_tail.LastLines(lines);
  }

  void OnExit(ExitCallback callback) override {
    ExitStatus status;
    {
      absl::MutexLock lock(&child_->mu);
      if (!child_->exited) {
        child_->on_exit.push_back(std::move(callback));
        return;
      }
      status = child_->exit_status;
    }
    std::move(callback)(status);
  }

  absl::StatusOr<ExitStatus> WaitForExit(absl::Duration timeout) override {
    absl::MutexLock lock(&child_->mu);
    if (!child_->mu.AwaitWithTimeout(absl::Condition(&child_->exited), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "process ", child_->id, " is still running after ", absl::FormatDuration(timeout)));
    }
    return child_->exit_status;
  }

  void Stop(absl::Duration grace) override { core_->Stop(*child_, grace); }

 private:
  const std::shared_ptr<ProcessRuntimeCore> core_;
  const std::shared_ptr<Child> child_;
  absl::Mutex mu_;
  base::ByteChannelPtr stdio_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ProcessRuntime>> ProcessRuntime::Create(Options options) {
  absl::StatusOr<internal::CloneStack> stack = internal::CloneStack::Create();
  if (!stack.ok()) {
    return stack.status();
  }
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    return absl::ErrnoToStatus(errno, "eventfd");
  }
  auto core = std::make_shared<ProcessRuntimeCore>(options, wake, *std::move(stack));
  // The thread keeps the core alive, so that it may finish on its own (see ~ProcessRuntime).
  try {
    core->thread = std::thread([core] { core->Loop(); });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start the process runtime's thread: ", e.what()));
  }
  core->thread_id = core->thread.get_id();
  return std::unique_ptr<ProcessRuntime>(new ProcessRuntime(std::move(core)));
}

ProcessRuntime::ProcessRuntime(std::shared_ptr<ProcessRuntimeCore> core) : core_(std::move(core)) {}

ProcessRuntime::~ProcessRuntime() {
  {
    absl::MutexLock lock(&core_->mu);
    core_->stopping = true;
    for (const std::shared_ptr<Child>& c : core_->children) {
      absl::MutexLock child_lock(&c->mu);
      if (!c->exited) {
        c->kill_at.reset();
        c->SignalLocked(SIGKILL);
      }
    }
  }
  core_->Wake();
  if (core_->OnOwnThread()) {
    core_->thread.detach();  // destroyed from an OnExit callback: the loop ends by itself
  } else {
    core_->thread.join();
  }
}

absl::StatusOr<InstancePtr> ProcessRuntime::Run(const RunSpec& spec) {
  absl::StatusOr<internal::ExecPlan> plan = internal::PlanExec(spec, environ);
  if (!plan.ok()) {
    return plan.status();
  }
  auto job = std::make_shared<internal::SpawnJob>(*plan, spec.labels);
  if (core_->OnOwnThread()) {
    {
      absl::MutexLock lock(&core_->mu);
      if (core_->stopping) {
        return absl::FailedPreconditionError(
            "the process runtime is shutting down: no process can be started");
      }
    }
    core_->RunJob(*job);  // Run from an OnExit callback (a restart)
  } else {
    {
      absl::MutexLock lock(&core_->mu);
      if (core_->stopping) {
        return absl::FailedPreconditionError(
            "the process runtime is shutting down: no process can be started");
      }
      core_->jobs.push_back(job);
    }
    core_->Wake();
    job->done.WaitForNotification();
  }
  if (!job->result.ok()) {
    return job->result.status();
  }
  const internal::SpawnedProcess& p = *job->result;
  absl::StatusOr<std::unique_ptr<base::FdChannel>> stdio =
      base::FdChannel::Create(p.stdout_fd, p.stdin_fd, {.owns_fds = true});
  if (!stdio.ok()) {
    close(p.stdout_fd);
    close(p.stdin_fd);
    core_->Stop(*job->child, absl::ZeroDuration());
    {
      absl::MutexLock lock(&job->child->mu);
      job->child->handle_alive = false;
    }
    core_->Wake();
    return stdio.status();
  }
  return std::make_unique<ProcessInstance>(core_, job->child, *std::move(stdio));
}

absl::StatusOr<std::vector<InstanceInfo>> ProcessRuntime::List(const Labels& selector) {
  std::vector<InstanceInfo> out;
  absl::MutexLock lock(&core_->mu);
  for (const std::shared_ptr<Child>& c : core_->children) {
    bool matches = std::all_of(selector.begin(), selector.end(), [&](const auto& entry) {
      auto it = c->labels.find(entry.first);
      return it != c->labels.end() && it->second == entry.second;
    });
    if (!matches) {
      continue;
    }
    absl::MutexLock child_lock(&c->mu);
    if (!c->handle_alive && c->exited) {
      continue;
    }
    InstanceInfo info{.id = c->id, .labels = c->labels, .exit_status = std::nullopt};
    if (c->exited) {
      info.exit_status = c->exit_status;
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<Prepared> ProcessRuntime::Prepare(const RunSpec& spec,
                                                 PullProgressCallback /*on_progress*/) {
  absl::StatusOr<internal::ExecPlan> plan = internal::PlanExec(spec, environ);
  if (!plan.ok()) {
    return plan.status();
  }
  Prepared out;
  out.digest = plan->path;
  if (!out.digest.empty() && out.digest.front() != '/') {
    std::string base = plan->working_dir;
    if (base.empty()) {
      char cwd[4096];
      if (getcwd(cwd, sizeof(cwd)) == nullptr) {
        return absl::ErrnoToStatus(errno, "getcwd");
      }
      base = cwd;
    }
    out.digest = absl::StrCat(base, "/", out.digest);
  }
  return out;
}

absl::Status ProcessRuntime::Remove(absl::string_view id) {
  std::shared_ptr<Child> found;
  {
    absl::MutexLock lock(&core_->mu);
    for (const std::shared_ptr<Child>& c : core_->children) {
      if (c->id == id) {
        found = c;
        break;
      }
    }
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("no process ", id, " was started by this runtime"));
  }
  core_->Stop(*found, absl::ZeroDuration());
  return absl::OkStatus();
}

}  // namespace mcpgw::container
