// mcp-fixture-server: an MCP server for tests and benchmarks (see fixture_server.h for what it
// offers). It serves one client on its own stdin/stdout and exits 0 when stdin ends, after
// answering what it received (with --ignore-stdin-eof it runs on until a signal ends it). With
// --http PORT it serves any number of clients over Streamable HTTP (and legacy HTTP+SSE) instead,
// until SIGINT or SIGTERM. Logs go to stderr.
//
// The transport is chosen here and nowhere else: ServeStdio() and ServeHttp() are two ways of
// serving the Server that CreateFixtureServer() builds.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "fixture_server.h"
#include "mcpgw/base/fmt.h"
#include "mcpgw/base/logging.h"
#include "mcpgw/mcp/http_server.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/server.h"

namespace mcpgw::fixture {
namespace {

constexpr const char* kProgram = "mcp-fixture-server";

struct Flags {
  bool help = false;
  std::string help_text;
  spdlog::level::level_enum log_level = spdlog::level::warn;
  // Keep running after stdin ends, until a signal ends the process.
  bool ignore_stdin_eof = false;
  // --http PORT: serve over HTTP on `http_host` (0 picks a port) instead of stdio.
  std::optional<int> http_port;
  std::string http_host = "127.0.0.1";
  std::optional<std::string> bearer_token;  // from --bearer-token-env
  FixtureOptions fixture;
};

// ParseFlags reads the command line. Returns InvalidArgument with a one-line explanation for
// anything it does not accept.
absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  cxxopts::Options options(
      kProgram,
      "An MCP server for tests and benchmarks, on stdin/stdout: the MCP conformance suite's "
      "fixture (test_* tools, resources, prompts, completion) plus echo, slow, "
      "get_cancelled_requests, crash (exit_code; print_env NAME,... writes those variables to "
      "stderr first), large_result and --extra-tools. Exits 0 when stdin ends.\n\n"
      "With --http PORT it serves HTTP instead: Streamable HTTP on /mcp and legacy HTTP+SSE "
      "(2024-11-05) on /sse + /message, one fixture session per HTTP session, health on "
      "/healthz. It prints 'mcp-fixture-server: listening on http://HOST:PORT/mcp' on stderr "
      "once ready (PORT 0 picks a free port) and runs until SIGINT or SIGTERM (exit 0). Only "
      "Host/Origin headers naming a loopback host (or HOST) are accepted. E.g.\n"
      "  mcp-fixture-server --http 0\n"
      "  npx conformance server --url http://localhost:PORT/mcp --requirements 2025-11-25");
  options.add_options()("extra-tools",
                        "register N more tools extra_0 … extra_{N-1}, each "
                        "echoing its arguments",
                        cxxopts::value<int>()->default_value("0"), "N")(
      "instance",
      "add test://instance (whose text is NAME) and the tools instance_links and touch "
      "(gateway tests of clashing URIs)",
      cxxopts::value<std::string>()->default_value(""), "NAME")(
      "log-level", "stderr log level: debug, info or warn",
      cxxopts::value<std::string>()->default_value("warn"), "LEVEL")(
      "ignore-stdin-eof",
      "do not exit when stdin ends: keep running until a signal ends the process (a server "
      "that outlives its client, for clean-up tests)")(
      "http", "serve over HTTP on PORT instead of stdio (0: pick a free port)",
      cxxopts::value<int>(), "PORT")(
      "host",
      "with --http: the address to bind (default 127.0.0.1); an address that is not loopback "
      "needs --bearer-token-env",
      cxxopts::value<std::string>()->default_value("127.0.0.1"), "HOST")(
      "bearer-token-env",
      "with --http: require 'Authorization: Bearer <token>' on every request, the token being "
      "the value of environment variable VAR (never on the command line, where ps shows it)",
      cxxopts::value<std::string>(), "VAR")("h,help", "show this help");
  Flags flags;
  try {
    cxxopts::ParseResult args = options.parse(argc, argv);
    if (!args.unmatched().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", args.unmatched().front(), "'"));
    }
    if (args.count("help") > 0) {
      flags.help = true;
      flags.help_text = options.help();
      return flags;
    }
    flags.fixture.extra_tools = args["extra-tools"].as<int>();
    flags.fixture.instance = args["instance"].as<std::string>();
    flags.ignore_stdin_eof = args.count("ignore-stdin-eof") > 0;
    if (args.count("http") > 0) {
      flags.http_port = args["http"].as<int>();
    }
    flags.http_host = args["host"].as<std::string>();
    if (args.count("bearer-token-env") > 0) {
      std::string var = args["bearer-token-env"].as<std::string>();
      const char* value = std::getenv(var.c_str());
      if (value == nullptr || *value == '\0') {
        return absl::InvalidArgumentError(absl::StrCat(
            "--bearer-token-env ", var, ": the environment variable ", var, " is unset or empty"));
      }
      flags.bearer_token = value;
    }
    if (!flags.http_port.has_value() &&
        (args.count("host") > 0 || flags.bearer_token.has_value())) {
      return absl::InvalidArgumentError("--host and --bearer-token-env need --http PORT");
    }
    if (flags.http_port.has_value() && flags.ignore_stdin_eof) {
      return absl::InvalidArgumentError(
          "--ignore-stdin-eof is for stdio; with --http the server runs until a signal anyway");
    }
    std::string level = args["log-level"].as<std::string>();
    if (level == "debug") {
      flags.log_level = spdlog::level::debug;
    } else if (level == "info") {
      flags.log_level = spdlog::level::info;
    } else if (level == "warn") {
      flags.log_level = spdlog::level::warn;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--log-level must be debug, info or warn (got '", level, "')"));
    }
  } catch (const std::exception& e) {  // cxxopts reports bad flags by throwing
    return absl::InvalidArgumentError(e.what());
  }
  if (flags.http_port.has_value() && (*flags.http_port < 0 || *flags.http_port > 65535)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http must be a port between 0 and 65535 (got ", *flags.http_port, ")"));
  }
  if (flags.fixture.extra_tools < 0 || flags.fixture.extra_tools > kMaxExtraTools) {
    return absl::InvalidArgumentError(absl::StrCat("--extra-tools must be between 0 and ",
                                                   kMaxExtraTools, " (got ",
                                                   flags.fixture.extra_tools, ")"));
  }
  return flags;
}

// ServeStdio serves one client on fds 0/1 until it ends its input (and every request it sent
// is answered) or the connection breaks. Returns the process exit code: 0 once the client is
// gone, 1 when stdin/stdout cannot be served.
int ServeStdio(const std::shared_ptr<mcp::Server>& server, bool ignore_stdin_eof) {
  absl::StatusOr<mcp::TransportPtr> transport =
      mcp::CreateStdioTransport({.max_message_bytes = kFixtureMaxMessageBytes});
  if (!transport.ok()) {
    spdlog::error("cannot use stdin/stdout: {}", transport.status());
    return 1;
  }
  auto ended = std::make_shared<absl::Notification>();
  auto reason = std::make_shared<absl::Status>();
  absl::StatusOr<std::shared_ptr<mcp::ServerSession>> session = server->Serve(
      *std::move(transport), [ended, reason](absl::Status why) {
        *reason = std::move(why);
        ended->Notify();
      });
  if (!session.ok()) {
    spdlog::error("cannot serve on stdin/stdout: {}", session.status());
    return 1;
  }
  spdlog::debug("serving MCP on stdin/stdout");
  ended->WaitForNotification();
  (*session)->Close();
  // OK: the client ended its input and every request it sent was answered. Otherwise the
  // connection broke; either way the client is gone.
  if (ignore_stdin_eof) {
    spdlog::debug("the session ended ({}); running on until a signal comes", *reason);
    while (true) {
      pause();
    }
  }
  spdlog::debug("the session ended ({}); exiting", *reason);
  return 0;
}

// SIGINT and SIGTERM, which end --http mode.
sigset_t StopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  return stop_signals;
}

