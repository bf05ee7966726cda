// mcpgw-bench-http-server: the fixture MCP server (apps/mcp-fixture-server: `echo` and the
// rest) behind libmcp's HttpServer, for mcpgw-load's HTTP mode and its tests. Prints its URL
// on the first line of stdout, then serves until stdin ends or SIGINT/SIGTERM.
//
//   mcpgw-bench-http-server --port 0 --max-sessions 4096 < /dev/tty   # prints
//   http://127.0.0.1:N/mcp
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "fixture_server.h"
#include "mcpgw/base/logging.h"
#include "mcpgw/mcp/http_server.h"
#include "mcpgw/mcp/server.h"

namespace {

int Main(int argc, char** argv) {
  cxxopts::Options options("mcpgw-bench-http-server",
                           "The fixture MCP server over Streamable HTTP (libmcp HttpServer), for "
                           "mcpgw-load. Prints its URL, serves until stdin ends or a signal.");
  options.add_options()("port", "port on 127.0.0.1 (0: any free port)",
                        cxxopts::value<int>()->default_value("0"), "PORT")(
      "max-sessions", "sessions open at once", cxxopts::value<int>()->default_value("4096"), "N")(
      "h,help", "show this help");
  int port = 0;
  int max_sessions = 0;
  try {
    cxxopts::ParseResult args = options.parse(argc, argv);
    if (args.count("help") > 0) {
      std::printf("%s", options.help().c_str());
      return 0;
    }
    if (!args.unmatched().empty()) {
      std::fprintf(stderr, "mcpgw-bench-http-server: unexpected argument '%s'\n",
                   args.unmatched().front().c_str());
      return 2;
    }
    port = args["port"].as<int>();
    max_sessions = args["max-sessions"].as<int>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcpgw-bench-http-server: %s\n", e.what());
    return 2;
  }
  if (port < 0 || port > 65535 || max_sessions < 1) {
    std::fprintf(stderr, "mcpgw-bench-http-server: --port must be 0-65535, --max-sessions >= 1\n");
    return 2;
  }
  mcpgw::base::ConfigureLogging(spdlog::level::warn);

  // Block the signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::shared_ptr<mcpgw::mcp::Server>> server =
      mcpgw::fixture::CreateFixtureServer({});
  if (!server.ok()) {
    std::fprintf(stderr, "mcpgw-bench-http-server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::shared_ptr<mcpgw::mcp::Server> fixture = *server;
  absl::StatusOr<std::unique_ptr<mcpgw::mcp::HttpServer>> http = mcpgw::mcp::HttpServer::Start({
      .port = static_cast<uint16_t>(port),
      .on_session =
          [fixture](mcpgw::mcp::TransportPtr transport) {
            absl::StatusOr<std::shared_ptr<mcpgw::mcp::ServerSession>> session =
                fixture->Serve(std::move(transport));
            if (!session.ok()) {
              std::fprintf(stderr, "mcpgw-bench-http-server: %s\n",
                           session.status().ToString().c_str());
            }
          },
      .max_sessions = static_cast<size_t>(max_sessions),
  });
  if (!http.ok()) {
    std::fprintf(stderr, "mcpgw-bench-http-server: %s\n", http.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", (*http)->url().c_str());
  std::fflush(stdout);

  // End of stdin also ends the server (a parent that dies takes it along).
  std::thread stdin_watch([] {
    char buffer[256];
    while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
    }
    kill(getpid(), SIGUSR1);
  });
  stdin_watch.detach();
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  (*http)->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int code = Main(argc, argv);
  std::fflush(nullptr);
  _exit(code);  // handler threads of the shared pool may still run: skip static destructors
}
