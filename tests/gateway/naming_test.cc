#include "mcpgw/gateway/naming.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::StatusIs;
using ::testing::HasSubstr;

TEST(Naming, ValidNames) {
  EXPECT_TRUE(IsValidName("get_weather"));
  EXPECT_TRUE(IsValidName("a.b-c_D9"));
  EXPECT_TRUE(IsValidName(std::string(128, 'x')));
  EXPECT_FALSE(IsValidName(std::string(129, 'x')));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("has space"));
  EXPECT_FALSE(IsValidName("comma,"));
  EXPECT_FALSE(IsValidName("ünïcode"));
}

TEST(Naming, Prefixing) {
  EXPECT_EQ(*PrefixedName("github", "list_issues"), "github__list_issues");
  EXPECT_EQ(*PrefixedName("my server/v2", "x"), "my-server-v2__x");
  EXPECT_THAT(PrefixedName("s", "bad name"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'bad name'")));
  EXPECT_THAT(PrefixedName(std::string(100, 's'), std::string(30, 't')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 128")));
}

TEST(Naming, Policies) {
  for (NamingPolicy p :
       {NamingPolicy::kPrefixOnConflict, NamingPolicy::kAlwaysPrefix, NamingPolicy::kNever}) {
    EXPECT_EQ(*ParseNamingPolicy(ToString(p)), p);
  }
  EXPECT_THAT(ParseNamingPolicy("sometimes"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prefix-on-conflict")));
}

}  // namespace
}  // namespace mcpgw::gateway
