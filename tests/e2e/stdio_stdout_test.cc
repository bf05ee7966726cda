// Runs the stdio test server as a child process with debug logging on and checks that its
// stdout carries only JSON-RPC messages (every line decodes), that the logs went to stderr,
// and that malformed, truncated and oversized input got the right answers.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/json_rpc.h"
#include "testing/subprocess.h"

namespace mcpgw::mcp {
namespace {

using ::testing::HasSubstr;

TEST(StdioServer, StdoutCarriesOnlyJsonRpcWithDebugLoggingOn) {
  std::string input;
  input += R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})" "\n";
  input += R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n";
  input += R"({"jsonrpc":"2.0","id":2,"method":"ping"})" "\n";
  input += "{not json\n";
  input += R"({"jsonrpc":"2.0","id":3,"method":"test/echo","params":{"x":[1,2,3],"u":"\u00e4"}})" "\n";
  input += R"({"jsonrpc":"2.0","id":4,"method":"nope"})" "\n";
  input += R"([{"jsonrpc":"2.0","id":5,"method":"ping"}])" "\n";
  input += R"({"jsonrpc":"2.0","id":6,"method":"test/echo","params":{"big":")" +
           std::string(17 << 20, 'z') + "\"}}\n";  // over the 16 MiB limit
  input += R"({"jsonrpc":"2.0","id":7,"method":"test/echo","params":{"after":"big"}})" "\n";
  input += R"({"jsonrpc":"2.0","id":8,"method":"test/e)";  // truncated by end of input
  testing::ChildResult child = testing::RunProgram({MCPGW_STDIO_TEST_SERVER, "--debug"}, input);
  ASSERT_TRUE(child.started) << child.err;
  EXPECT_EQ(child.exit_code, 0) << child.err;

  std::vector<std::string> lines = absl::StrSplit(child.out, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  std::map<std::string, std::string> by_id;
  for (const std::string& line : lines) {
    absl::StatusOr<Message> m = DecodeMessage(line);
    ASSERT_TRUE(m.ok()) << "stdout line is not JSON-RPC: " << line.substr(0, 200);
    ASSERT_TRUE(m->is_response()) << line;
    by_id[m->id().has_value() ? m->id()->ToString() : "null"] += line.substr(0, 300) + "\n";
  }
  EXPECT_THAT(by_id["1"], HasSubstr(R"("protocolVersion":"2025-11-25")"));
  EXPECT_THAT(by_id["2"], HasSubstr(R"("result":{})"));
  EXPECT_THAT(by_id["3"], HasSubstr(R"("result":{"x":[1,2,3],"u":"ä"})"));
  EXPECT_THAT(by_id["4"], HasSubstr("-32601"));
  EXPECT_THAT(by_id["null"], HasSubstr("-32700"));            // not json, and the truncated one
  EXPECT_THAT(by_id["null"], HasSubstr("batches are not accepted"));
  EXPECT_THAT(by_id["6"], HasSubstr("exceeds the limit of 16777216 bytes"));
  EXPECT_THAT(by_id["7"], HasSubstr(R"("result":{"after":"big"})"));
  // The debug logs exist, and they went to stderr.
  EXPECT_THAT(child.err, HasSubstr("debug"));
  EXPECT_THAT(child.err, HasSubstr("serving MCP on stdio"));
  EXPECT_THAT(child.err, HasSubstr("echo:"));
}

TEST(StdioServer, EndOfInputBeforeAnythingExitsCleanly) {
  testing::ChildResult child = testing::RunProgram({MCPGW_STDIO_TEST_SERVER}, "");
  EXPECT_EQ(child.exit_code, 0) << child.err;
  EXPECT_EQ(child.out, "");
}

}  // namespace
}  // namespace mcpgw::mcp
