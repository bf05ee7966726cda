#include "mcpgw/gateway/upstream.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/mcp/line_transport.h"
#include "spdlog/spdlog.h"

namespace mcpgw::gateway {
namespace {

enum class Event {
  kNeed,            // an Acquire or Start found it stopped
  kInitialized,     // the initialize answer came
  kStartFailed,     // Run failed, initialize failed or timed out, or it exited while starting
  kExited,          // it exited while ready (a crash, or the server ended on its own)
  kExitedAgain,     // it exited again soon after its start: back off
  kIdle,            // no lease for idle_timeout (on-demand)
  kBackoffElapsed,  // the back-off delay is over: it may start again
  kShutdown,        // stopped for good
};

struct Transition {
  UpstreamState from;
  Event event;
  UpstreamState to;
};

using S = UpstreamState;
// Every allowed transition; an event not listed for the current state is ignored (a late
// event of an instance already gone).
constexpr Transition kTransitions[] = {
    {S::kStopped, Event::kNeed, S::kStarting},
    {S::kStarting, Event::kInitialized, S::kReady},
    {S::kStarting, Event::kStartFailed, S::kBackingOff},
    {S::kReady, Event::kExited, S::kStopped},
    {S::kReady, Event::kExitedAgain, S::kBackingOff},
    {S::kReady, Event::kIdle, S::kStopped},
    {S::kBackingOff, Event::kBackoffElapsed, S::kStopped},
    {S::kStopped, Event::kShutdown, S::kStopped},
    {S::kStarting, Event::kShutdown, S::kStopped},
    {S::kReady, Event::kShutdown, S::kStopped},
    {S::kBackingOff, Event::kShutdown, S::kStopped},
};

std::optional<UpstreamState> Next(UpstreamState from, Event event) {
  for (const Transition& t : kTransitions) {
    if (t.from == from && t.event == event) {
      return t.to;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::string_view ToString(UpstreamState state) {
  switch (state) {
    case UpstreamState::kStopped:
      return "stopped";
    case UpstreamState::kStarting:
      return "starting";
    case UpstreamState::kReady:
      return "ready";
    case UpstreamState::kBackingOff:
      return "backing-off";
  }
  return "?";
}

struct Upstream::Impl {
  UpstreamConfig config;
  container::Runtime* runtime = nullptr;
  base::Clock* clock = nullptr;
  base::Executor* executor = nullptr;
  std::weak_ptr<Upstream> self;
  ConnectHook connect_hook;
  StateHook state_hook;

  mutable absl::Mutex mu;
  UpstreamState state ABSL_GUARDED_BY(mu) = UpstreamState::kStopped;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  // Counts start attempts: events of an earlier instance carry an older number and are
  // ignored.
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  std::shared_ptr<container::Instance> instance ABSL_GUARDED_BY(mu);
  std::shared_ptr<mcp::Client> client ABSL_GUARDED_BY(mu);
  // The ready instance's connection closed and its end is not yet known (OnEnded): Acquires
  // wait for what comes next (a restart, or the error) instead of getting a dead client.
  bool connection_lost ABSL_GUARDED_BY(mu) = false;
  std::vector<LeaseCallback> waiting ABSL_GUARDED_BY(mu);
  int leases ABSL_GUARDED_BY(mu) = 0;
  // Instances taken down (stopping or stopped), for WaitStopped.
  std::vector<std::shared_ptr<container::Instance>> retired ABSL_GUARDED_BY(mu);
  // Numbers the idle timers: a timer that fires after a newer one was armed does nothing.
  uint64_t idle_seq ABSL_GUARDED_BY(mu) = 0;
  // Runtime::Run calls under way (Shutdown waits for them: the runtime may go after it).
  int runs_in_progress ABSL_GUARDED_BY(mu) = 0;
  base::TimerId idle_timer ABSL_GUARDED_BY(mu) = 0;
  base::TimerId start_timer ABSL_GUARDED_BY(mu) = 0;
  base::TimerId backoff_timer ABSL_GUARDED_BY(mu) = 0;
  absl::Time ready_at ABSL_GUARDED_BY(mu);
  absl::Time start_at ABSL_GUARDED_BY(mu);  // when the running start began
  absl::Time retry_at ABSL_GUARDED_BY(mu);
  // Failures in a row (start failures, and exits within crash_window of the start).
  int failures ABSL_GUARDED_BY(mu) = 0;
  // Back-offs in a row: each doubles the delay.
  int backoffs ABSL_GUARDED_BY(mu) = 0;
  std::string last_error ABSL_GUARDED_BY(mu);

  // Per-call mode: the instances made for leases (each an on-demand Upstream of its own) until
  // they stop, the Acquires waiting for one of them to stop, and the stopped ones (until they
  // have exited, for WaitStopped). The connect hook is shared by all of them.
  std::vector<std::shared_ptr<Upstream>> per_call ABSL_GUARDED_BY(mu);
  std::deque<LeaseCallback> per_call_queue ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<Upstream>> per_call_retired ABSL_GUARDED_BY(mu);
  std::shared_ptr<ConnectHook> shared_connect_hook;

  // What a transition leaves to do once the lock is released.
  struct Effects {
    std::vector<LeaseCallback> fail;
    absl::Status fail_with;
    std::shared_ptr<mcp::Client> close_client;
    std::shared_ptr<container::Instance> stop_instance;
    std::vector<base::TimerId> cancel_timers;
    bool start = false;
    uint64_t start_generation = 0;
    std::optional<UpstreamState> new_state;

    void Run(Impl& impl) {
      for (base::TimerId t : cancel_timers) {
        if (t != 0) {
          impl.clock->Cancel(t);
        }
      }
      if (close_client != nullptr) {
        close_client->Close();  // closes the server's stdin; pending calls fail at once
      }
      if (stop_instance != nullptr) {
        stop_instance->Stop(impl.config.stop_grace);
      }
      for (LeaseCallback& done : fail) {
        std::move(done)(fail_with);
      }
      if (new_state.has_value() && impl.state_hook) {
        impl.state_hook(*new_state);
      }
      if (start) {
        impl.BeginStart(start_generation);
      }
    }
  };

  // Apply moves to the next state if `event` is allowed now. Returns false otherwise.
  bool Apply(Event event, Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::optional<UpstreamState> to = Next(state, event);
    if (!to.has_value()) {
      return false;
    }
    if (*to != state) {
      fx.new_state = *to;
    }
    state = *to;
    return true;
  }

  // TakeDown detaches the running instance and its client (to be closed and stopped outside
  // the lock) and makes every later event of theirs stale.
  void TakeDown(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++generation;
    connection_lost = false;
    fx.close_client = std::move(client);
    if (instance != nullptr) {
      // Kept until it has exited, for WaitStopped.
      std::erase_if(retired, [](const std::shared_ptr<container::Instance>& i) {
        return i->WaitForExit(absl::ZeroDuration()).ok();
      });
      retired.push_back(instance);
    }
    fx.stop_instance = std::move(instance);
    fx.cancel_timers.push_back(std::exchange(idle_timer, 0));
    fx.cancel_timers.push_back(std::exchange(start_timer, 0));
  }

  // NeedStart moves a stopped server to starting (long-lived restarts, Acquire, Start).
  void NeedStart(Effects& fx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!shut_down && Apply(Event::kNeed, fx)) {
      ++generation;
      start_at = clock->Now();
      fx.start = true;
      fx.start_generation = generation;
      // From the start of Run: a runtime that hangs in Run is covered too.
      start_timer = clock->RunAfter(config.start_timeout, [weak = self, gen = generation] {
        if (std::shared_ptr<Upstream> up = weak.lock()) {
          up->impl_->OnStartTimeout(gen);
        }
      });
    }
  }

  void BeginStart(uint64_t gen) {
    executor->Post([weak = self, gen] {
      if (std::shared_ptr<Upstream> up = weak.lock()) {
        up->impl_->RunInstance(gen);
      }
    });
  }

  // RunInstance starts the program (blocking: on the executor), or connects to the in-process
  // server, and connects the client to it.
  void RunInstance(uint64_t gen) {
    {
      absl::MutexLock lock(&mu);
      if (gen != generation || state != UpstreamState::kStarting) {
        return;  // shut down before it began
      }
      ++runs_in_progress;
    }
    std::shared_ptr<container::Instance> inst;
    absl::StatusOr<mcp::TransportPtr> transport = absl::UnknownError("not started");
    if (config.connector) {
      transport = config.connector();
    } else {
      absl::StatusOr<container::InstancePtr> started = runtime->Run(config.spec);
      if (started.ok()) {
        inst = *std::move(started);
        transport = mcp::CreateLineTransport(inst->TakeStdio());
      } else {
        transport = started.status();
      }
    }
    {
      absl::MutexLock lock(&mu);
      --runs_in_progress;  // Shutdown may return now: the runtime is not used after this
    }
    if (!transport.ok()) {
      Fail(gen, absl::UnavailableError(absl::StrCat("server \"", config.name,
                                                    "\" could not be started: ",
                                                    transport.status().message())));
      return;
    }
    mcp::ClientOptions options = config.client;
    options.session.name = absl::StrCat("upstream ", config.name);
    std::shared_ptr<mcp::Client> c = mcp::Client::Create(*std::move(transport), options);
    {
      absl::MutexLock lock(&mu);
      if (gen != generation || state != UpstreamState::kStarting) {
        // Shut down meanwhile: this instance is not wanted.
        if (inst != nullptr) {
          inst->Stop(absl::ZeroDuration());
        }
        return;
      }
      instance = inst;
      client = c;
    }
    if (inst != nullptr) {
      inst->OnExit([weak = self, gen, inst_weak = std::weak_ptr<container::Instance>(inst)](
                       container::ExitStatus status) {
        std::shared_ptr<Upstream> up = weak.lock();
        std::shared_ptr<container::Instance> i = inst_weak.lock();
        if (up != nullptr) {
          up->impl_->OnExited(gen, status, i != nullptr ? i->StderrTail(20) : "");
        }
      });
    }
    // The connection can end while the process runs (its stdout closed, the engine's attach
    // stream dropped): that ends this instance too.
    c->SetClosedCallback([weak = self, gen, inst_weak = std::weak_ptr<container::Instance>(inst)](
                             absl::Status why) {
      if (std::shared_ptr<Upstream> up = weak.lock()) {
        up->impl_->OnSessionClosed(gen, std::move(why), inst_weak.lock());
      }
    });
    if (connect_hook) {
      connect_hook(*c);
    }
    c->Connect([weak = self, gen](absl::StatusOr<mcp::InitializeResult> init) {
      std::shared_ptr<Upstream> up = weak.lock();
      if (up == nullptr) {
        return;
      }
      if (init.ok()) {
        up->impl_->OnInitialized(gen);
      } else {
        up->impl_->OnConnectFailed(gen, init.status());
      }
    });
  }

  // OnConnectFailed: a server whose stdio closed during initialize has usually exited: its exit
  // status and stderr say more than "connection closed", so wait a moment for them (on the
  // executor: this runs on the session's thread).
  void OnConnectFailed(uint64_t gen, absl::Status why) {
    std::shared_ptr<container::Instance> inst;
    {
      absl::MutexLock lock(&mu);
      if (gen != generation) {
        return;
      }
      inst = instance;
    }
    executor->Post([weak = self, gen, inst, why] {
      std::shared_ptr<Upstream> up = weak.lock();
      if (up == nullptr) {
        return;
      }
      Impl& impl = *up->impl_;
      absl::StatusOr<container::ExitStatus> ended =
          inst != nullptr ? inst->WaitForExit(absl::Seconds(1))
                          : absl::StatusOr<container::ExitStatus>(absl::UnknownError(""));
      // The exit explains a connection that closed; another failure (a protocol error the
      // client detected, which then closes the session itself) explains itself.
      if (ended.ok() && absl::IsUnavailable(why)) {
        impl.Fail(gen, container::ExitError(absl::StrCat("server \"", impl.config.name, "\""),
                                            *ended, inst->StderrTail(20)));
      } else {
        impl.Fail(gen, absl::UnavailableError(absl::StrCat(
                           "server \"", impl.config.name, "\" failed to initialize: ",
                           why.message())));
      }
    });
  }

  void OnInitialized(uint64_t gen) {
    Effects fx;
    std::vector<LeaseCallback> ready;
    std::shared_ptr<mcp::Client> c;
    absl::Duration took;
    {
      absl::MutexLock lock(&mu);
      if (gen != generation || !Apply(Event::kInitialized, fx)) {
        return;
      }
      ready_at = clock->Now();
      took = ready_at - start_at;
      fx.cancel_timers.push_back(std::exchange(start_timer, 0));
      ready.swap(waiting);
      leases += static_cast<int>(ready.size());
      c = client;
      ArmIdleTimer();
    }
    spdlog::log(config.idle_timeout > absl::ZeroDuration() ? spdlog::level::info
                                                           : spdlog::level::debug,
                "upstream {}: ready in {:.1f} ms (started and initialized)", config.name,
                absl::ToDoubleMilliseconds(took));
    fx.Run(*this);
    std::shared_ptr<Upstream> up = self.lock();
    for (LeaseCallback& done : ready) {
      std::move(done)(Lease(up, c));
    }
  }

  void OnStartTimeout(uint64_t gen) {
    Fail(gen, absl::DeadlineExceededError(absl::StrCat(
                  "server \"", config.name, "\" did not answer initialize within ",
                  absl::FormatDuration(config.start_timeout))));
  }

  absl::Status Redacted(const absl::Status& why) const {
    return config.redactor != nullptr ? config.redactor->RedactStatus(why) : why;
  }

  // Fail ends a start attempt: back off, fail whoever waits.
  void Fail(uint64_t gen, absl::Status why) {
    Effects fx;
    {
      absl::MutexLock lock(&mu);
      if (gen != generation || !Apply(Event::kStartFailed, fx)) {
        return;
      }
      // Both redacted before they are compared: the message may quote the tail already.
      why = Redacted(why);
      std::string tail = instance != nullptr ? instance->StderrTail(20) : "";
      if (config.redactor != nullptr) {
        tail = config.redactor->Redact(tail);
      }
      if (!tail.empty() && !absl::StrContains(why.message(), tail)) {
        why = absl::Status(why.code(),
                           absl::StrCat(why.message(), "; the last lines it wrote to stderr:\n", tail));
      }
      TakeDown(fx);
      ++failures;
      BackOff(std::string(why.message()));
      fx.fail.swap(waiting);
      fx.fail_with = absl::Status(why.code(), last_error);
    }
    spdlog::warn("upstream {}: {}", config.name, why.message());
    fx.Run(*this);
  }

  void OnExited(uint64_t gen, container::ExitStatus status, std::string tail) {
    OnEnded(gen, container::ExitError(absl::StrCat("server \"", config.name, "\""), status,
                                      tail));
  }

  // OnSessionClosed: the connection ended. If the process exited, OnExited reports it (with
  // its exit status); if it still runs a moment later, the connection alone is the failure.
  void OnSessionClosed(uint64_t gen, absl::Status why,
                       std::shared_ptr<container::Instance> inst) {
    {
      absl::MutexLock lock(&mu);
      if (gen != generation || state != UpstreamState::kReady) {
        return;  // gone already, or still starting (Connect reports that)
      }
      connection_lost = true;
    }
    executor->Post([weak = self, gen, why = std::move(why), inst] {
      if (inst != nullptr && inst->WaitForExit(absl::Seconds(1)).ok()) {
        return;  // OnExited has it
      }
      if (std::shared_ptr<Upstream> up = weak.lock()) {
        up->impl_->OnEnded(gen, absl::UnavailableError(absl::StrCat(
                                    "the connection to server \"", up->impl_->config.name,
                                    "\" closed while it ran: ", why.message())));
      }
    });
  }

  // OnEnded: this instance is over (exited, or its connection closed).
  void OnEnded(uint64_t gen, absl::Status why) {
    why = Redacted(why);
    Effects fx;
    {
      absl::MutexLock lock(&mu);
      if (gen != generation) {
        return;
      }
      if (state == UpstreamState::kStarting) {
        // Fail takes the lock itself.
      } else {
        bool soon = clock->Now() - ready_at < config.crash_window;
        failures = soon ? failures + 1 : 1;
        if (!soon) {
          backoffs = 0;  // it ran well for a while: start counting afresh
        }
        if (!Apply(failures >= 2 ? Event::kExitedAgain : Event::kExited, fx)) {
          return;
        }
        TakeDown(fx);
        if (state == UpstreamState::kBackingOff) {
          BackOff(std::string(why.message()));
          fx.fail.swap(waiting);  // Acquires that came after the connection closed
          fx.fail_with = absl::UnavailableError(last_error);
        } else {
          last_error = std::string(why.message());
          if (config.mode == RunMode::kLongLived || !waiting.empty()) {
            NeedStart(fx);
          }
        }
      }
    }
    if (fx.new_state.has_value() || fx.start) {
      spdlog::warn("upstream {}: {}", config.name, why.message());
      fx.Run(*this);
      return;
    }
    Fail(gen, why);
  }

  // BackOff (in state kBackingOff) records the failure and arms the retry timer: the delay
  // doubles with each failure in a row, up to backoff_max.
  void BackOff(std::string why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++backoffs;
    absl::Duration delay = config.backoff_initial;
    for (int i = 1; i < backoffs && delay < config.backoff_max; ++i) {
      delay *= 2;
    }
    delay = std::min(delay, config.backoff_max);
    retry_at = clock->Now() + delay;
    last_error = absl::StrCat(why, " (failed ", failures, " time", failures == 1 ? "" : "s",
                              " in a row; mcpgw retries in ", absl::FormatDuration(delay), ")");
    backoff_timer = clock->RunAfter(delay, [weak = self, gen = generation] {
      if (std::shared_ptr<Upstream> up = weak.lock()) {
        up->impl_->OnBackoffElapsed(gen);
      }
    });
  }

  void OnBackoffElapsed(uint64_t gen) {
    Effects fx;
    {
      absl::MutexLock lock(&mu);
      if (gen != generation || !Apply(Event::kBackoffElapsed, fx)) {
        return;
      }
      backoff_timer = 0;
      if (config.mode == RunMode::kLongLived) {
        NeedStart(fx);
      }
    }
    fx.Run(*this);
  }

  void ArmIdleTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (config.mode == RunMode::kLongLived || leases > 0 || state != UpstreamState::kReady ||
        idle_timer != 0 || !waiting.empty()) {
      return;  // (waiting while ready: its connection ended; OnEnded serves them)
    }
    idle_timer = clock->RunAfter(config.idle_timeout, IdleCallback());
  }

  absl::AnyInvocable<void()> IdleCallback() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return [weak = self, gen = generation, seq = ++idle_seq] {
      if (std::shared_ptr<Upstream> up = weak.lock()) {
        up->impl_->OnIdle(gen, seq);
      }
    };
  }

  void OnIdle(uint64_t gen, uint64_t seq) {
    Effects fx;
    {
      absl::MutexLock lock(&mu);
      if (seq != idle_seq) {
        return;  // a newer timer is armed (or was cancelled by an Acquire)
      }
      idle_timer = 0;
      if (gen != generation || leases > 0 || !waiting.empty() || !Apply(Event::kIdle, fx)) {
        return;
      }
      TakeDown(fx);
      failures = 0;
      backoffs = 0;
    }
    if (config.idle_timeout > absl::ZeroDuration()) {
      spdlog::info("upstream {}: stopped after {} idle", config.name,
                   absl::FormatDuration(config.idle_timeout));
    } else {
      spdlog::debug("upstream {}: stopped (its call ended)", config.name);
    }
    fx.Run(*this);
  }

  void Release() {
    absl::AnyInvocable<void()> stop_now;
    {
      absl::MutexLock lock(&mu);
      --leases;
      if (config.idle_timeout <= absl::ZeroDuration() && config.mode != RunMode::kLongLived &&
          leases == 0 && state == UpstreamState::kReady) {
        stop_now = IdleCallback();  // no idle time (a per-call instance): stop now
      } else {
        ArmIdleTimer();
      }
    }
    if (stop_now) {
      // On the executor: the last lease often ends on this server's own session thread.
      executor->Post([fn = std::move(stop_now)]() mutable { fn(); });
    }
  }

  // --- Per-call mode ------------------------------------------------------------------------

  // MakeInstance creates the Upstream of one per-call lease: on demand, stopped as soon as its
  // lease is released.
  std::shared_ptr<Upstream> MakeInstance() {
    UpstreamConfig one = config;
    one.mode = RunMode::kOnDemand;
    one.idle_timeout = absl::ZeroDuration();
    std::shared_ptr<Upstream> inst = Upstream::Create(std::move(one), runtime, clock, executor);
    if (shared_connect_hook != nullptr) {
      inst->SetConnectHook([hook = shared_connect_hook](mcp::Client& c) { (*hook)(c); });
    }
    inst->SetStateHook([weak = self, weak_inst = std::weak_ptr<Upstream>(inst)](UpstreamState s) {
      std::shared_ptr<Upstream> up = weak.lock();
      std::shared_ptr<Upstream> i = weak_inst.lock();
      if (up != nullptr && i != nullptr &&
          (s == UpstreamState::kStopped || s == UpstreamState::kBackingOff)) {
        up->impl_->OnInstanceStopped(i, s);
      }
    });
    return inst;
  }

  void AcquireFresh(LeaseCallback done) {
    std::shared_ptr<Upstream> inst;
    {
      absl::MutexLock lock(&mu);
      if (shut_down) {
        inst = nullptr;
      } else if (per_call.size() >= static_cast<size_t>(std::max(1, config.per_call_concurrency))) {
        per_call_queue.push_back(std::move(done));  // started when one of the running stops
        return;
      } else {
        inst = MakeInstance();
        per_call.push_back(inst);
      }
    }
    if (inst == nullptr) {
      std::move(done)(absl::FailedPreconditionError(
          absl::StrCat("server \"", config.name, "\" is shut down")));
      return;
    }
    Launch(inst, std::move(done));
  }

  void Launch(const std::shared_ptr<Upstream>& inst, LeaseCallback done) {
    inst->Acquire([weak = self, done = std::move(done)](absl::StatusOr<Lease> lease) mutable {
      if (!lease.ok()) {
        if (std::shared_ptr<Upstream> up = weak.lock()) {
          absl::MutexLock lock(&up->impl_->mu);
          up->impl_->last_error = std::string(lease.status().message());
        }
      }
      std::move(done)(std::move(lease));
    });
  }

  // OnInstanceStopped: a per-call instance is done (its lease ended, it crashed, or it failed
  // to start): its place goes to the next waiting Acquire.
  void OnInstanceStopped(const std::shared_ptr<Upstream>& inst, UpstreamState s) {
    std::shared_ptr<Upstream> next;
    LeaseCallback next_done;
    std::vector<std::shared_ptr<Upstream>> exited;
    {
      absl::MutexLock lock(&mu);
      auto it = std::find(per_call.begin(), per_call.end(), inst);
      if (it == per_call.end()) {
        return;  // already counted
      }
      per_call.erase(it);
      // Instances that have exited are let go (outside the lock: destroying one takes its lock).
      std::erase_if(per_call_retired, [&exited](const std::shared_ptr<Upstream>& r) {
        if (!r->WaitStopped(absl::InfinitePast()).ok()) {
          return false;
        }
        exited.push_back(r);
        return true;
      });
      per_call_retired.push_back(inst);
      if (!shut_down && !per_call_queue.empty()) {
        next_done = std::move(per_call_queue.front());
        per_call_queue.pop_front();
        next = MakeInstance();
        per_call.push_back(next);
      }
    }
    if (s == UpstreamState::kBackingOff) {
      // A failed start: nothing retries this instance (the next call makes a new one). Shut
      // down on the executor: a start may still be inside Runtime::Run.
      executor->Post([inst] { inst->Shutdown(); });
    }
    if (next != nullptr) {
      Launch(next, std::move(next_done));
    }
  }
};

Upstream::Lease::Lease(Lease&& other) noexcept
    : owner_(std::move(other.owner_)), client_(std::move(other.client_)) {}

Upstream::Lease& Upstream::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = std::move(other.owner_);
    client_ = std::move(other.client_);
  }
  return *this;
}

