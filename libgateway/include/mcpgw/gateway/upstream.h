// File: upstream.h
//
// One backing MCP server of the gateway: its run spec, its lifecycle and its connection (a
// libmcp Client over the instance's stdio, or over an in-memory transport to a server in this
// process: see UpstreamConfig::connector). Users borrow the connection with Acquire, which
// starts the server when it is not running; concurrent Acquires share one start and one
// instance (on-demand and long-lived modes).
//
//   auto fetch = Upstream::Create({.name = "fetch", .spec = spec}, runtime);
//   fetch->Acquire([](absl::StatusOr<Upstream::Lease> lease) {
//     if (!lease.ok()) return Reply(lease.status());  // says what failed and when it retries
//     lease->client->CallTool("fetch", args, {}, ...);  // keep `lease` until the call ends
//   });
//
// The lifecycle is a table of transitions (upstream.cc, kTransitions):
//
//   stopped ──need──▶ starting ──initialized──▶ ready ──idle / stop──▶ stopped
//      ▲                 │                        │
//      │            start failed               exited: the first time ─▶ stopped (the next
//      │                 ▼                        │   need restarts it at once);
//      └──backoff──  backing-off ◀────────────────┘   again soon after its start ─▶ backing-off
//         elapsed                                     (1 s, 2 s, 4 s ... up to backoff_max)
//
// While backing off, Acquire fails at once with Unavailable quoting the last failure (exit
// status and stderr tail) and when the next attempt may start. A crash fails the calls in
// flight at once: the Client's session closes and answers every pending request with
// Unavailable.
//
// Per-call mode: every Acquire gets a fresh instance of its own (an on-demand Upstream with
// no idle time, made for that lease), stopped as soon as the lease is released. At most
// `per_call_concurrency` instances run at once; further Acquires wait in order for one to
// stop. A start failure fails only the Acquire it was made for; last_error() keeps it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mcpgw/base/clock.h"
#include "mcpgw/base/executor.h"
#include "mcpgw/container/runtime.h"
#include "mcpgw/gateway/catalog.h"
#include "mcpgw/gateway/secret_store.h"
#include "mcpgw/mcp/client.h"

namespace mcpgw::gateway {

enum class UpstreamState { kStopped, kStarting, kReady, kBackingOff };
absl::string_view ToString(UpstreamState state);

struct UpstreamConfig {
  // The server's name in the profile: in errors, logs and the instance's labels.
  std::string name;
  container::RunSpec spec;
  // Set for a server that runs in this process (a libmcp Server): returns the client's end of
  // a new connection to it (InProcessConnector in gateway.h makes one). Then `spec` and the
  // runtime are not used: starting the server is connecting to it, stopping it closes that
  // connection, and a connection that closes on its own counts as an exit. Called on the
  // executor. (A std::function: configs are copied.)
  std::function<absl::StatusOr<mcp::TransportPtr>()> connector;
  RunMode mode = RunMode::kOnDemand;
  // Per-call: the most instances running at once.
  int per_call_concurrency = 4;
  // On-demand: stop after this long without a lease.
  absl::Duration idle_timeout = absl::Minutes(5);
  // From the start of Run to the initialize answer.
  absl::Duration start_timeout = absl::Seconds(60);
  // A server that exits within this time of becoming ready counts as crashing repeatedly.
  absl::Duration crash_window = absl::Seconds(30);
  absl::Duration backoff_initial = absl::Seconds(1);
  absl::Duration backoff_max = absl::Minutes(1);
  // Stop: SIGTERM (after closing stdin), SIGKILL after this.
  absl::Duration stop_grace = absl::Seconds(5);
  // What the client declares in initialize: the downstream client's capabilities, so that
  // the server offers what the client can really do.
  mcp::ClientOptions client;
  // Masks secret values in what the upstream reports (stderr tails in errors and logs): a
  // server that prints its token and crashes must not leak it. May be null.
  std::shared_ptr<const Redactor> redactor;
};

// Thread-safe.
class Upstream : public std::enable_shared_from_this<Upstream> {
 public:
  // A borrowed connection. The server counts as in use (no idle stop) while a Lease lives.
  class Lease {
   public:
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    const std::shared_ptr<mcp::Client>& client() const { return client_; }
    mcp::Client* operator->() const { return client_.get(); }

   private:
    friend class Upstream;
    Lease(std::shared_ptr<Upstream> owner, std::shared_ptr<mcp::Client> client)
        : owner_(std::move(owner)), client_(std::move(client)) {}
    void Release();

    std::shared_ptr<Upstream> owner_;
    std::shared_ptr<mcp::Client> client_;
  };

  using LeaseCallback = absl::AnyInvocable<void(absl::StatusOr<Lease>) &&>;
  // Called (outside any lock) with every newly connected client, before any Acquire gets it:
  // the place to attach notification and server→client request handlers.
  using ConnectHook = absl::AnyInvocable<void(mcp::Client& client)>;
  using StateHook = absl::AnyInvocable<void(UpstreamState state)>;

  // `runtime`, `clock` and `executor` must outlive the Upstream. `runtime` may be null when
  // `config.connector` is set. Default clock:
  // base::RealClock(); default executor (for the blocking Run): base::DefaultExecutor().
  static std::shared_ptr<Upstream> Create(UpstreamConfig config, container::Runtime* runtime,
                                          base::Clock* clock = nullptr,
                                          base::Executor* executor = nullptr);
  ~Upstream();

  // Hooks: set before the first Acquire.
  void SetConnectHook(ConnectHook hook);
  void SetStateHook(StateHook hook);

  // Acquire calls `done` once with a lease on the connected server, starting it if needed,
  // or with the error that prevents it: Unavailable (the server failed to start, exited, or
  // is backing off: the message says why and when it retries), DeadlineExceeded (no
  // initialize answer within start_timeout), FailedPrecondition (stopped for good).
  // `done` runs on a session or executor thread, or before Acquire returns.
  void Acquire(LeaseCallback done);

  // Start begins starting the server if it is stopped (long-lived servers, pre-warming).
  void Start();

  // Shutdown ends the server (closes its stdin, SIGTERM, SIGKILL after stop_grace; pending
  // Acquires fail with FailedPrecondition) and keeps it stopped: later Acquires fail too.
  // Does not block, except while a start is inside Runtime::Run (for a process: moments), so
  // that the runtime may be destroyed once every Upstream on it has shut down. The destructor
  // shuts down.
  void Shutdown();

  // WaitStopped waits until every instance this upstream took down (by Shutdown, an idle stop
  // or a failure) has exited; DeadlineExceeded when one still runs at `deadline`.
  absl::Status WaitStopped(absl::Time deadline);

  const std::string& name() const;
  RunMode mode() const;
  // Per-call: kReady while an instance runs, else kStopped.
  UpstreamState state() const;
  // The last start failure or crash, empty when none.
  std::string last_error() const;
  // The connected client when ready, else nullptr (for listings that must not start it).
  // Always nullptr in per-call mode (no instance is shared).
  std::shared_ptr<mcp::Client> client_if_ready() const;

 private:
  struct Impl;
  explicit Upstream(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace mcpgw::gateway
