#include "mcpgw/mcp/json_schema.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/json.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
constexpr auto kUnimplemented = absl::StatusCode::kUnimplemented;

// Compile parses and compiles a schema; a JSON syntax error in the test itself is Internal.
absl::StatusOr<JsonSchema> Compile(absl::string_view schema) {
  absl::StatusOr<Json> json = Json::Parse(schema);
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat("bad test schema: ", json.status().ToString()));
  }
  return JsonSchema::Compile(json->value());
}

absl::Status Validate(const JsonSchema& schema, absl::string_view instance) {
  absl::StatusOr<Json> json = Json::Parse(instance);
  if (!json.ok()) {
    return absl::InternalError(absl::StrCat("bad test instance: ", json.status().ToString()));
  }
  return schema.Validate(json->value());
}

// Check compiles `schema` and validates `instance` against it.
absl::Status Check(absl::string_view schema, absl::string_view instance) {
  absl::StatusOr<JsonSchema> compiled = Compile(schema);
  if (!compiled.ok()) {
    return absl::InternalError(
        absl::StrCat("schema did not compile: ", compiled.status().ToString()));
  }
  return Validate(*compiled, instance);
}

std::string Nested(int depth, absl::string_view open, absl::string_view leaf,
                   absl::string_view close) {
  std::string out;
  for (int i = 0; i < depth; ++i) {
    absl::StrAppend(&out, open);
  }
  absl::StrAppend(&out, leaf);
  for (int i = 0; i < depth; ++i) {
    absl::StrAppend(&out, close);
  }
  return out;
}

// ---- type, enum, const ------------------------------------------------------------------------

TEST(JsonSchemaType, SingleTypes) {
  EXPECT_THAT(Check(R"({"type":"string"})", R"("x")"), IsOk());
  EXPECT_THAT(Check(R"({"type":"string"})", "1"),
              StatusIs(kInvalid, "arguments: must be a string, got an integer"));
  EXPECT_THAT(Check(R"({"type":"boolean"})", "false"), IsOk());
  EXPECT_THAT(Check(R"({"type":"boolean"})", "null"),
              StatusIs(kInvalid, "arguments: must be a boolean, got null"));
  EXPECT_THAT(Check(R"({"type":"null"})", "null"), IsOk());
  EXPECT_THAT(Check(R"({"type":"object"})", "{}"), IsOk());
  EXPECT_THAT(Check(R"({"type":"object"})", "[]"),
              StatusIs(kInvalid, "arguments: must be an object, got an array"));
  EXPECT_THAT(Check(R"({"type":"array"})", "[]"), IsOk());
  EXPECT_THAT(Check(R"({"type":"array"})", R"({"a":1})"),
              StatusIs(kInvalid, "arguments: must be an array, got an object"));
}

TEST(JsonSchemaType, IntegerIsANumberWithZeroFraction) {
  EXPECT_THAT(Check(R"({"type":"integer"})", "3"), IsOk());
  EXPECT_THAT(Check(R"({"type":"integer"})", "-3"), IsOk());
  EXPECT_THAT(Check(R"({"type":"integer"})", "3.0"), IsOk());
  EXPECT_THAT(Check(R"({"type":"integer"})", "1e3"), IsOk());
  EXPECT_THAT(Check(R"({"type":"integer"})", "18446744073709551615"), IsOk());
  EXPECT_THAT(Check(R"({"type":"integer"})", "3.5"),
              StatusIs(kInvalid, "arguments: must be an integer, got a number"));
  EXPECT_THAT(Check(R"({"type":"integer"})", R"("3")"),
              StatusIs(kInvalid, "arguments: must be an integer, got a string"));
  EXPECT_THAT(Check(R"({"type":"number"})", "3"), IsOk());
  EXPECT_THAT(Check(R"({"type":"number"})", "3.5"), IsOk());
  EXPECT_THAT(Check(R"({"type":"number"})", "true"),
              StatusIs(kInvalid, "arguments: must be a number, got a boolean"));
}

TEST(JsonSchemaType, ArrayOfTypes) {
  const char* schema = R"({"type":["string","null"]})";
  EXPECT_THAT(Check(schema, R"("x")"), IsOk());
  EXPECT_THAT(Check(schema, "null"), IsOk());
  EXPECT_THAT(Check(schema, "1.5"),
              StatusIs(kInvalid, "arguments: must be a string or null, got a number"));
  EXPECT_THAT(Check(R"({"type":["integer","boolean","array"]})", "{}"),
              StatusIs(kInvalid, HasSubstr("must be an integer, a boolean or an array")));
}

TEST(JsonSchemaEnum, MatchesByJsonEquality) {
  const char* schema = R"({"enum":["red", 1, null, {"a":[1,2]}]})";
  EXPECT_THAT(Check(schema, R"("red")"), IsOk());
  EXPECT_THAT(Check(schema, "1.0"), IsOk());  // numbers compare by value
  EXPECT_THAT(Check(schema, "null"), IsOk());
  EXPECT_THAT(Check(schema, R"({"a":[1.0,2]})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"a":[2,1]})"), StatusIs(kInvalid));
  EXPECT_THAT(Check(schema, "true"), StatusIs(kInvalid));  // true is not 1
  EXPECT_THAT(
      Check(schema, R"("blue")"),
      StatusIs(kInvalid, R"(arguments: must be one of ["red",1,null,{"a":[1,2]}], got "blue")"));
}

TEST(JsonSchemaConst, MatchesOneValue) {
  EXPECT_THAT(Check(R"({"const":{"x":1,"y":[true]}})", R"({"y":[true],"x":1})"), IsOk());
  EXPECT_THAT(Check(R"({"const":{"x":1,"y":[true]}})", R"({"x":1,"y":[true],"z":0})"),
              StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"const":"phone"})", R"("email")"),
              StatusIs(kInvalid, R"(arguments: must be "phone", got "email")"));
  EXPECT_THAT(Check(R"({"const":null})", "0"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"const":0})", "-0.0"), IsOk());
}

// ---- objects ----------------------------------------------------------------------------------