Upstream::Lease::~Lease() { Release(); }

void Upstream::Lease::Release() {
  if (owner_ != nullptr) {
    owner_->impl_->Release();
    owner_.reset();
  }
  client_.reset();
}

std::shared_ptr<Upstream> Upstream::Create(UpstreamConfig config, container::Runtime* runtime,
                                           base::Clock* clock, base::Executor* executor) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->runtime = runtime;
  impl->clock = clock != nullptr ? clock : &base::RealClock();
  impl->executor = executor != nullptr ? executor : &base::DefaultExecutor();
  std::shared_ptr<Upstream> up(new Upstream(std::move(impl)));
  up->impl_->self = up;
  return up;
}

Upstream::Upstream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Upstream::~Upstream() { Shutdown(); }

void Upstream::SetConnectHook(ConnectHook hook) {
  if (impl_->config.mode == RunMode::kPerCall) {
    impl_->shared_connect_hook = std::make_shared<ConnectHook>(std::move(hook));
    return;
  }
  impl_->connect_hook = std::move(hook);
}
void Upstream::SetStateHook(StateHook hook) { impl_->state_hook = std::move(hook); }

void Upstream::Acquire(LeaseCallback done) {
  if (impl_->config.mode == RunMode::kPerCall) {
    impl_->AcquireFresh(std::move(done));
    return;
  }
  Impl::Effects fx;
  std::shared_ptr<mcp::Client> ready;
  absl::Status refused;
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->shut_down) {
      refused = absl::FailedPreconditionError(
          absl::StrCat("server \"", impl_->config.name, "\" is shut down"));
    } else {
      switch (impl_->state) {
        case UpstreamState::kReady:
          if (impl_->connection_lost ||
              (impl_->client != nullptr && impl_->client->session().peer_output_ended() &&
               impl_->client->session().incoming_in_flight() == 0)) {
            // Its connection ended and OnEnded has yet to come: that serves the waiting (a
            // restart) or fails them. No idle stop in between. (A server that ended its output
            // while a request of its own is still being answered — an elicitation a person
            // may take minutes over — is not waited for: the call fails at once, as it would
            // on the ended connection.)
            ++impl_->idle_seq;
            impl_->waiting.push_back(std::move(done));
            break;
          }
          if (impl_->client == nullptr) {
            refused = absl::InternalError(
                absl::StrCat("server \"", impl_->config.name, "\" is ready without a connection"));
            break;
          }
          ++impl_->leases;
          ++impl_->idle_seq;  // a timer already firing must not stop it now
          fx.cancel_timers.push_back(std::exchange(impl_->idle_timer, 0));
          ready = impl_->client;
          break;
        case UpstreamState::kBackingOff:
          refused = absl::UnavailableError(impl_->last_error);
          break;
        case UpstreamState::kStopped:
          impl_->NeedStart(fx);
          impl_->waiting.push_back(std::move(done));
          break;
        case UpstreamState::kStarting:
          impl_->waiting.push_back(std::move(done));
          break;
      }
    }
  }
  fx.Run(*impl_);
  if (!refused.ok()) {
    std::move(done)(refused);
  } else if (ready != nullptr) {
    std::move(done)(Lease(shared_from_this(), std::move(ready)));
  }
}

