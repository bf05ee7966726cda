#include "mcpgw/mcp/types.h"

#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

TEST(Types, ImplementationRoundTrip) {
  auto parsed = Json::Parse(R"({"name":"x","version":"1","futureField":[1,2]})");
  ASSERT_TRUE(parsed.ok());
  auto impl = FromJson<Implementation>(parsed->value());
  ASSERT_TRUE(impl.ok()) << impl.status();
  EXPECT_EQ(impl->name, "x");
  EXPECT_EQ(ToJson(*impl), *parsed);
}

}  // namespace
}  // namespace mcpgw::mcp