TEST(JsonSchemaObject, PropertiesAndRequired) {
  const char* schema = R"({
    "type":"object",
    "properties":{"city":{"type":"string"},"count":{"type":"integer"}},
    "required":["city"]})";
  EXPECT_THAT(Check(schema, R"({"city":"Oslo"})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"city":"Oslo","count":2,"other":true})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"count":2})"),
              StatusIs(kInvalid, "arguments.city: required property is missing"));
  EXPECT_THAT(Check(schema, R"({"city":"Oslo","count":"2"})"),
              StatusIs(kInvalid, "arguments.count: must be an integer, got a string"));
  // Several problems are all listed.
  EXPECT_THAT(Check(schema, R"({"count":"2"})"),
              StatusIs(kInvalid,
                       "arguments.city: required property is missing; "
                       "arguments.count: must be an integer, got a string"));
  // Non-objects are not constrained by object keywords.
  EXPECT_THAT(Check(R"({"required":["a"]})", "7"), IsOk());
}

TEST(JsonSchemaObject, AdditionalPropertiesFalse) {
  const char* schema = R"({"properties":{"a":{}},"additionalProperties":false})";
  EXPECT_THAT(Check(schema, R"({"a":1})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"a":1,"x":2})"),
              StatusIs(kInvalid, "arguments: unexpected property 'x'"));
  EXPECT_THAT(Check(schema, R"({"x":1,"y":2})"), StatusIs(kInvalid,
                                                          "arguments: unexpected property 'x'; "
                                                          "arguments: unexpected property 'y'"));
  EXPECT_THAT(Check(schema, R"({"it's\n":1})"),
              StatusIs(kInvalid, R"(arguments: unexpected property 'it\'s\x0a')"));
}

TEST(JsonSchemaObject, AdditionalPropertiesSchema) {
  const char* schema =
      R"({"properties":{"id":{"type":"string"}},"additionalProperties":{"type":"number"}})";
  EXPECT_THAT(Check(schema, R"({"id":"a","x":1,"y":2.5})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"id":"a","x":"no"})"),
              StatusIs(kInvalid, "arguments.x: must be a number, got a string"));
}

TEST(JsonSchemaObject, PatternProperties) {
  const char* schema = R"({
    "patternProperties":{"^x-":{"type":"string"},"num$":{"type":"integer"}},
    "additionalProperties":false})";
  EXPECT_THAT(Check(schema, R"({"x-a":"s","countnum":3,"x-num":5})"),
              StatusIs(kInvalid, "arguments.x-num: must be a string, got an integer"));
  EXPECT_THAT(Check(schema, R"({"x-a":"s","countnum":3})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"y":1})"),
              StatusIs(kInvalid, "arguments: unexpected property 'y'"));
}

TEST(JsonSchemaObject, PropertyNames) {
  const char* schema = R"({"propertyNames":{"pattern":"^[a-z_]+$","maxLength":8}})";
  EXPECT_THAT(Check(schema, R"({"ok_name":1,"b":2})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"Bad Name":1})"),
              StatusIs(kInvalid,
                       "arguments: property name 'Bad Name' is invalid: "
                       "must match pattern '^[a-z_]+$'"));
  EXPECT_THAT(Check(schema, R"({"much_too_long":1})"),
              StatusIs(kInvalid, HasSubstr("must be at most 8 characters long, got 13")));
  EXPECT_THAT(Check(R"({"propertyNames":false})", "{}"), IsOk());
  EXPECT_THAT(Check(R"({"propertyNames":false})", R"({"a":1})"), StatusIs(kInvalid));
}

TEST(JsonSchemaObject, MinAndMaxProperties) {
  const char* schema = R"({"minProperties":1,"maxProperties":2})";
  EXPECT_THAT(Check(schema, R"({"a":1})"), IsOk());
  EXPECT_THAT(Check(schema, "{}"),
              StatusIs(kInvalid, "arguments: must have at least 1 properties, got 0"));
  EXPECT_THAT(Check(schema, R"({"a":1,"b":2,"c":3})"),
              StatusIs(kInvalid, "arguments: must have at most 2 properties, got 3"));
}

TEST(JsonSchemaObject, PathsQuoteUnusualKeysAndIndexArrays) {
  const char* schema =
      R"({"properties":{"a b":{"properties":{"list":{"items":{"type":"string"}}}}}})";
  EXPECT_THAT(Check(schema, R"({"a b":{"list":["x","y",3]}})"),
              StatusIs(kInvalid, R"(arguments["a b"].list[2]: must be a string, got an integer)"));
  absl::StatusOr<JsonSchema> s = Compile(R"({"required":["q"]})");
  ASSERT_THAT(s, IsOk());
  MCPGW_ASSERT_OK_AND_ASSIGN(Json empty, Json::Parse("{}"));
  EXPECT_THAT(s->Validate(empty.value(), "params.arguments"),
              StatusIs(kInvalid, "params.arguments.q: required property is missing"));
}

// ---- arrays -----------------------------------------------------------------------------------

TEST(JsonSchemaArray, Items) {
  const char* schema = R"({"type":"array","items":{"type":"integer","minimum":0}})";
  EXPECT_THAT(Check(schema, "[]"), IsOk());
  EXPECT_THAT(Check(schema, "[0,1,2]"), IsOk());
  EXPECT_THAT(Check(schema, "[0,-1,2]"), StatusIs(kInvalid, "arguments[1]: must be >= 0, got -1"));
  EXPECT_THAT(Check(R"({"items":false})", "[]"), IsOk());
  EXPECT_THAT(Check(R"({"items":false})", "[1]"), StatusIs(kInvalid, HasSubstr("arguments[0]")));
}

TEST(JsonSchemaArray, PrefixItems) {
  const char* schema = R"({"prefixItems":[{"type":"string"},{"type":"integer"}]})";
  EXPECT_THAT(Check(schema, R"(["a",1,{},null])"), IsOk());  // the rest is unconstrained
  EXPECT_THAT(Check(schema, R"(["a"])"), IsOk());
  EXPECT_THAT(Check(schema, R"([1,1])"),
              StatusIs(kInvalid, HasSubstr("arguments[0]: must be a string")));
  const char* closed = R"({"prefixItems":[{"type":"string"}],"items":false})";
  EXPECT_THAT(Check(closed, R"(["a"])"), IsOk());
  EXPECT_THAT(Check(closed, R"(["a","b"])"), StatusIs(kInvalid, HasSubstr("arguments[1]")));
}