void Upstream::Start() {
  if (impl_->config.mode == RunMode::kPerCall) {
    return;  // instances are made for calls only
  }
  Impl::Effects fx;
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->state == UpstreamState::kStopped) {
      impl_->NeedStart(fx);
    }
  }
  fx.Run(*impl_);
}

void Upstream::Shutdown() {
  Impl::Effects fx;
  std::vector<std::shared_ptr<Upstream>> per_call;
  {
    absl::MutexLock lock(&impl_->mu);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
      return impl_->runs_in_progress == 0;
    };
    if (impl_->shut_down) {
      impl_->mu.Await(absl::Condition(&idle));  // a concurrent Shutdown: same promise
      return;
    }
    impl_->shut_down = true;
    impl_->Apply(Event::kShutdown, fx);
    impl_->TakeDown(fx);
    fx.cancel_timers.push_back(std::exchange(impl_->backoff_timer, 0));
    fx.fail.swap(impl_->waiting);
    fx.fail_with = absl::FailedPreconditionError(
        absl::StrCat("server \"", impl_->config.name, "\" was shut down before it was ready"));
    impl_->mu.Await(absl::Condition(&idle));
    per_call = std::move(impl_->per_call);
    for (LeaseCallback& done : impl_->per_call_queue) {
      fx.fail.push_back(std::move(done));
    }
    impl_->per_call_queue.clear();
    impl_->per_call_retired.insert(impl_->per_call_retired.end(), per_call.begin(),
                                   per_call.end());
  }
  fx.Run(*impl_);
  for (const auto& inst : per_call) {
    inst->Shutdown();
  }
}

