#include "cli.h"

#include <cxxopts.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "spdlog/spdlog.h"
#include "mcpgw/base/logging.h"
#include "mcpgw/gateway/run.h"
#include "mcpgw/gateway/secret_store.h"
#include "mcpgw/gateway/self_check.h"
#include "mcpgw/mcp/protocol_version.h"

namespace mcpgw::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage = R"(mcpgw — one MCP endpoint in front of many MCP servers

Usage: mcpgw <command> [options]
       mcpgw --help | --version

Commands:
  run         serve the gateway on stdio (or over HTTP: --transport http): the servers of a
              profile (--profile FILE) and/or ad-hoc local servers (--command NAME='CMD
              ARGS'); with neither, the default profile (the gateway's own tools:
              list_servers, enable_server, ...)
  secret      manage the secrets servers receive: `secret set NAME` (value on stdin),
              `secret ls`, `secret rm NAME`
  selftest    check the protocol core: an MCP client and server session talk over the stdio
              transport through pipes in this process (negotiation for every protocol
              revision, then timed pings)
  version     print the version and the MCP protocol revisions spoken

Run `mcpgw <command> --help` (or `mcpgw help <command>`) for a command's options.
)";

constexpr const char* kVersionUsage = R"(Usage: mcpgw version

Print mcpgw's version and the MCP protocol revisions it speaks (`mcpgw --version` too).
)";

std::string Micros(absl::Duration d) {
  return fmt::format("{:.1f} µs", absl::ToDoubleMicroseconds(d));
}

int Version(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      out << kVersionUsage;
      return 0;
    }
  }
  if (argc > 1) {
    err << "mcpgw version: takes no arguments (see `mcpgw version --help`)\n";
    return 2;
  }
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
  out << "The gateway itself: `mcpgw run --help`.\n";
  return 0;
}

constexpr const char* kSecretUsage = R"(Usage: mcpgw secret <command>

Commands:
  set NAME    store secret NAME in the secret file; the value is read from stdin (one
              trailing newline is stripped), never from the command line, where `ps` and
              shell history would keep it. On a terminal the input is not echoed.
  ls          list the secrets' names and where each comes from (never their values)
  rm NAME     remove secret NAME from the secret file

Secrets are looked up in order: environment variables MCPGW_SECRET_<NAME>, then
$MCPGW_SECRETS_DIR and /run/secrets (one file per secret), then the file
$XDG_CONFIG_HOME/mcpgw/secrets.yaml (mode 0600). See docs/secrets.md.

Examples:
  printf %s "$GITHUB_TOKEN" | mcpgw secret set github.token
  mcpgw secret set github.token < token.txt
  mcpgw secret ls
  mcpgw secret rm github.token
)";

// The terminal settings to put back if Ctrl-C (or a kill) ends `secret set` while echo is off;
// otherwise the user's shell would be left not echoing.
termios saved_termios;

extern "C" void RestoreTerminalAndDie(int sig) {
  tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);  // async-signal-safe
  signal(sig, SIG_DFL);
  raise(sig);
}

// Reads the value for `secret set`. From a terminal: one line, not echoed. Otherwise all of
// stdin, bounded so that a wrong file piped in is refused rather than read whole.
absl::StatusOr<std::string> ReadSecretInput(std::istream& in, std::ostream& err,
                                            absl::string_view name) {
  if (&in == &std::cin && isatty(STDIN_FILENO) == 1) {
    err << "Value for secret \"" << name << "\" (input hidden, end with Enter): " << std::flush;
    bool restore = tcgetattr(STDIN_FILENO, &saved_termios) == 0;
    if (restore) {
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
        signal(sig, RestoreTerminalAndDie);
      }
      termios quiet = saved_termios;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      // TCSANOW, not TCSAFLUSH: a value pasted before the prompt appeared is kept.
      tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    std::getline(in, line);
    if (restore) {
      tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
        signal(sig, SIG_DFL);
      }
    }
    err << "\n";
    return line;
  }
  std::string input;
  // Room for the largest value plus the "\r\n" a file may end with, and one byte to notice more.
  const size_t limit = gateway::kMaxSecretValueBytes + 3;
  char buf[8192];
  while (input.size() < limit && in.read(buf, sizeof(buf)).gcount() > 0) {
    input.append(buf, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) {
    return absl::UnavailableError("cannot read the value from stdin");
  }
  if (input.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat("the value on stdin is longer than the limit of ",
                     gateway::kMaxSecretValueBytes, " bytes"));
  }
  return input;
}

