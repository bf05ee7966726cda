// File: fixture_server.h
//
// The MCP server behind `mcp-fixture-server`, built on libmcp's typed Server: everything the
// MCP conformance suite's server scenarios expect of a fixture (tools, resources, a template,
// prompts, completion, logging — the `test_*` names and texts of
// @modelcontextprotocol/conformance), plus tools of our own for gateway tests and benchmarks
// (`echo`, `slow`, `get_cancelled_requests`, `crash` (with `print_env`, it first writes
// those variables to stderr), `large_result`, `extra_<n>`).
//
// The server is transport-free: main.cc serves it over stdio, or with --http over HTTP (one
// Server session per HTTP session).
//
//   MCPGW_ASSIGN_OR_RETURN(std::shared_ptr<mcp::Server> server,
//                          CreateFixtureServer({.extra_tools = 100}));
//   MCPGW_ASSIGN_OR_RETURN(auto session, server->Serve(std::move(transport)));
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "mcpgw/mcp/server.h"

namespace mcpgw::fixture {

// The largest text `large_result` returns; larger requests are refused with a tool error.
inline constexpr size_t kMaxLargeResultBytes = size_t{64} << 20;
// The message limit a transport serving the fixture needs, so that the largest result fits
// (the text plus its JSON-RPC envelope).
inline constexpr size_t kFixtureMaxMessageBytes = kMaxLargeResultBytes + (size_t{64} << 10);
// Upper bound of --extra-tools.
inline constexpr int kMaxExtraTools = 100000;

struct FixtureOptions {
  // Registers tools extra_0 … extra_{N-1}, each echoing its arguments (benchmarks with many
  // tools).
  int extra_tools = 0;
  // When set (gateway tests of clashing URIs): a resource test://instance whose text is this
  // name, a tool `instance_links` returning a resource link to it and the resource embedded,
  // and a tool `touch` that sends notifications/resources/updated for its `uri` argument.
  std::string instance;
};

// CreateFixtureServer builds the fixture with every registration made. Returns
// InvalidArgument for extra_tools outside [0, kMaxExtraTools], or the error of a registration
// the Server refused (a bug in this file).
absl::StatusOr<std::shared_ptr<mcp::Server>> CreateFixtureServer(const FixtureOptions& options);

}  // namespace mcpgw::fixture
