#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/types.h"
#include "gtest/gtest.h"
TEST(Json, Parses) { auto j = mcpgw::mcp::Json::Parse("{\"a\":1}"); ASSERT_TRUE(j.ok()); }
