#include "mcpgw/mcp/json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::StatusIs;
using ::testing::HasSubstr;

TEST(Json, ParseAndSerializeRoundTrip) {
  const char* text = R"({"a":[1,-2,3.5,"x",null,true,false],"b":{"c":"\u00e4\n"},"d":1e-7})";
  MCPGW_ASSERT_OK_AND_ASSIGN(Json j, Json::Parse(text));
  EXPECT_EQ(j.Serialize(), R"({"a":[1,-2,3.5,"x",null,true,false],"b":{"c":"ä\n"},"d":1e-7})");
}

TEST(Json, DoublesRoundTripExactly) {
  for (const char* n : {"0.1", "3.141592653589793", "1.7976931348623157e308", "5e-324",
                        "123456.789", "-0.30000000000000004"}) {
    MCPGW_ASSERT_OK_AND_ASSIGN(Json j, Json::Parse(n));
    MCPGW_ASSERT_OK_AND_ASSIGN(Json again, Json::Parse(j.Serialize()));
    EXPECT_EQ(j.value().GetDouble(), again.value().GetDouble()) << n;
  }
}

TEST(Json, ErrorsNameTheOffset) {
  EXPECT_THAT(Json::Parse(R"({"a":})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset 5")));
  EXPECT_THAT(Json::Parse("[[[[1]]]]", 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deeper than 3")));
}

TEST(Json, CopiesAreDeepAndEqual) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Json a, Json::Parse(R"({"x":{"y":[1,2]}})"));
  Json b = a;
  EXPECT_EQ(a, b);
  b.Set("x", "changed");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.Serialize(), R"({"x":{"y":[1,2]}})");
  Json moved = std::move(b);
  EXPECT_EQ(moved.Serialize(), R"({"x":"changed"})");
}

TEST(Json, CopiesOutliveTheParsedText) {
  Json string_copy, object_copy;
  {
    std::string text = R"({"a":"some text","b":["x","y\u00e9"],"c":{"d":"e"}})";
    MCPGW_ASSERT_OK_AND_ASSIGN(Json parsed, Json::Parse(text));
    string_copy = Json::Copy(parsed.value()["a"]);
    object_copy = Json::Copy(parsed.value());
    text.assign(text.size(), '#');  // the text is gone; so is the parsed document below
  }
  EXPECT_EQ(string_copy.Serialize(), R"("some text")");
  EXPECT_EQ(object_copy.Serialize(), R"({"a":"some text","b":["x","yé"],"c":{"d":"e"}})");
}

TEST(Json, NulBytesAreRejected) {
  EXPECT_THAT(Json::Parse(std::string("{\"a\":1}\0{", 9)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL byte")));
  EXPECT_THAT(Json::Parse(std::string("\"a\0b\"", 5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset 2")));
}

TEST(Json, NullByDefaultAndSetCreatesObject) {
  Json j;
  EXPECT_TRUE(j.is_null());
  EXPECT_EQ(j.Serialize(), "null");
  j.Set("k", "v");
  EXPECT_TRUE(j.is_object());
  j.Set("k", "w");  // replaces
  EXPECT_EQ(j.Serialize(), R"({"k":"w"})");
}

TEST(Json, FindMember) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Json j, Json::Parse(R"({"a":1,"b":"x"})"));
  ASSERT_NE(FindMember(j.value(), "b"), nullptr);
  EXPECT_EQ(AsStringView(*FindMember(j.value(), "b")), "x");
  EXPECT_EQ(FindMember(j.value(), "c"), nullptr);
  EXPECT_EQ(FindMember(JsonValue(5), "a"), nullptr);
}

}  // namespace
}  // namespace mcpgw::mcp