TEST(JsonSchemaArray, Draft07TupleItemsWithAdditionalItems) {
  const char* schema = R"({
    "$schema":"http://json-schema.org/draft-07/schema#",
    "items":[{"type":"string"},{"type":"integer"}],
    "additionalItems":{"type":"boolean"}})";
  EXPECT_THAT(Check(schema, R"(["a",1,true,false])"), IsOk());
  EXPECT_THAT(Check(schema, R"(["a",1,"x"])"),
              StatusIs(kInvalid, "arguments[2]: must be a boolean, got a string"));
  EXPECT_THAT(Check(schema, R"([1])"), StatusIs(kInvalid, HasSubstr("arguments[0]")));
}

TEST(JsonSchemaArray, MinAndMaxItems) {
  const char* schema = R"({"minItems":1,"maxItems":2})";
  EXPECT_THAT(Check(schema, "[1]"), IsOk());
  EXPECT_THAT(Check(schema, "[]"),
              StatusIs(kInvalid, "arguments: must have at least 1 items, got 0"));
  EXPECT_THAT(Check(schema, "[1,2,3]"),
              StatusIs(kInvalid, "arguments: must have at most 2 items, got 3"));
}

TEST(JsonSchemaArray, UniqueItems) {
  const char* schema = R"({"uniqueItems":true})";
  EXPECT_THAT(Check(schema, R"([1,"1",true,null,[1],{"a":1}])"), IsOk());
  EXPECT_THAT(Check(schema, "[1,2,1.0]"),
              StatusIs(kInvalid,
                       "arguments: must not contain duplicate items ([0] and [2] "
                       "are equal)"));
  EXPECT_THAT(Check(schema, R"([{"a":1,"b":[2]},{"b":[2.0],"a":1}])"), StatusIs(kInvalid));
  EXPECT_THAT(Check(schema, R"([{"a":1},{"a":2}])"), IsOk());
  EXPECT_THAT(Check(R"({"uniqueItems":false})", "[1,1]"), IsOk());

  // A large array goes through hashing, not n² comparisons.
  std::string many = "[";
  for (int i = 0; i < 20000; ++i) {
    absl::StrAppend(&many, i, ",");
  }
  EXPECT_THAT(Check(schema, many + "-1]"), IsOk());
  EXPECT_THAT(Check(schema, many + "12345]"),
              StatusIs(kInvalid, HasSubstr("([12345] and [20000] are equal)")));
}

// ---- strings ----------------------------------------------------------------------------------

TEST(JsonSchemaString, LengthCountsCodePointsNotBytes) {
  const char* schema = R"({"minLength":2,"maxLength":3})";
  EXPECT_THAT(Check(schema, R"("ab")"), IsOk());
  EXPECT_THAT(Check(schema, R"("äöü")"), IsOk());                 // 6 bytes, 3 code points
  EXPECT_THAT(Check(schema, R"("日本語")"), IsOk());              // 9 bytes
  EXPECT_THAT(Check(schema, R"("😀😀")"), IsOk());                  // 8 bytes, 2 code points
  EXPECT_THAT(Check(schema, R"("\ud83d\ude00\u00e4")"), IsOk());  // surrogate pair is one
  EXPECT_THAT(Check(schema, R"("ä")"),
              StatusIs(kInvalid, "arguments: must be at least 2 characters long, got 1"));
  EXPECT_THAT(Check(schema, R"("äöüß")"),
              StatusIs(kInvalid, "arguments: must be at most 3 characters long, got 4"));
}

TEST(JsonSchemaString, PatternIsAnUnanchoredEcmaScriptSearch) {
  EXPECT_THAT(Check(R"({"pattern":"b+"})", R"("aabbcc")"), IsOk());
  EXPECT_THAT(Check(R"({"pattern":"^b+"})", R"("aabbcc")"),
              StatusIs(kInvalid, "arguments: must match pattern '^b+'"));
  const char* zip = R"({"pattern":"^\\d{5}(-\\d{4})?$"})";
  EXPECT_THAT(Check(zip, R"("12345")"), IsOk());
  EXPECT_THAT(Check(zip, R"("12345-6789")"), IsOk());
  EXPECT_THAT(Check(zip, R"("1234")"), StatusIs(kInvalid));
  EXPECT_THAT(Check(zip, R"("x12345")"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"pattern":"^(?=.*\\d)[a-z\\d]+$"})", R"("abc1")"), IsOk());
  EXPECT_THAT(Check(R"({"pattern":"^(?=.*\\d)[a-z\\d]+$"})", R"("abc")"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"pattern":"a|^b"})", R"("xb")"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"pattern":"a|^b"})", R"("xa")"), IsOk());
  // Patterns see characters, not bytes.
  EXPECT_THAT(Check(R"({"pattern":"^.{3}$"})", R"("äöü")"), IsOk());
  EXPECT_THAT(Check(R"({"pattern":"^[äöü]+$"})", R"("üöä")"), IsOk());
  EXPECT_THAT(Check(R"({"pattern":"^\\u00e4$"})", R"("ä")"), IsOk());
  // Only strings are constrained.
  EXPECT_THAT(Check(R"({"pattern":"^a$","minLength":5})", "12"), IsOk());
}