// The `secret` commands parse their few arguments by hand rather than with cxxopts: its errors
// quote the offending argument, and an argument here may be a secret value typed by mistake.
// Nothing taken from the command line other than a valid NAME is ever printed.
int Secret(int argc, const char* const* argv, std::istream& in, std::ostream& out,
           std::ostream& err) {
  if (argc < 2) {
    err << kSecretUsage;
    return 2;
  }
  std::string sub = argv[1];
  if (sub == "-h" || sub == "--help" || sub == "help") {
    out << kSecretUsage;
    return 0;
  }
  if (sub != "set" && sub != "ls" && sub != "rm") {
    err << "mcpgw secret: unknown command; use set, ls or rm (see `mcpgw secret --help`)\n";
    return 2;
  }
  const std::string prefix = "mcpgw secret " + sub + ": ";
  std::vector<std::string> positional;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      out << kSecretUsage;
      return 0;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      // Only the option's name: `--value=...` must not echo what follows '='.
      err << prefix << "unknown option " << arg.substr(0, arg.find('='))
          << " (see `mcpgw secret --help`)\n";
      return 2;
    }
    positional.push_back(std::move(arg));
  }
  const size_t wanted = sub == "ls" ? 0 : 1;
  if (positional.size() != wanted) {
    if (sub == "set" && positional.size() > 1) {
      err << prefix
          << "takes only the secret's NAME: the value is read from stdin, never from the "
             "command line, where `ps` and shell history would keep it "
             "(e.g. `printf %s \"$TOKEN\" | mcpgw secret set NAME`)\n";
    } else if (sub == "ls") {
      err << prefix << "takes no arguments (see `mcpgw secret --help`)\n";
    } else {
      err << prefix << "needs exactly one NAME (see `mcpgw secret --help`)\n";
    }
    return 2;
  }
  if (wanted == 1) {
    if (absl::Status valid = gateway::ValidateSecretName(positional[0]); !valid.ok()) {
      err << prefix << valid.message() << "\n";
      return 2;
    }
  }

  absl::StatusOr<gateway::SecretStore> store = gateway::SecretStore::Default();
  if (!store.ok()) {
    err << prefix << store.status().message() << "\n";
    return 1;
  }

  if (sub == "set") {
    const std::string& name = positional[0];
    absl::StatusOr<std::string> input = ReadSecretInput(in, err, name);
    absl::StatusOr<std::string> value =
        input.ok() ? gateway::SecretValueFromInput(*std::move(input)) : input.status();
    if (!value.ok()) {
      err << prefix << value.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<gateway::SecretSetResult> set = store->Set(name, *value);
    if (!set.ok()) {
      err << prefix << set.status().message() << "\n";
      return 1;
    }
    out << "saved secret \"" << name << "\" in " << set->written_to << "\n";
    if (set->shadowed_by.has_value()) {
      err << "note: " << *set->shadowed_by << " is set and takes precedence over the saved value\n";
    }
    return 0;
  }

  if (sub == "rm") {
    const std::string& name = positional[0];
    absl::StatusOr<gateway::SecretRemoveResult> removed = store->Remove(name);
    if (!removed.ok()) {
      err << prefix << removed.status().message() << "\n";
      return 1;
    }
    for (const std::string& from : removed->removed_from) {
      out << "removed secret \"" << name << "\" from " << from << "\n";
    }
    if (removed->still_served_by.has_value()) {
      err << "note: " << *removed->still_served_by << " still provides \"" << name << "\"\n";
    }
    return 0;
  }

  absl::StatusOr<std::vector<gateway::SecretListing>> list = store->List();
  if (!list.ok()) {
    err << prefix << list.status().message() << "\n";
    return 1;
  }
  if (list->empty()) {
    err << "no secrets yet; store one with `mcpgw secret set NAME` (value on stdin)\n";
    return 0;
  }
  size_t width = 0;
  for (const gateway::SecretListing& s : *list) {
    width = std::max(width, s.name.size());
  }
  for (const gateway::SecretListing& s : *list) {
    std::string line = fmt::format("{:<{}}  {}", s.name, width, s.source);
    if (!s.overrides.empty()) {
      line += " (overrides ";
      for (size_t i = 0; i < s.overrides.size(); ++i) {
        line += (i > 0 ? ", " : "") + s.overrides[i];
      }
      line += ")";
    }
    out << line << "\n";
  }
  return 0;
}

