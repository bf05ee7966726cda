#include "cli.h"

#include <cxxopts.hpp>
#include <fmt/format.h>

#include <exception>
#include <string>
#include <vector>

#include "mcpgw/base/logging.h"
#include "mcpgw/gateway/self_check.h"
#include "mcpgw/mcp/protocol_version.h"

namespace mcpgw::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(mcpgw — one MCP endpoint in front of many MCP servers

Usage: mcpgw <command> [options]

Commands:
  selftest    check the protocol core: an MCP client and server session talk over the stdio
              transport through pipes in this process (negotiation for every protocol
              revision, then timed pings)
  version     print the version and the MCP protocol revisions spoken

`mcpgw run` (the gateway itself) is not built yet.
Run `mcpgw <command> --help` for a command's options.
)";

std::string Micros(absl::Duration d) {
  return fmt::format("{:.1f} µs", absl::ToDoubleMicroseconds(d));
}

int Version(std::ostream& out) {
  std::string revisions;
  for (mcp::ProtocolVersion v : mcp::kSupportedProtocolVersions) {
    if (!revisions.empty()) {
      revisions += ", ";
    }
    revisions += std::string(mcp::ToString(v));
  }
  out << "mcpgw " << kVersion << "\nMCP protocol revisions: " << revisions << "\n";
  return 0;
}

int SelfTest(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  cxxopts::Options options("mcpgw selftest", "Check the MCP protocol core on this machine.");
  options.add_options()("pings", "number of timed pings", cxxopts::value<int>()->default_value("1000"))(
      "v,verbose", "log protocol traffic (debug) to stderr")("h,help", "show this help");
  cxxopts::ParseResult args = options.parse(argc, argv);
  if (args.count("help") > 0) {
    out << options.help();
    return 0;
  }
  int pings = args["pings"].as<int>();
  if (pings < 0 || pings > 10'000'000) {
    err << "mcpgw selftest: --pings must be between 0 and 10000000 (got " << pings << ")\n";
    return 2;
  }
  base::ConfigureLogging(args.count("verbose") > 0 ? spdlog::level::debug : spdlog::level::warn);
  absl::StatusOr<gateway::SelfCheckReport> report =
      gateway::RunSelfCheck({.pings = pings});
  if (!report.ok()) {
    err << "mcpgw selftest: FAILED: " << report.status().message() << "\n";
    return 1;
  }
  out << "mcpgw selftest: the protocol core works (client and server sessions over the stdio "
         "transport, through pipes)\n";
  for (const auto& [offered, negotiated] : report->negotiations) {
    out << fmt::format("  initialize offering {} → server negotiated {}\n", offered, negotiated);
  }
  if (report->pings > 0) {
    out << fmt::format("  {} pings: round trip p50 {}, p99 {}, max {}\n", report->pings,
                       Micros(report->p50), Micros(report->p99), Micros(report->max));
  }
  out << "Note: `mcpgw run`, the gateway itself, is not built yet; this checks the layers it "
         "stands on.\n";
  return 0;
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  if (argc < 2) {
    err << kUsage;
    return 2;
  }
  std::string command = argv[1];
  try {
    if (command == "-h" || command == "--help" || command == "help") {
      out << kUsage;
      return 0;
    }
    if (command == "version" || command == "--version") {
      return Version(out);
    }
    if (command == "selftest") {
      return SelfTest(argc - 1, argv + 1, out, err);
    }
  } catch (const cxxopts::exceptions::exception& e) {
    err << "mcpgw " << command << ": " << e.what() << " (see `mcpgw " << command
        << " --help`)\n";
    return 2;
  } catch (const std::exception& e) {
    err << "mcpgw " << command << ": " << e.what() << "\n";
    return 1;
  }
  err << "mcpgw: unknown command '" << command << "'; run `mcpgw --help` for the commands\n";
  return 2;
}

}  // namespace mcpgw::cli
