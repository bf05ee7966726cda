#include "mcpgw/base/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace mcpgw::base {

void ConfigureLogging(spdlog::level::level_enum level) {
  static const bool installed = [] {
    auto logger = spdlog::stderr_color_mt("mcpgw");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
    spdlog::set_default_logger(std::move(logger));
    return true;
  }();
  (void)installed;
  spdlog::set_level(level);
}

}  // namespace mcpgw::base