TEST(JsonSchemaString, LongStringsAgainstHostilePatternsNeitherCrashNorHang) {
  // std::regex's default backtracking matcher overflows an 8 MiB stack from 20000 characters.
  MCPGW_ASSERT_OK_AND_ASSIGN(JsonSchema schema, Compile(R"({"pattern":"^(a|b)*c$"})"));
  const std::string long_a = absl::StrCat("\"", std::string(50000, 'a'), "\"");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Validate(schema, long_a), StatusIs(kInvalid, HasSubstr("must match pattern")));
  EXPECT_THAT(Validate(schema, absl::StrCat("\"", std::string(50000, 'a'), "c\"")), IsOk());
  // Exponential for backtracking; linear here.
  MCPGW_ASSERT_OK_AND_ASSIGN(JsonSchema evil, Compile(R"({"pattern":"^(a|a)*$"})"));
  EXPECT_THAT(Validate(evil, absl::StrCat("\"", std::string(5000, 'a'), "!\"")),
              StatusIs(kInvalid));
  // Unanchored search is one pass, not a restart at every position.
  MCPGW_ASSERT_OK_AND_ASSIGN(JsonSchema search, Compile(R"({"pattern":"[a-z]+c"})"));
  EXPECT_THAT(Validate(search, long_a), StatusIs(kInvalid));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

// ---- numbers ----------------------------------------------------------------------------------

TEST(JsonSchemaNumber, Bounds) {
  const char* schema = R"({"minimum":1,"maximum":10})";
  EXPECT_THAT(Check(schema, "1"), IsOk());
  EXPECT_THAT(Check(schema, "10.0"), IsOk());
  EXPECT_THAT(Check(schema, "0.5"), StatusIs(kInvalid, "arguments: must be >= 1, got 0.5"));
  EXPECT_THAT(Check(schema, "11"), StatusIs(kInvalid, "arguments: must be <= 10, got 11"));
  const char* exclusive = R"({"exclusiveMinimum":0,"exclusiveMaximum":1.5})";
  EXPECT_THAT(Check(exclusive, "0.1"), IsOk());
  EXPECT_THAT(Check(exclusive, "0"), StatusIs(kInvalid, "arguments: must be > 0, got 0"));
  EXPECT_THAT(Check(exclusive, "1.5"), StatusIs(kInvalid, "arguments: must be < 1.5, got 1.5"));
  EXPECT_THAT(Check(schema, R"("100")"), IsOk());  // only numbers are constrained
}

TEST(JsonSchemaNumber, LargeIntegersCompareExactly) {
  // 2^53 + 1 and 2^53 are the same double.
  EXPECT_THAT(Check(R"({"maximum":9007199254740992})", "9007199254740993"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"maximum":9007199254740993})", "9007199254740993"), IsOk());
  EXPECT_THAT(Check(R"({"minimum":-1})", "18446744073709551615"), IsOk());
  EXPECT_THAT(Check(R"({"maximum":18446744073709551615})", "-9223372036854775808"), IsOk());
  EXPECT_THAT(Check(R"({"const":9007199254740993})", "9007199254740992"), StatusIs(kInvalid));
}

TEST(JsonSchemaNumber, MultipleOf) {
  EXPECT_THAT(Check(R"({"multipleOf":3})", "9"), IsOk());
  EXPECT_THAT(Check(R"({"multipleOf":3})", "-9"), IsOk());
  EXPECT_THAT(Check(R"({"multipleOf":3})", "10"),
              StatusIs(kInvalid, "arguments: must be a multiple of 3, got 10"));
  EXPECT_THAT(Check(R"({"multipleOf":1.5})", "4.5"), IsOk());
  EXPECT_THAT(Check(R"({"multipleOf":1.5})", "35"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"multipleOf":0.1})", "0.3"), IsOk());  // despite binary rounding
  EXPECT_THAT(Check(R"({"multipleOf":0.0001})", "0.0075"), IsOk());
  EXPECT_THAT(Check(R"({"multipleOf":0.0001})", "0.00751"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"multipleOf":1})", "1.0000000001"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"multipleOf":0.123456789})", "1e308"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"multipleOf":7})", "9007199254740993"), StatusIs(kInvalid));
  EXPECT_THAT(Check(R"({"multipleOf":3})", "9007199254740993"), IsOk());
}

// ---- combinators ------------------------------------------------------------------------------

TEST(JsonSchemaCombinator, AllOf) {
  const char* schema = R"({"allOf":[{"type":"string"},{"minLength":2},{"maxLength":3}]})";
  EXPECT_THAT(Check(schema, R"("ab")"), IsOk());
  EXPECT_THAT(Check(schema, R"("a")"),
              StatusIs(kInvalid, "arguments: must be at least 2 characters long, got 1"));
  EXPECT_THAT(Check(schema, "5"),
              StatusIs(kInvalid, "arguments: must be a string, got an integer"));
}

TEST(JsonSchemaCombinator, AnyOfExplainsEachBranch) {
  const char* schema = R"({"anyOf":[{"type":"string","maxLength":2},{"type":"integer"}]})";
  EXPECT_THAT(Check(schema, R"("ab")"), IsOk());
  EXPECT_THAT(Check(schema, "7"), IsOk());
  EXPECT_THAT(Check(schema, R"("abc")"),
              StatusIs(kInvalid,
                       "arguments: must match at least one schema in anyOf "
                       "([0] arguments: must be at most 2 characters long, got 3; "
                       "[1] arguments: must be an integer, got a string)"));
}

TEST(JsonSchemaCombinator, OneOf) {
  const char* schema = R"({"oneOf":[{"type":"integer"},{"minimum":10}]})";
  EXPECT_THAT(Check(schema, "5"), IsOk());     // integer only
  EXPECT_THAT(Check(schema, "10.5"), IsOk());  // minimum only
  EXPECT_THAT(Check(schema, "12"),
              StatusIs(kInvalid,
                       "arguments: must match exactly one schema in oneOf, but "
                       "matches [0] and [1]"));
  EXPECT_THAT(Check(schema, "1.5"),
              StatusIs(kInvalid, HasSubstr("must match exactly one schema in oneOf, but "
                                           "matches none ([0] arguments: must be an integer")));
}

TEST(JsonSchemaCombinator, Not) {
  const char* schema = R"({"not":{"type":"null"}})";
  EXPECT_THAT(Check(schema, "0"), IsOk());
  EXPECT_THAT(Check(schema, "null"),
              StatusIs(kInvalid, "arguments: must not match the schema in 'not'"));
}

