#include "mcpgw/mcp/uri_template.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::StatusIs;
using ::testing::HasSubstr;

TEST(UriTemplate, MatchesSimpleAndReservedVariables) {
  MCPGW_ASSERT_OK_AND_ASSIGN(UriTemplate t, UriTemplate::Parse("test://items/{id}/notes"));
  std::map<std::string, std::string> vars;
  EXPECT_TRUE(t.Match("test://items/42/notes", &vars));
  EXPECT_EQ(vars.at("id"), "42");
  EXPECT_FALSE(t.Match("test://items/4/2/notes"));  // {id} never spans a '/'
  EXPECT_FALSE(t.Match("test://items//notes"));     // nor matches nothing
  EXPECT_FALSE(t.Match("test://items/42/notes/x"));

  MCPGW_ASSERT_OK_AND_ASSIGN(UriTemplate path, UriTemplate::Parse("file:///{+path}"));
  vars.clear();
  EXPECT_TRUE(path.Match("file:///etc/ssl/certs", &vars));
  EXPECT_EQ(vars.at("path"), "etc/ssl/certs");
  EXPECT_EQ(path.text(), "file:///{+path}");
}

TEST(UriTemplate, TriesTheLongestMatchFirstAndBacktracks) {
  MCPGW_ASSERT_OK_AND_ASSIGN(UriTemplate t, UriTemplate::Parse("x://{a}.{b}"));
  std::map<std::string, std::string> vars;
  EXPECT_TRUE(t.Match("x://one.two.three", &vars));
  EXPECT_EQ(vars.at("a"), "one.two");
  EXPECT_EQ(vars.at("b"), "three");
}

TEST(UriTemplate, AHostileTemplateCannotStallTheMatcher) {
  // Five adjacent reserved variables against 200 characters that never match: C(200, 5)
  // splits without a bound.
  MCPGW_ASSERT_OK_AND_ASSIGN(UriTemplate t, UriTemplate::Parse("x:{+a}{+b}{+c}{+d}{+e}!"));
  EXPECT_FALSE(t.Match("x:" + std::string(200, 'y')));
  EXPECT_TRUE(t.Match("x:abcde!"));
}

TEST(UriTemplate, RefusesWhatItDoesNotSupport) {
  EXPECT_THAT(UriTemplate::Parse("x://{"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     HasSubstr("unclosed or empty")));
  EXPECT_THAT(UriTemplate::Parse("x://{}"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(UriTemplate::Parse("x://{a,b}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only {name} and {+name}")));
}

}  // namespace
}  // namespace mcpgw::mcp