// ServeHttp serves every HTTP client (Streamable HTTP and legacy HTTP+SSE) until SIGINT or
// SIGTERM (blocked by the caller before any thread started). Returns the process exit code: 0
// after a signal, 1 when it cannot listen.
int ServeHttp(const std::shared_ptr<mcp::Server>& server, const Flags& flags) {
  sigset_t stop_signals = StopSignals();
  absl::StatusOr<std::unique_ptr<mcp::HttpServer>> http = mcp::HttpServer::Start({
      .host = flags.http_host,
      .port = static_cast<uint16_t>(*flags.http_port),
      .on_session =
          [server](mcp::TransportPtr transport) {
            absl::StatusOr<std::shared_ptr<mcp::ServerSession>> session =
                server->Serve(std::move(transport));
            if (!session.ok()) {
              spdlog::error("cannot serve an HTTP session: {}", session.status());
            }
          },
      .max_message_bytes = kFixtureMaxMessageBytes,
      .bearer_token = flags.bearer_token,
  });
  if (!http.ok()) {
    if (absl::IsInvalidArgument(http.status())) {
      std::cerr << kProgram << ": " << http.status().message()
                << " (a bearer token comes with --bearer-token-env VAR; see " << kProgram
                << " --help)\n";
      return 2;
    }
    std::cerr << kProgram << ": " << http.status().message() << "\n";
    return 1;
  }
  std::cerr << kProgram << ": listening on " << (*http)->url() << "\n"
            << kProgram << ": legacy HTTP+SSE on " << (*http)->sse_url() << "\n"
            << std::flush;
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::debug("signal {}: stopping", signal_number);
  (*http)->Stop();
  return 0;
}

int Main(int argc, char** argv) {
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::cerr << kProgram << ": " << flags.status().message() << " (see " << kProgram
              << " --help)\n";
    return 2;
  }
  if (flags->help) {
    std::cout << flags->help_text;
    return 0;
  }
  base::ConfigureLogging(flags->log_level);
  if (flags->http_port.has_value()) {
    // Before any thread starts, so that every thread inherits the mask and only ServeHttp's
    // sigwait receives them.
    sigset_t stop_signals = StopSignals();
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  }
  absl::StatusOr<std::shared_ptr<mcp::Server>> server = CreateFixtureServer(flags->fixture);
  if (!server.ok()) {
    spdlog::error("cannot build the fixture: {}", server.status());
    return 1;
  }
  if (flags->http_port.has_value()) {
    return ServeHttp(*server, *flags);
  }
  return ServeStdio(*server, flags->ignore_stdin_eof);
}

}  // namespace
}  // namespace mcpgw::fixture

int main(int argc, char** argv) {
#ifdef NDEBUG
  // Abseil's mutex deadlock detection (on in Debian's build of it) updates a process-wide lock
  // graph on every lock; the debug and sanitizer builds, where the tests run, keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  int code = mcpgw::fixture::Main(argc, argv);
  // Every answer is written by now (the session closed after flushing). Handler threads of the
  // shared pool may still be finishing (a cancelled `slow`): leave without running static
  // destructors under them.
  std::fflush(nullptr);
  _exit(code);
}
