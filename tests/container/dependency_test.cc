// Dependencies point one way: libmcp includes neither libcontainer nor libgateway, and
// libcontainer knows no MCP. This test reads the sources and fails on an include that breaks
// the rule.
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

std::vector<std::string> Violations(const std::string& dir, const std::vector<std::string>& banned) {
  std::vector<std::string> found;
  std::regex include(R"re(^\s*#\s*include\s*[<"]([^>"]+)[>"])re");
  std::error_code ec;  // a file vanishing mid-walk (an editor's temp file) is not an error
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           std::string(MCPGW_SOURCE_DIR) + "/" + dir,
           std::filesystem::directory_options::skip_permission_denied, ec)) {
    if (!entry.is_regular_file()) {
      continue;
    }
    std::ifstream in(entry.path());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      std::smatch m;
      if (!std::regex_search(line, m, include)) {
        continue;
      }
      for (const std::string& prefix : banned) {
        if (m[1].str().rfind(prefix, 0) == 0) {
          found.push_back(entry.path().string() + ":" + std::to_string(n) + ": " + line);
        }
      }
    }
  }
  return found;
}

TEST(Dependencies, BaseIncludesNoLibrary) {
  auto v = Violations("base", {"mcpgw/mcp/", "mcpgw/container/", "mcpgw/gateway/"});
  EXPECT_TRUE(v.empty()) << v.front();
}

TEST(Dependencies, LibmcpIncludesNeitherContainerNorGateway) {
  auto v = Violations("libmcp", {"mcpgw/container/", "mcpgw/gateway/"});
  EXPECT_TRUE(v.empty()) << v.front();
}

TEST(Dependencies, LibcontainerKnowsNoMcp) {
  auto v = Violations("libcontainer", {"mcpgw/mcp/", "mcpgw/gateway/"});
  EXPECT_TRUE(v.empty()) << v.front();
}

TEST(Dependencies, TheRuleCatchesViolations) {
  // The scanner itself works: the libmcp tests do include libmcp.
  EXPECT_FALSE(Violations("tests/mcp", {"mcpgw/mcp/"}).empty());
}

}  // namespace