absl::Status Upstream::WaitStopped(absl::Time deadline) {
  std::vector<std::shared_ptr<container::Instance>> retired;
  std::vector<std::shared_ptr<Upstream>> per_call;
  {
    absl::MutexLock lock(&impl_->mu);
    retired = impl_->retired;
    per_call = impl_->per_call_retired;
    per_call.insert(per_call.end(), impl_->per_call.begin(), impl_->per_call.end());
  }
  for (const auto& inst : per_call) {
    MCPGW_RETURN_IF_ERROR(inst->WaitStopped(deadline));
  }
  for (const auto& inst : retired) {
    absl::StatusOr<container::ExitStatus> ended =
        inst->WaitForExit(std::max(absl::ZeroDuration(), deadline - absl::Now()));
    if (!ended.ok()) {
      return absl::DeadlineExceededError(
          absl::StrCat("server \"", impl_->config.name, "\" is still stopping"));
    }
  }
  return absl::OkStatus();
}

const std::string& Upstream::name() const { return impl_->config.name; }

RunMode Upstream::mode() const { return impl_->config.mode; }

UpstreamState Upstream::state() const {
  absl::MutexLock lock(&impl_->mu);
  if (impl_->config.mode == RunMode::kPerCall) {
    return impl_->per_call.empty() ? UpstreamState::kStopped : UpstreamState::kReady;
  }
  return impl_->state;
}

std::string Upstream::last_error() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->last_error;
}

std::shared_ptr<mcp::Client> Upstream::client_if_ready() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->state == UpstreamState::kReady ? impl_->client : nullptr;
}

}  // namespace mcpgw::gateway
