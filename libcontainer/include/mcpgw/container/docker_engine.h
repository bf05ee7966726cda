// File: docker_engine.h
//
// DockerEngine runs MCP servers as containers through the Docker Engine REST API, spoken
// directly over the engine's socket (no docker CLI). Each container gets no network, no
// capabilities, no-new-privileges, an init process, AutoRemove, and the label
// `io.mcpgw.managed=true` next to the spec's labels.
//
//   MCPGW_ASSIGN_OR_RETURN(auto docker, mcpgw::container::DockerEngine::Create({}));
//   mcpgw::container::RunSpec spec;
//   spec.image = "mcp/fetch:latest";
//   spec.labels["io.mcpgw.server"] = "fetch";
//   MCPGW_ASSIGN_OR_RETURN(mcpgw::container::InstancePtr server, docker->Run(spec));
//   mcpgw::base::ByteChannelPtr stdio = server->TakeStdio();  // stdout in, stdin out
//
// How it works (per container):
// - `POST /containers/create`, then, each on its own connection, `POST .../wait?condition=
//   next-exit` (its response headers are read before the start, so the exit cannot be missed)
//   and `POST .../attach` upgraded to a raw stream, then `POST .../start`.
// - The attach stream becomes the stdio channel: writes go to the container's stdin (CloseWrite
//   shuts the socket's write side down: the container reads end of input), reads are the
//   container's stdout demultiplexed from the engine's 8-byte-header frames; stderr frames go
//   to the StderrTail ring buffer. The stream is read once the channel is started, so stderr is
//   drained only while the stdio channel runs.
// - One monitor thread per engine (not per container) polls every wait connection: it reads
//   the exit code when a wait answers, sends the SIGKILL that follows a Stop's grace, and runs
//   the OnExit callbacks. Stop sends SIGTERM at once (`POST .../kill?signal=SIGTERM`, which
//   does not block like `.../stop?t=N` would). The container's init (HostConfig.Init) reports a
//   program killed by signal N as 128 + N; after a Stop that is reported as ExitStatus::Killed.
// - The engine lost (dockerd stopped or crashed): every wait connection ends, so every running
//   instance reports an unknown exit status (exit_code -1) at once and its stdio channel
//   closes; nothing waits for a timeout.
//
// Images: Run needs the image present locally; Prepare inspects it, pulls it when absent
// (`POST /images/create`, progress reported per engine event) and reports its digest. Pulls
// are anonymous (registries that need a login are not supported yet).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "mcpgw/container/runtime.h"

namespace mcpgw::container {

namespace internal {
struct DockerEngineCore;
}  // namespace internal

struct DockerOptions {
  // Where the engine listens: "unix:///path/to/docker.sock" or "tcp://host:port" (plain TCP,
  // no TLS). Empty: $DOCKER_HOST if set, else unix:///var/run/docker.sock.
  std::string host;
  // Timeout of each REST call (not of the attach stream or the wait for the exit).
  absl::Duration request_timeout = absl::Seconds(30);
  // Bytes of each container's stderr kept for StderrTail.
  size_t stderr_tail_bytes = size_t{64} << 10;
  // When an Instance is destroyed while its container runs: SIGTERM, SIGKILL after this.
  absl::Duration destroy_grace = absl::Seconds(2);
  // Largest REST response body accepted.
  size_t max_response_bytes = size_t{16} << 20;
  // A pull fails when the engine reports no progress for this long.
  absl::Duration pull_stall_timeout = absl::Minutes(2);
};

// Thread-safe. Destroying it kills (SIGKILL) the containers it started that still run, waits
// for their ends (at most `request_timeout`; an end the engine never reports is reported as
// unknown), runs their OnExit callbacks and joins its monitor thread; Instances may outlive it
// (they then only report the end).
class DockerEngine final : public Runtime {
 public:
  // The newest Engine API version this code speaks, and the oldest it accepts.
  static constexpr absl::string_view kMaxApiVersion = "1.43";
  static constexpr absl::string_view kMinApiVersion = "1.41";

  // Create reaches the engine (`/_ping`, `/version`) and negotiates the API version:
  // min(engine's, kMaxApiVersion), at least kMinApiVersion. Returns:
  // - Unavailable: no engine answers ("cannot reach the Docker engine at ...: is dockerd
  //   running? ...").
  // - PermissionDenied: the socket exists but this user may not connect to it.
  // - FailedPrecondition: the engine's API is older than kMinApiVersion.
  // - InvalidArgument: a malformed `host`.
  static absl::StatusOr<std::unique_ptr<DockerEngine>> Create(DockerOptions options);

  DockerEngine(const DockerEngine&) = delete;
  DockerEngine& operator=(const DockerEngine&) = delete;
  ~DockerEngine() override;

  // Run creates, attaches to and starts a container of `spec.image` (see Runtime::Run).
  // `spec.command` replaces the image's entrypoint, `spec.args` its command; only `spec.env`
  // reaches the container. Returns:
  // - InvalidArgument: no image, a NUL byte, a variable name that is empty or contains '='.
  // - NotFound: the image is not present locally (Prepare pulls it).
  // - Unavailable: the engine cannot be reached; an error status the engine reported
  //   otherwise (its message quoted).
  // The returned Instance's id() is the full container id.
  absl::StatusOr<InstancePtr> Run(const RunSpec& spec) override;

  // List returns the containers (running or not) whose labels include every entry of
  // `selector`; for an empty selector, every container labelled io.mcpgw.managed=true.
  absl::StatusOr<std::vector<InstanceInfo>> List(const Labels& selector) override;

  // Prepare makes sure `spec.image` is present: inspects it, pulls it when absent (each engine
  // event goes to `on_progress`, on this thread), and reports its digest (see Prepared).
  // NotFound: the registry has no such image; PermissionDenied: the registry wants a login;
  // Unavailable: the registry cannot be reached; DeadlineExceeded: the pull stalled for
  // `pull_stall_timeout`.
  absl::StatusOr<Prepared> Prepare(const RunSpec& spec,
                                   PullProgressCallback on_progress = nullptr) override;

  // Pull pulls `image` (by tag or by digest) whether present or not; errors as Prepare.
  absl::Status Pull(absl::string_view image, PullProgressCallback on_progress = nullptr);

  // Remove kills and removes the container `id` (`DELETE /containers/{id}?force=1`), such as
  // one left by an earlier run (see List). NotFound when there is no such container.
  absl::Status Remove(absl::string_view id) override;

  // InspectImageJson returns the engine's raw JSON description of an image
  // (`GET /images/{name}/json`); NotFound when it is not present locally.
  absl::StatusOr<std::string> InspectImageJson(absl::string_view image);

  // InspectJson returns the engine's raw JSON description of a container
  // (`GET /containers/{id}/json`); NotFound when it does not exist (any more).
  absl::StatusOr<std::string> InspectJson(absl::string_view id);

  // StatsJson returns one sample of a running container's resource use
  // (`GET /containers/{id}/stats?stream=false`: memory_stats, cpu_stats, ...); NotFound when
  // it does not exist.
  absl::StatusOr<std::string> StatsJson(absl::string_view id);

  // engine_version is the engine's own version, e.g. "20.10.24" (podman: "4.3.1").
  const std::string& engine_version() const;
  // api_version is the negotiated Engine API version, e.g. "1.41".
  const std::string& api_version() const;
  // engine_api_version is the newest version the engine offered.
  const std::string& engine_api_version() const;

 private:
  explicit DockerEngine(std::shared_ptr<internal::DockerEngineCore> core);

  std::shared_ptr<internal::DockerEngineCore> core_;
};

}  // namespace mcpgw::container
