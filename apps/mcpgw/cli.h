// The mcpgw command line: argument parsing and printing only. Every command is a call into
// the libraries, so the whole CLI is testable in-process through RunCli.
#pragma once

#include <istream>
#include <ostream>

namespace mcpgw::cli {

// RunCli runs one command line and returns the process exit code: 0 on success, 1 when the
// command failed, 2 for a usage error. Input (a secret's value for `secret set`) is read from
// `in`, results go to `out`, errors (one clear line) to `err`.
int RunCli(int argc, const char* const* argv, std::istream& in, std::ostream& out,
           std::ostream& err);

// RunCli reading from std::cin.
int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

// RequestStop asks a running `mcpgw run` to stop its servers and return (main calls it from
// its signal thread on SIGINT/SIGTERM). Safe from any thread, once or more.
void RequestStop();

}  // namespace mcpgw::cli
