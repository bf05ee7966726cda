// A tool defined with libmcp: counts the words of a text.
#pragma once

#include "absl/status/status.h"
#include "mcpgw/mcp/server.h"

namespace example {

// AddWordCountTool registers `word_count {text}` on `server`; the result has a text block and
// structured content {"words": N}.
absl::Status AddWordCountTool(mcpgw::mcp::Server& server);

}  // namespace example
