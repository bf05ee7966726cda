// Unit test of the word_count tool, in process: a libmcp Server and Client over the in-memory
// transport, handling everything inline, so each call completes before CallTool returns.
#include <optional>

#include "gtest/gtest.h"
#include "mcpgw/base/executor.h"
#include "mcpgw/mcp/client.h"
#include "mcpgw/mcp/memory_transport.h"
#include "word_count.h"

namespace mcp = mcpgw::mcp;

class WordCountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mcp::ServerOptions server_options;
    server_options.session.executor = &inline_;
    server_ = mcp::Server::Create(server_options);
    ASSERT_TRUE(example::AddWordCountTool(*server_).ok());
    auto [server_end, client_end] = mcp::CreateMemoryTransportPair();
    ASSERT_TRUE(server_->Serve(std::move(server_end)).ok());
    mcp::ClientOptions client_options;
    client_options.session.executor = &inline_;
    client_ = mcp::Client::Create(std::move(client_end), client_options);
    bool connected = false;
    client_->Connect([&](absl::StatusOr<mcp::InitializeResult> r) { connected = r.ok(); });
    ASSERT_TRUE(connected);
  }

  absl::StatusOr<mcp::CallToolResult> Call(const char* args_json) {
    std::optional<absl::StatusOr<mcp::CallToolResult>> out;
    client_->CallTool("word_count", *mcp::Json::Parse(args_json), {},
                      [&](absl::StatusOr<mcp::CallToolResult> r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "the in-memory call should complete inline";
    return out.has_value() ? *std::move(out) : absl::InternalError("no answer");
  }

  mcpgw::base::InlineExecutor inline_;
  std::shared_ptr<mcp::Server> server_;
  std::shared_ptr<mcp::Client> client_;
};

TEST_F(WordCountTest, CountsWords) {
  absl::StatusOr<mcp::CallToolResult> r = Call(R"({"text":"the quick brown fox"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->is_error.value_or(false));
  EXPECT_EQ(std::get<mcp::TextContent>(r->content[0]).text, "4 words");
  EXPECT_EQ(r->structured_content->Serialize(), R"({"words":4})");
}

TEST_F(WordCountTest, BadInputIsAToolErrorTheModelCanRead) {
  absl::StatusOr<mcp::CallToolResult> r = Call(R"({"txt":"typo"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->is_error.value_or(false));
  EXPECT_NE(std::get<mcp::TextContent>(r->content[0]).text.find("text"), std::string::npos);
}

TEST_F(WordCountTest, IsListedWithItsSchema) {
  std::optional<absl::StatusOr<std::vector<mcp::Tool>>> tools;
  client_->ListTools([&](absl::StatusOr<std::vector<mcp::Tool>> r) { tools = std::move(r); });
  ASSERT_TRUE(tools.has_value() && tools->ok());
  ASSERT_EQ((*tools)->size(), 1u);
  EXPECT_EQ((**tools)[0].name, "word_count");
}
