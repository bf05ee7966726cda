#include "word_count.h"

#include <sstream>
#include <string>

namespace example {

namespace mcp = mcpgw::mcp;

absl::Status AddWordCountTool(mcp::Server& server) {
  mcp::Tool tool;
  tool.name = "word_count";
  tool.description = "Counts the words of a text";
  absl::StatusOr<mcp::Json> schema = mcp::Json::Parse(
      R"({"type":"object","properties":{"text":{"type":"string","minLength":1}},)"
      R"("required":["text"],"additionalProperties":false})");
  if (!schema.ok()) {
    return schema.status();
  }
  tool.input_schema = *std::move(schema);
  return server.AddSyncTool(
      tool, [](const mcp::Json& args, mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
        // The schema was checked before this runs: text is a non-empty string.
        std::istringstream in(args.value()["text"].GetString());
        int64_t words = 0;
        for (std::string w; in >> w;) {
          ++words;
        }
        mcp::CallToolResult result = mcp::TextResult(std::to_string(words) + " words");
        result.structured_content = mcp::Json::Object();
        result.structured_content->Set("words", mcp::JsonValue(words));
        return result;
      });
}

}  // namespace example