// Notified by RequestStop (main's signal thread): `run` stops its servers and returns.
absl::Notification& StopRequested() {
  static auto* stop = new absl::Notification;
  return *stop;
}

std::vector<std::string> SplitList(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& v : values) {
    for (absl::string_view part : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      out.emplace_back(part);
    }
  }
  return out;
}

int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  cxxopts::Options options(
      "mcpgw run",
      "Serve one MCP endpoint in front of the servers of a profile and/or ad-hoc local "
      "servers; with neither, the default profile (the built-in mcpgw server). On stdio (one "
      "client), or over HTTP with --transport http: Streamable HTTP on http://HOST:PORT/mcp, "
      "the legacy HTTP+SSE endpoints (/sse, /message) and /healthz, each client session with "
      "its own routing (see docs/http.md). Logs go to stderr.");
  options.add_options()("profile", "a profile file (YAML; see docs/profile.md)",
                        cxxopts::value<std::string>()->default_value(""))(
      "command",
      "an ad-hoc local server, NAME='CMD ARGS...' (split like a shell would; no shell runs); "
      "repeatable",
      cxxopts::value<std::vector<std::string>>())(
      "env", "NAME=VALUE for the --command servers (VALUE may be {{secret.NAME}}); repeatable",
      cxxopts::value<std::vector<std::string>>())(
      "servers", "run only these servers of the profile (a,b)",
      cxxopts::value<std::vector<std::string>>())(
      "tools", "expose only these tools (server:tool,...; server:* for all of one)",
      cxxopts::value<std::vector<std::string>>())(
      "transport",
      "stdio, or http (also: streamable, streaming, sse — one HTTP server serves both the "
      "Streamable HTTP and the legacy SSE transport)",
      cxxopts::value<std::string>()->default_value("stdio"))(
      "host", "HTTP: the address to listen on; other than a loopback address it requires a "
      "bearer token (see --require-token)",
      cxxopts::value<std::string>()->default_value("127.0.0.1"))(
      "port", "HTTP: the port to listen on (0: any free one; the URL is printed)",
      cxxopts::value<int>()->default_value("8811"))(
      "require-token",
      "HTTP: require `Authorization: Bearer TOKEN` also on a loopback address. The token is "
      "the secret `gateway-token` (mcpgw secret set gateway-token); without it a random one "
      "is made and printed once")(
      "allow-origin", "HTTP: an Origin accepted besides the loopback ones; repeatable",
      cxxopts::value<std::vector<std::string>>())(
      "allow-host", "HTTP: a Host name accepted besides the loopback ones and --host; repeatable",
      cxxopts::value<std::vector<std::string>>())(
      "log-level", "debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))(
      "h,help", "show this help");
  cxxopts::ParseResult args = options.parse(argc, argv);
  if (args.count("help") > 0) {
    out << options.help();
    return 0;
  }
  if (!args.unmatched().empty()) {
    err << "mcpgw run: unexpected argument '" << args.unmatched()[0]
        << "' (see `mcpgw run --help`)\n";
    return 2;
  }
  spdlog::level::level_enum level = spdlog::level::from_str(args["log-level"].as<std::string>());
  if (level == spdlog::level::off && args["log-level"].as<std::string>() != "off") {
    err << "mcpgw run: --log-level must be debug, info, warn or error\n";
    return 2;
  }
  std::string transport = args["transport"].as<std::string>();
  bool http = transport == "http" || transport == "streamable" || transport == "streaming" ||
              transport == "sse";
  if (!http && transport != "stdio") {
    err << "mcpgw run: --transport must be stdio or http (streamable, streaming and sse are "
           "names for http), not '"
        << transport << "'\n";
    return 2;
  }
  int port = args["port"].as<int>();
  if (port < 0 || port > 65535) {
    err << "mcpgw run: --port must be 0 to 65535, not " << port << "\n";
    return 2;
  }
  if (!http) {
    for (const char* flag : {"host", "port", "require-token", "allow-origin", "allow-host"}) {
      if (args.count(flag) > 0) {
        err << "mcpgw run: --" << flag << " is for --transport http\n";
        return 2;
      }
    }
  }
  base::ConfigureLogging(level);
  gateway::RunOptions run;
  run.profile_path = args["profile"].as<std::string>();
  auto list = [&](const char* name) {
    return args.count(name) > 0 ? args[name].as<std::vector<std::string>>()
                                : std::vector<std::string>{};
  };
  run.commands = list("command");
  run.env = list("env");
  run.servers = SplitList(list("servers"));
  run.tools = SplitList(list("tools"));
  absl::StatusOr<gateway::ResolvedProfile> plan = gateway::PlanRun(run);
  if (!plan.ok()) {
    err << "mcpgw run: " << plan.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<gateway::SecretStore> secrets = gateway::SecretStore::Default();
  if (!secrets.ok()) {
    err << "mcpgw run: " << secrets.status().message() << "\n";
    return 1;
  }
  absl::Status served;
  if (http) {
    gateway::HttpRunOptions serve;
    serve.host = args["host"].as<std::string>();
    serve.port = static_cast<uint16_t>(port);
    serve.require_token = args.count("require-token") > 0;
    serve.allowed_origins = list("allow-origin");
    serve.allowed_hosts = list("allow-host");
    serve.on_listening = [&err](absl::string_view url, absl::string_view generated_token) {
      err << "mcpgw: listening on " << url << "\n";
      if (!generated_token.empty()) {
        err << "mcpgw: clients must send `Authorization: Bearer " << generated_token
            << "` (a token made for this run: store one with `mcpgw secret set "
            << gateway::kGatewayTokenSecret << "` to keep it)\n";
      }
      err.flush();
    };
    served = gateway::RunHttpGateway(*plan, *secrets, std::move(serve), &StopRequested());
  } else {
    served = gateway::RunStdioGateway(*plan, *secrets, STDIN_FILENO, STDOUT_FILENO,
                                      &StopRequested());
  }
  if (!served.ok()) {
    err << "mcpgw run: " << served.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void RequestStop() { StopRequested().Notify(); }

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  return RunCli(argc, argv, std::cin, out, err);
}

int RunCli(int argc, const char* const* argv, std::istream& in, std::ostream& out,
           std::ostream& err) {
  if (argc < 2) {
    err << kUsage;
    return 2;
  }
  std::string command = argv[1];
  // `mcpgw help COMMAND` is `mcpgw COMMAND --help`.
  std::vector<const char*> help_args;
  if (command == "help" && argc > 2) {
    command = argv[2];
    help_args = {argv[0], argv[2], "--help"};
    argc = static_cast<int>(help_args.size());
    argv = help_args.data();
  }
  try {
    if (command == "-h" || command == "--help" || command == "help") {
      out << kUsage;
      return 0;
    }
    if (command == "--version") {
      return Version(1, argv + 1, out, err);
    }
    if (command == "version") {
      return Version(argc - 1, argv + 1, out, err);
    }
    if (command == "selftest") {
      return SelfTest(argc - 1, argv + 1, out, err);
    }
    if (command == "run") {
      return Run(argc - 1, argv + 1, out, err);
    }
    if (command == "secret") {
      return Secret(argc - 1, argv + 1, in, out, err);
    }
  } catch (const cxxopts::exceptions::exception& e) {
    err << "mcpgw " << command << ": " << e.what() << " (see `mcpgw " << command
        << " --help`)\n";
    return 2;
  } catch (const std::exception& e) {
    err << "mcpgw " << command << ": " << e.what() << "\n";
    return 1;
  }
  if (command.size() > 1 && command[0] == '-') {
    // Only the option's name: what follows '=' may be anything (a value typed by mistake).
    err << "mcpgw: unknown option '" << command.substr(0, command.find('='))
        << "'; run `mcpgw --help` for the commands and options\n";
    return 2;
  }
  err << "mcpgw: unknown command '" << command << "'; run `mcpgw --help` for the commands\n";
  return 2;
}

}  // namespace mcpgw::cli