TEST(JsonSchemaCombinator, IfThenElse) {
  const char* schema = R"({
    "if":{"properties":{"kind":{"const":"file"}},"required":["kind"]},
    "then":{"required":["path"]},
    "else":{"required":["url"]}})";
  EXPECT_THAT(Check(schema, R"({"kind":"file","path":"/a"})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"kind":"file"})"),
              StatusIs(kInvalid, "arguments.path: required property is missing"));
  EXPECT_THAT(Check(schema, R"({"kind":"web","url":"u"})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"kind":"web","path":"/a"})"),
              StatusIs(kInvalid, "arguments.url: required property is missing"));
  // then/else without if do nothing; if without then/else does nothing.
  EXPECT_THAT(Check(R"({"then":false,"else":false})", "1"), IsOk());
  EXPECT_THAT(Check(R"({"if":false})", "1"), IsOk());
}

TEST(JsonSchemaBoolean, TrueAndFalseSchemas) {
  EXPECT_THAT(Check("true", R"({"anything":[1,2]})"), IsOk());
  EXPECT_THAT(Check("false", "null"),
              StatusIs(kInvalid, "arguments: no value is allowed here (the schema is false)"));
  EXPECT_THAT(Check(R"({"properties":{"legacy":false}})", R"({"legacy":1})"),
              StatusIs(kInvalid, HasSubstr("arguments.legacy: no value is allowed here")));
  EXPECT_THAT(Check(R"({"properties":{"legacy":false}})", R"({"other":1})"), IsOk());
}

TEST(JsonSchemaAnnotation, AnnotationsAndUnknownKeywordsAreIgnored) {
  const char* schema = R"({
    "title":"t","description":"d","default":{"x":1},"examples":[1],"$comment":"c",
    "format":"email","deprecated":true,"x-vendor":{"type":"nonsense"},
    "properties":{"when":{"type":"string","format":"date-time"}}})";
  EXPECT_THAT(Check(schema, R"({"when":"not a date"})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"when":5})"), StatusIs(kInvalid));
}

TEST(JsonSchemaErrors, ListsAtMostFiveProblems) {
  const char* schema = R"({"additionalProperties":{"type":"string"}})";
  EXPECT_THAT(Check(schema, R"({"a":1,"b":2,"c":3,"d":4,"e":5})"),
              StatusIs(kInvalid, AllOf(HasSubstr("arguments.a:"), HasSubstr("arguments.e:"),
                                       Not(HasSubstr("more")))));
  EXPECT_THAT(
      Check(schema, R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7})"),
      StatusIs(kInvalid, AllOf(HasSubstr("arguments.e: must be a string"),
                               Not(HasSubstr("arguments.f")), HasSubstr("; and more problems"))));
}

// ---- $ref -------------------------------------------------------------------------------------

TEST(JsonSchemaRef, LocalPointers) {
  const char* schema = R"({
    "$defs":{"positive":{"type":"integer","minimum":1},
             "a/b~c":{"type":"string"},
             "with space":{"type":"boolean"}},
    "definitions":{"legacy":{"type":"null"}},
    "properties":{
      "n":{"$ref":"#/$defs/positive"},
      "s":{"$ref":"#/$defs/a~1b~0c"},
      "b":{"$ref":"#/$defs/with%20space"},
      "l":{"$ref":"#/definitions/legacy"},
      "p":{"$ref":"#/properties/n"},
      "t":{"$ref":"#/allOf/0"}},
    "allOf":[{"type":"object"}]})";
  EXPECT_THAT(Check(schema, R"({"n":1,"s":"x","b":true,"l":null,"p":2,"t":{}})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"n":0})"), StatusIs(kInvalid, "arguments.n: must be >= 1, got 0"));
  EXPECT_THAT(Check(schema, R"({"s":1})"),
              StatusIs(kInvalid, HasSubstr("arguments.s: must be a string")));
  EXPECT_THAT(Check(schema, R"({"b":1})"), StatusIs(kInvalid, HasSubstr("arguments.b:")));
  EXPECT_THAT(Check(schema, R"({"l":1})"), StatusIs(kInvalid, HasSubstr("arguments.l:")));
  EXPECT_THAT(Check(schema, R"({"p":"x"})"), StatusIs(kInvalid, HasSubstr("arguments.p:")));
  EXPECT_THAT(Check(schema, R"({"t":1})"), StatusIs(kInvalid, HasSubstr("arguments.t:")));
}

TEST(JsonSchemaRef, SiblingsApplyIn2020ButNotInDraft07) {
  const char* defs = R"("definitions":{"s":{"type":"string"}})";
  EXPECT_THAT(
      Check(absl::StrCat(R"({"$ref":"#/definitions/s","maxLength":2,)", defs, "}"), R"("abc")"),
      StatusIs(kInvalid, HasSubstr("at most 2 characters")));
  EXPECT_THAT(Check(absl::StrCat(R"({"$schema":"http://json-schema.org/draft-07/schema#",)"
                                 R"("$ref":"#/definitions/s","maxLength":2,)",
                                 defs, "}"),
                    R"("abc")"),
              IsOk());
}

TEST(JsonSchemaRef, Draft07RootRefWithAnchorsInDefinitions) {
  // zod-to-json-schema's shape: a root $ref next to the definitions it points into.
  const char* schema = R"({
    "$schema":"http://json-schema.org/draft-07/schema#",
    "$ref":"#/definitions/Args",
    "definitions":{
      "Args":{"type":"object","properties":{"when":{"$ref":"#when"}},"required":["when"],
              "additionalProperties":false},
      "When":{"$id":"#when","type":"string","minLength":1}}})";
  EXPECT_THAT(Check(schema, R"({"when":"now"})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"when":""})"),
              StatusIs(kInvalid, "arguments.when: must be at least 1 characters long, got 0"));
  EXPECT_THAT(Check(schema, R"({"when":"now","x":1})"),
              StatusIs(kInvalid, "arguments: unexpected property 'x'"));
}

