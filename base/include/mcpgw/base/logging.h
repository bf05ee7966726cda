// File: logging.h
//
// Logging goes to stderr, never stdout: on a stdio transport stdout carries protocol messages
// only, and spdlog's stock default logger writes to stdout.
//
//   mcpgw::base::ConfigureLogging(spdlog::level::debug);
//   spdlog::debug("upstream {} started", name);
#pragma once

#include <spdlog/spdlog.h>

namespace mcpgw::base {

// ConfigureLogging makes spdlog's default logger write to stderr at `level`. Call it early in
// main, before other threads log. Safe to call again to change the level.
void ConfigureLogging(spdlog::level::level_enum level = spdlog::level::info);

}  // namespace mcpgw::base