TEST(JsonSchemaRef, AnchorsAndTheRootId) {
  const char* schema = R"({
    "$id":"https://example.com/schemas/tool",
    "$defs":{"name":{"$anchor":"nameDef","type":"string"},
             "old":{"$id":"#oldStyle","type":"integer"}},
    "properties":{"a":{"$ref":"#nameDef"},"b":{"$ref":"#oldStyle"},
                  "c":{"$ref":"https://example.com/schemas/tool#/$defs/name"}}})";
  EXPECT_THAT(Check(schema, R"({"a":"x","b":1,"c":"y"})"), IsOk());
  EXPECT_THAT(Check(schema, R"({"a":1})"),
              StatusIs(kInvalid, HasSubstr("arguments.a: must be a string")));
  EXPECT_THAT(Check(schema, R"({"b":"x"})"), StatusIs(kInvalid, HasSubstr("arguments.b:")));
  EXPECT_THAT(Check(schema, R"({"c":2})"), StatusIs(kInvalid, HasSubstr("arguments.c:")));
}

TEST(JsonSchemaRef, RecursiveTree) {
  const char* schema = R"({
    "$defs":{"node":{
      "type":"object",
      "properties":{"value":{"type":"integer"},
                    "children":{"type":"array","items":{"$ref":"#/$defs/node"}}},
      "required":["value"],
      "additionalProperties":false}},
    "$ref":"#/$defs/node"})";
  EXPECT_THAT(Check(schema, R"({"value":1,"children":[{"value":2},{"value":3,"children":[]}]})"),
              IsOk());
  EXPECT_THAT(Check(schema, R"({"value":1,"children":[{"value":2,"children":[{"value":"x"}]}]})"),
              StatusIs(kInvalid,
                       "arguments.children[0].children[0].value: must be an integer, "
                       "got a string"));
  EXPECT_THAT(Check(schema, R"({"value":1,"children":[{}]})"),
              StatusIs(kInvalid, "arguments.children[0].value: required property is missing"));
  // 60 levels of tree (120 of JSON) is fine.
  const std::string deep = Nested(60, R"({"value":1,"children":[)", R"({"value":2})", "]}");
  EXPECT_THAT(Check(schema, deep), IsOk());
  // Same via "#": the root refers to itself.
  EXPECT_THAT(Check(R"({"type":"array","items":{"$ref":"#"}})", "[[],[[[]]]]"), IsOk());
  EXPECT_THAT(Check(R"({"type":"array","items":{"$ref":"#"}})", "[[],[[1]]]"),
              StatusIs(kInvalid, "arguments[1][0][0]: must be an array, got an integer"));
}

TEST(JsonSchemaRef, CyclesThatNeverDescendAreRefused) {
  EXPECT_THAT(Compile(R"({"$ref":"#"})"), StatusIs(kInvalid, HasSubstr("$ref cycle")));
  EXPECT_THAT(Compile(R"({"anyOf":[{"type":"string"},{"$ref":"#"}]})"),
              StatusIs(kInvalid, HasSubstr("$ref cycle")));
  EXPECT_THAT(Compile(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"not":{"$ref":"#/$defs/a"}}},
                          "properties":{"x":{"$ref":"#/$defs/a"}}})"),
              StatusIs(kInvalid, HasSubstr("$ref cycle")));
}

TEST(JsonSchemaRef, RemoteReferencesAreNotFetched) {
  EXPECT_THAT(Compile(R"({"$ref":"https://example.com/schema.json"})"),
              StatusIs(kUnimplemented, AllOf(HasSubstr("#/$ref"), HasSubstr("never fetched"))));
  EXPECT_THAT(Compile(R"({"properties":{"a":{"$ref":"other.json#/x"}}})"),
              StatusIs(kUnimplemented, HasSubstr("#/properties/a/$ref")));
  EXPECT_THAT(Compile(R"({"$dynamicRef":"#meta"})"), StatusIs(kUnimplemented));
  EXPECT_THAT(Compile(R"({"$defs":{"r":{"$id":"https://other.example/r","$ref":"#/x","x":{}}}})"),
              StatusIs(kUnimplemented, HasSubstr("embedded")));
}

TEST(JsonSchemaRef, MissingTargetsAreMalformed) {
  EXPECT_THAT(Compile(R"({"$ref":"#/$defs/nope"})"),
              StatusIs(kInvalid, AllOf(HasSubstr("#/$ref"), HasSubstr("points to nothing"))));
  EXPECT_THAT(Compile(R"({"$ref":"#nope"})"), StatusIs(kInvalid, HasSubstr("no $anchor")));
  EXPECT_THAT(Compile(R"({"$ref":"#/allOf/01","allOf":[{},{}]})"), StatusIs(kInvalid));
  EXPECT_THAT(Compile(R"({"$ref":"#/a~2"})"), StatusIs(kInvalid, HasSubstr("~ escape")));
  EXPECT_THAT(Compile(R"({"$ref":"#/required","required":["a"]})"),
              StatusIs(kInvalid, HasSubstr("#/required: a schema must be an object")));
}

// ---- the conformance fixture ------------------------------------------------------------------

// The inputSchema of `json_schema_2020_12_tool` from @modelcontextprotocol/conformance.
constexpr char kConformanceSchema[] = R"({
  "$schema":"https://json-schema.org/draft/2020-12/schema",
  "type":"object",
  "$defs":{"address":{"$anchor":"addressDef","type":"object",
                      "properties":{"street":{"type":"string"},"city":{"type":"string"}}}},
  "properties":{"name":{"type":"string"},
                "address":{"$ref":"#/$defs/address"},
                "contactMethod":{"type":"string","enum":["phone","email"]},
                "phone":{"type":"string"},
                "email":{"type":"string"}},
  "allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],
  "if":{"properties":{"contactMethod":{"const":"phone"}},"required":["contactMethod"]},
  "then":{"required":["phone"]},
  "else":{"required":["email"]},
  "additionalProperties":false})";

TEST(JsonSchemaConformance, JsonSchema2020_12Tool) {
  MCPGW_ASSERT_OK_AND_ASSIGN(JsonSchema schema, Compile(kConformanceSchema));
  EXPECT_THAT(Validate(schema, R"({"name":"A","email":"a@example.com"})"), IsOk());
  EXPECT_THAT(Validate(schema, R"({"contactMethod":"phone","phone":"123",
                                   "address":{"street":"Main","city":"Oslo"}})"),
              IsOk());
  EXPECT_THAT(Validate(schema, R"({"name":"A"})"),
              StatusIs(kInvalid,
                       "arguments: must match at least one schema in anyOf "
                       "([0] arguments.phone: required property is missing; "
                       "[1] arguments.email: required property is missing); "
                       "arguments.email: required property is missing"));
  EXPECT_THAT(Validate(schema, R"({"contactMethod":"phone","email":"a@example.com"})"),
              StatusIs(kInvalid, "arguments.phone: required property is missing"));
  EXPECT_THAT(Validate(schema, R"({"contactMethod":"fax","email":"e"})"),
              StatusIs(kInvalid,
                       R"(arguments.contactMethod: must be one of ["phone","email"], got "fax")"));
  EXPECT_THAT(Validate(schema, R"({"email":"e","address":{"city":7}})"),
              StatusIs(kInvalid, "arguments.address.city: must be a string, got an integer"));
  EXPECT_THAT(Validate(schema, R"({"email":"e","x":1})"),
              StatusIs(kInvalid, "arguments: unexpected property 'x'"));
  EXPECT_THAT(Validate(schema, R"(["email"])"),
              StatusIs(kInvalid, HasSubstr("arguments: must be an object, got an array")));
}

// ---- dialects and malformed schemas -----------------------------------------------------------

TEST(JsonSchemaDialect, SupportedAndUnsupported) {
  for (const char* uri :
       {"https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2019-09/schema", "http://json-schema.org/draft-07/schema#",
        "http://json-schema.org/draft-07/schema"}) {
    EXPECT_THAT(Compile(absl::StrCat(R"({"$schema":")", uri, R"(","type":"object"})")), IsOk())
        << uri;
  }
  EXPECT_THAT(Compile(R"({"$schema":"http://json-schema.org/draft-04/schema#"})"),
              StatusIs(kUnimplemented, HasSubstr("draft-04")));
  EXPECT_THAT(Compile(R"({"$schema":"https://example.com/my-dialect"})"),
              StatusIs(kUnimplemented, HasSubstr("unsupported JSON Schema dialect")));
  EXPECT_THAT(Compile(R"({"$schema":7})"), StatusIs(kInvalid, HasSubstr("#/$schema")));
}

TEST(JsonSchemaMalformed, NamesTheSchemaPath) {
  EXPECT_THAT(Compile(R"({"type":5})"),
              StatusIs(kInvalid, HasSubstr("invalid JSON Schema at #/type: must be a type name")));
  EXPECT_THAT(Compile(R"({"type":"str"})"), StatusIs(kInvalid, HasSubstr("unknown type 'str'")));
  EXPECT_THAT(Compile(R"({"type":[]})"), StatusIs(kInvalid, HasSubstr("#/type")));
  EXPECT_THAT(Compile(R"({"type":["string",1]})"), StatusIs(kInvalid, HasSubstr("#/type/1")));
  EXPECT_THAT(Compile(R"({"required":"x"})"), StatusIs(kInvalid, HasSubstr("#/required")));
  EXPECT_THAT(Compile(R"({"required":["a",2]})"), StatusIs(kInvalid, HasSubstr("#/required/1")));
  EXPECT_THAT(Compile(R"({"properties":{"a":{"properties":{"b/c":{"minLength":-1}}}}})"),
              StatusIs(kInvalid, HasSubstr("#/properties/a/properties/b~1c/minLength: must be "
                                           "a non-negative integer")));
  EXPECT_THAT(Compile(R"({"maxItems":1.5})"), StatusIs(kInvalid, HasSubstr("#/maxItems")));
  EXPECT_THAT(Compile(R"({"minItems":2.0})"), IsOk());
  EXPECT_THAT(Compile(R"({"multipleOf":0})"), StatusIs(kInvalid, HasSubstr("#/multipleOf")));
  EXPECT_THAT(Compile(R"({"minimum":"1"})"), StatusIs(kInvalid, HasSubstr("#/minimum")));
  EXPECT_THAT(Compile(R"({"exclusiveMinimum":true})"),
              StatusIs(kInvalid, HasSubstr("#/exclusiveMinimum")));
  EXPECT_THAT(Compile(R"({"enum":"a"})"), StatusIs(kInvalid, HasSubstr("#/enum")));
  EXPECT_THAT(Compile(R"({"anyOf":[]})"), StatusIs(kInvalid, HasSubstr("#/anyOf")));
  EXPECT_THAT(Compile(R"({"allOf":[{},3]})"), StatusIs(kInvalid, HasSubstr("#/allOf/1")));
  EXPECT_THAT(Compile(R"({"items":"string"})"), StatusIs(kInvalid, HasSubstr("#/items")));
  EXPECT_THAT(Compile(R"({"prefixItems":[{}],"items":[{}]})"),
              StatusIs(kInvalid, HasSubstr("#/items")));
  EXPECT_THAT(Compile(R"({"uniqueItems":"yes"})"), StatusIs(kInvalid, HasSubstr("#/uniqueItems")));
  EXPECT_THAT(Compile(R"({"additionalProperties":null})"),
              StatusIs(kInvalid, HasSubstr("#/additionalProperties")));
  EXPECT_THAT(Compile(R"({"$defs":{"x":{"type":"nope"}}})"),
              StatusIs(kInvalid, HasSubstr("#/$defs/x/type")));  // checked even if unused
  EXPECT_THAT(Compile("7"), StatusIs(kInvalid, HasSubstr("must be an object or a boolean")));
  EXPECT_THAT(Compile(R"({"$defs":{"a":{"$anchor":"x"},"b":{"$anchor":"x"}}})"),
              StatusIs(kInvalid, HasSubstr("duplicate anchor")));
}

TEST(JsonSchemaMalformed, PatternsStdRegexCannotCompile) {
  EXPECT_THAT(Compile(R"({"properties":{"a":{"pattern":"[a-"}}})"),
              StatusIs(kInvalid, AllOf(HasSubstr("#/properties/a/pattern"),
                                       HasSubstr("invalid regular expression '[a-'"))));
  EXPECT_THAT(Compile(R"({"pattern":"(a"})"), StatusIs(kInvalid));
  EXPECT_THAT(Compile(R"({"pattern":"a)|(b"})"), StatusIs(kInvalid));  // cannot escape the wrap
  EXPECT_THAT(Compile(R"({"pattern":"(a)\\1"})"), StatusIs(kInvalid, HasSubstr("back-reference")));
  EXPECT_THAT(Compile(R"({"patternProperties":{"(":{}}})"),
              StatusIs(kInvalid, HasSubstr("#/patternProperties/(")));
  EXPECT_THAT(Compile(R"({"pattern":5})"), StatusIs(kInvalid, HasSubstr("#/pattern")));
}

TEST(JsonSchemaMalformed, PatternsTooBigForStdRegexAreRefused) {
  // libstdc++ compiles and matches these recursively: seconds of work and a stack overflow.
  EXPECT_THAT(Compile(R"({"pattern":"(?:a?){9000}"})"),
              StatusIs(kInvalid, HasSubstr("too complex")));
  EXPECT_THAT(Compile(R"json({"pattern":"(?:(?:a{100}){100})"})json"),
              StatusIs(kInvalid, HasSubstr("too complex")));
  EXPECT_THAT(Compile(absl::StrCat(R"({"pattern":")", Nested(100, "(", "a", ")"), R"("})")),
              StatusIs(kInvalid, HasSubstr("too complex")));
  // Ordinary patterns are nowhere near.
  EXPECT_THAT(
      Compile(R"({"pattern":"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"})"),
      IsOk());
  EXPECT_THAT(Compile(R"({"pattern":"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$"})"),
              IsOk());
}

// ---- limits -----------------------------------------------------------------------------------

TEST(JsonSchemaLimits, DeepValuesAreAnErrorNotACrash) {
  MCPGW_ASSERT_OK_AND_ASSIGN(JsonSchema schema, Compile("{}"));
  EXPECT_THAT(Validate(schema, Nested(kMaxJsonSchemaDepth, "[", "1", "]")), IsOk());
  EXPECT_THAT(Validate(schema, Nested(kMaxJsonSchemaDepth + 1, "[", "1", "]")),
              StatusIs(kInvalid, "arguments: value nests deeper than 128 levels"));
  EXPECT_THAT(Validate(schema, Nested(200, R"({"a":)", "1", "}")), StatusIs(kInvalid));
}

TEST(JsonSchemaLimits, DeepSchemasAreAnErrorNotACrash) {
  EXPECT_THAT(Compile(Nested(kMaxJsonSchemaDepth, R"({"items":)", "{}", "}")), IsOk());
  EXPECT_THAT(Compile(Nested(200, R"({"items":)", "{}", "}")),
              StatusIs(kInvalid, HasSubstr("nest deeper than 128 levels")));
  EXPECT_THAT(Compile(Nested(200, R"({"not":)", "{}", "}")), StatusIs(kInvalid));
}

TEST(JsonSchemaLimits, LongRefChainsAreBoundedAtValidation) {
  // 600 definitions, each referring to the next: legal, but deeper than the evaluation limit.
  std::string defs;
  for (int i = 0; i < 600; ++i) {
    absl::StrAppend(&defs, i == 0 ? "" : ",", "\"d", i, "\":{\"$ref\":\"#/$defs/d", i + 1, "\"}");
  }
  MCPGW_ASSERT_OK_AND_ASSIGN(
      JsonSchema schema,
      Compile(absl::StrCat(R"({"$ref":"#/$defs/d0","$defs":{)", defs, R"(,"d600":{}}})")));
  EXPECT_THAT(Validate(schema, "1"), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(JsonSchemaLimits, ExponentialSchemasRunOutOfStepsInsteadOfHanging) {
  // Each level tries both branches, and both descend: 2^depth evaluations.
  const char* schema = R"({"anyOf":[{"type":"array","items":{"$ref":"#"}},
                                    {"type":"array","items":{"$ref":"#"}}]})";
  MCPGW_ASSERT_OK_AND_ASSIGN(JsonSchema compiled, Compile(schema));
  EXPECT_THAT(Validate(compiled, Nested(5, "[", "", "]")), IsOk());
  EXPECT_THAT(Validate(compiled, Nested(100, "[", "1", "]")),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("steps")));
}

// ---- API --------------------------------------------------------------------------------------

TEST(JsonSchemaApi, CompiledSchemaOutlivesItsSourceAndCopiesShareIt) {
  absl::StatusOr<JsonSchema> schema;
  {
    MCPGW_ASSERT_OK_AND_ASSIGN(
        Json source, Json::Parse(R"({"enum":["a","b"],"minimum":2,"pattern":"^[a-c]$"})"));
    schema = JsonSchema::Compile(source.value());
  }  // the source is gone: enum and minimum must not point into it
  ASSERT_THAT(schema, IsOk());
  JsonSchema copy = *schema;
  JsonSchema moved = std::move(*schema);
  EXPECT_THAT(Validate(copy, R"("a")"), IsOk());
  EXPECT_THAT(Validate(moved, R"("c")"), StatusIs(kInvalid, HasSubstr(R"(["a","b"])")));
  EXPECT_THAT(Validate(*schema, R"("a")"),  // NOLINT(bugprone-use-after-move): defined state
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(JsonSchemaApi, ConcurrentValidations) {
  MCPGW_ASSERT_OK_AND_ASSIGN(JsonSchema schema, Compile(kConformanceSchema));
  MCPGW_ASSERT_OK_AND_ASSIGN(Json good, Json::Parse(R"({"name":"A","email":"e"})"));
  MCPGW_ASSERT_OK_AND_ASSIGN(Json bad, Json::Parse(R"({"name":"A","phone":1})"));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, copy = schema] {
      for (int i = 0; i < 200; ++i) {
        const JsonSchema& s = i % 2 ? schema : copy;
        if (!s.Validate(good.value()).ok() || s.Validate(bad.value()).ok()) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace mcpgw::mcp
