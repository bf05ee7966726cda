#include "mcpgw/mcp/json_rpc.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::HasSubstr;

// Decodes a frame that must hold exactly one item.
FrameItem DecodeOne(absl::string_view text, DecodeOptions options = {}) {
  Frame frame = DecodeFrame(text, options);
  EXPECT_EQ(frame.items.size(), 1u) << text;
  return std::move(frame.items.front());
}

DecodeError ExpectError(absl::string_view text, int code) {
  FrameItem item = DecodeOne(text);
  const DecodeError* e = std::get_if<DecodeError>(&item);
  EXPECT_NE(e, nullptr) << "decoded without error: " << text;
  if (e == nullptr) {
    return {};
  }
  EXPECT_EQ(e->code, code) << text << " → " << e->message;
  return *e;
}

Message ExpectMessage(absl::string_view text) {
  FrameItem item = DecodeOne(text);
  if (auto* e = std::get_if<DecodeError>(&item)) {
    ADD_FAILURE() << text << " → " << e->message;
    return Message::Notification("failed");
  }
  return std::get<Message>(std::move(item));
}

TEST(Decode, Request) {
  Message m = ExpectMessage(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}})");
  EXPECT_EQ(m.kind(), MessageKind::kRequest);
  EXPECT_EQ(m.method(), "tools/list");
  EXPECT_EQ(*m.id(), RequestId(1));
  ASSERT_NE(m.params(), nullptr);
  EXPECT_TRUE(m.params()->IsObject());
}

TEST(Decode, NotificationWithoutParams) {
  Message m = ExpectMessage(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(m.kind(), MessageKind::kNotification);
  EXPECT_FALSE(m.id().has_value());
  EXPECT_EQ(m.params(), nullptr);
}

TEST(Decode, ResponseAndErrorResponse) {
  Message r = ExpectMessage(R"({"jsonrpc":"2.0","id":"a","result":{"x":1}})");
  EXPECT_EQ(r.kind(), MessageKind::kResponse);
  EXPECT_EQ(*r.id(), RequestId("a"));
  ASSERT_NE(r.result(), nullptr);

  Message e = ExpectMessage(
      R"({"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad","data":{"k":[1]}}})");
  EXPECT_EQ(e.kind(), MessageKind::kErrorResponse);
  ErrorObject err = e.error();
  EXPECT_EQ(err.code, -32602);
  EXPECT_EQ(err.message, "bad");
  EXPECT_EQ(err.data.Serialize(), R"({"k":[1]})");
}

TEST(Decode, ErrorResponseWithNullId) {
  Message e = ExpectMessage(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})");
  EXPECT_EQ(e.kind(), MessageKind::kErrorResponse);
  EXPECT_FALSE(e.id().has_value());
}

TEST(Ids, IntegerAndStringAreDifferent) {
  Message a = ExpectMessage(R"({"jsonrpc":"2.0","id":1,"method":"m"})");
  Message b = ExpectMessage(R"({"jsonrpc":"2.0","id":"1","method":"m"})");
  EXPECT_NE(*a.id(), *b.id());
  EXPECT_TRUE(a.id()->is_integer());
  EXPECT_TRUE(b.id()->is_string());
  EXPECT_EQ(a.id()->ToString(), "1");
  EXPECT_EQ(b.id()->ToString(), "\"1\"");
}

TEST(Ids, LargeIntegersKeptExactly) {
  for (absl::string_view id : {"9007199254740993", "9223372036854775807", "-9223372036854775808",
                               "18446744073709551615", "0", "-1"}) {
    std::string text = absl::StrCat(R"({"jsonrpc":"2.0","id":)", id, R"(,"method":"m"})");
    Message m = ExpectMessage(text);
    EXPECT_EQ(m.id()->ToString(), id);
    // The id survives re-serialization of the whole message and of an answer to it.
    EXPECT_EQ(m.Serialize(), text);
    EXPECT_THAT(Message::Response(*m.id(), Json::Object()).Serialize(),
                HasSubstr(absl::StrCat("\"id\":", id, ",")));
  }
}

TEST(Ids, UnsignedNormalization) {
  EXPECT_EQ(RequestId::Unsigned(5), RequestId(5));
  EXPECT_NE(RequestId::Unsigned(std::numeric_limits<uint64_t>::max()), RequestId(-1));
}

TEST(Ids, StringIdsKeepUnicodeAndEscapes) {
  Message m = ExpectMessage(R"({"jsonrpc":"2.0","id":"ä\"\\\n1","method":"m"})");
  EXPECT_EQ(*m.id()->string(), "ä\"\\\n1");
}

TEST(Ids, InvalidIdsAreRejected) {
  for (absl::string_view id : {"null", "true", "1.5", "1e3", "{}", "[]", "18446744073709551616",
                               "-9223372036854775809"}) {
    std::string text = absl::StrCat(R"({"jsonrpc":"2.0","id":)", id, R"(,"method":"m"})");
    DecodeError e = ExpectError(text, error_code::kInvalidRequest);
    EXPECT_THAT(e.message, HasSubstr("\"id\"")) << id;
    EXPECT_FALSE(e.id.has_value());
    EXPECT_TRUE(e.answerable());
  }
}

TEST(Errors, ParseError) {
  for (absl::string_view text : {"{not json", "", "   ", "{\"a\":1", "nul", "{\"a\":1}}",
                                 "{\"a\":1} {\"b\":2}", "\"unterminated"}) {
    DecodeError e = ExpectError(text, error_code::kParseError);
    EXPECT_THAT(e.message, HasSubstr("Parse error")) << text;
    EXPECT_FALSE(e.id.has_value());
    EXPECT_EQ(e.ToMessage().Serialize(),
              absl::StrCat(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":)",
                           SerializeJson(JsonValue(e.message.c_str(), e.message.size())), "}}"));
  }
}

TEST(Errors, InvalidUtf8IsAParseError) {
  ExpectError("{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}", error_code::kParseError);
}

TEST(Errors, NestingBeyondTheLimitIsAParseErrorNotACrash) {
  std::string deep(100000, '[');
  DecodeError e = ExpectError(deep, error_code::kParseError);
  EXPECT_THAT(e.message, HasSubstr("nested deeper than 256"));
  std::string ok_depth = std::string(200, '[') + std::string(200, ']');
  DecodeError arr = ExpectError(ok_depth, error_code::kInvalidRequest);  // a batch, not allowed
  (void)arr;
}

TEST(Errors, InvalidRequestCases) {
  struct Case {
    const char* text;
    int code;
    const char* says;
    bool has_id;
  } cases[] = {
      {R"(1)", error_code::kInvalidRequest, "must be an object", false},
      {R"("x")", error_code::kInvalidRequest, "must be an object", false},
      {R"(null)", error_code::kInvalidRequest, "must be an object", false},
      {R"({})", error_code::kInvalidRequest, "needs \"method\"", false},
      {R"({"id":1,"method":"m"})", error_code::kInvalidRequest, "jsonrpc", true},
      {R"({"jsonrpc":"1.0","id":1,"method":"m"})", error_code::kInvalidRequest, "jsonrpc", true},
      {R"({"jsonrpc":2.0,"id":1,"method":"m"})", error_code::kInvalidRequest, "jsonrpc", true},
      {R"({"jsonrpc":"2.0","id":1,"method":5})", error_code::kInvalidRequest, "\"method\" must",
       true},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","params":"x"})", error_code::kInvalidRequest,
       "\"params\" must be an object", true},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","params":null})", error_code::kInvalidRequest,
       "\"params\" must be an object", true},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","params":[1,2]})", error_code::kInvalidParams,
       "by name", true},
      {R"({"jsonrpc":"2.0","id":1,"method":"m","result":{}})", error_code::kInvalidRequest,
       "must not carry", true},
  };
  for (const Case& c : cases) {
    DecodeError e = ExpectError(c.text, c.code);
    EXPECT_THAT(e.message, HasSubstr(c.says)) << c.text;
    EXPECT_EQ(e.id.has_value(), c.has_id) << c.text;
    if (c.has_id) {
      EXPECT_EQ(*e.id, RequestId(1));
      EXPECT_THAT(e.ToMessage().Serialize(), HasSubstr(R"("id":1)"));
    }
  }
}

TEST(Errors, InvalidNotificationIsNotAnswered) {
  DecodeError e = ExpectError(R"({"jsonrpc":"2.0","method":"m","params":[1]})",
                              error_code::kInvalidParams);
  EXPECT_TRUE(e.is_notification);
  EXPECT_FALSE(e.answerable());
}

TEST(Errors, InvalidResponsesAreMarkedAndKeepTheirId) {
  for (absl::string_view text : {
           R"({"jsonrpc":"2.0","id":4,"result":{},"error":{"code":1,"message":"x"}})",
           R"({"jsonrpc":"2.0","id":4,"error":{"code":"x","message":"y"}})",
           R"({"jsonrpc":"2.0","id":4,"error":"boom"})",
           R"({"jsonrpc":"2.0","id":4,"error":{"code":1}})",
           R"({"id":4,"result":{}})",
       }) {
    FrameItem item = DecodeOne(text);
    const DecodeError* e = std::get_if<DecodeError>(&item);
    ASSERT_NE(e, nullptr) << text;
    EXPECT_TRUE(e->is_response) << text;
    EXPECT_FALSE(e->answerable());
    ASSERT_TRUE(e->id.has_value()) << text;
    EXPECT_EQ(*e->id, RequestId(4));
  }
  FrameItem no_id = DecodeOne(R"({"jsonrpc":"2.0","result":{}})");
  EXPECT_TRUE(std::get<DecodeError>(no_id).is_response);
}

TEST(Batches, RefusedUnlessAllowed) {
  DecodeError e = ExpectError(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])",
                              error_code::kInvalidRequest);
  EXPECT_THAT(e.message, HasSubstr("batches are not accepted"));
  EXPECT_THAT(e.message, HasSubstr("2025-03-26"));
}

TEST(Batches, AcceptedWhenAllowedWithPerElementErrors) {
  Frame frame = DecodeFrame(
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"},1,
          {"jsonrpc":"2.0","id":2,"method":7}])",
      DecodeOptions{.allow_batch = true});
  EXPECT_TRUE(frame.batch);
  ASSERT_EQ(frame.items.size(), 4u);
  EXPECT_TRUE(std::get<Message>(frame.items[0]).is_request());
  EXPECT_TRUE(std::get<Message>(frame.items[1]).is_notification());
  EXPECT_EQ(std::get<DecodeError>(frame.items[2]).code, error_code::kInvalidRequest);
  EXPECT_EQ(*std::get<DecodeError>(frame.items[3]).id, RequestId(2));
}

TEST(Batches, EmptyBatchIsInvalid) {
  Frame frame = DecodeFrame("[]", DecodeOptions{.allow_batch = true});
  ASSERT_EQ(frame.items.size(), 1u);
  EXPECT_EQ(std::get<DecodeError>(frame.items[0]).code, error_code::kInvalidRequest);
  EXPECT_FALSE(frame.batch);
}

TEST(Encode, BuildersProduceCanonicalMessages) {
  Json params = Json::Object();
  params.Set("name", "echo");
  EXPECT_EQ(Message::Request(7, "tools/call", params).Serialize(),
            R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}})");
  EXPECT_EQ(Message::Notification("notifications/initialized").Serialize(),
            R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  EXPECT_EQ(Message::Response("x", Json()).Serialize(), R"({"jsonrpc":"2.0","id":"x","result":{}})");
  EXPECT_EQ(Message::Error(std::nullopt, -32700, "bad").Serialize(),
            R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}})");
  EXPECT_EQ(EncodeBatch({Message::Response(1, Json()), Message::Response(2, Json())}),
            R"([{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{}}])");
}

TEST(PassThrough, UnknownFieldsSurviveDecodeAndReencode) {
  // Members no revision defines, at every level, plus numbers that must not change.
  const std::string text =
      R"({"jsonrpc":"2.0","id":42,"method":"tools/call","x-vendor":{"a":[1,2.5,"z"]},)"
      R"("params":{"name":"t","arguments":{"big":12345678901234567890,"pi":3.141592653589793,)"
      R"("tiny":1e-300,"neg":-0.1},"_meta":{"com.example/trace":"abc","progressToken":"p1"},)"
      R"("futureParam":{"deep":{"deeper":[null,true,false]}}},"topLevelFuture":17})";
  Message m = ExpectMessage(text);
  EXPECT_EQ(m.Serialize(), text);
  // Forwarding under another id changes the id only.
  m.SetId(RequestId(9));
  std::string forwarded = m.Serialize();
  std::string expected = text;
  expected.replace(expected.find("\"id\":42"), 7, "\"id\":9");
  EXPECT_EQ(forwarded, expected);
}

TEST(PassThrough, ResponsesKeepUnknownMembers) {
  const std::string text =
      R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"hologram","z":1}],)"
      R"("structuredContent":{"k":"v"},"isError":false,"_meta":{"x":1},"newThing":[]},"extra":1})";
  Message m = ExpectMessage(text);
  m.SetId(RequestId("client-7"));
  EXPECT_EQ(m.Serialize(), absl::StrCat(R"({"jsonrpc":"2.0","id":"client-7",)", text.substr(24)));
}

TEST(StatusMapping, ExactCodesTravelInPayload) {
  Json data = Json::Object();
  data.Set("uri", "file:///x");
  absl::Status s = JsonRpcErrorStatus(error_code::kResourceNotFound, "no such resource", data);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(JsonRpcCodeOf(s), -32002);
  ErrorObject e = ToErrorObject(s);
  EXPECT_EQ(e.code, -32002);
  EXPECT_EQ(e.message, "no such resource");
  EXPECT_EQ(e.data.Serialize(), R"({"uri":"file:///x"})");
  EXPECT_EQ(JsonRpcCodeOf(JsonRpcErrorStatus(-32099, "custom")), -32099);
}

TEST(StatusMapping, CanonicalCodes) {
  EXPECT_EQ(JsonRpcCodeOf(absl::InvalidArgumentError("x")), -32602);
  EXPECT_EQ(JsonRpcCodeOf(absl::UnimplementedError("x")), -32601);
  EXPECT_EQ(JsonRpcCodeOf(absl::InternalError("x")), -32603);
  EXPECT_EQ(JsonRpcCodeOf(absl::DeadlineExceededError("x")), -32001);
  EXPECT_EQ(JsonRpcCodeOf(absl::UnavailableError("x")), -32000);
  EXPECT_EQ(JsonRpcCodeOf(absl::ResourceExhaustedError("x")), -32003);
  EXPECT_EQ(JsonRpcCodeOf(absl::UnknownError("x")), -32603);
}

TEST(PeekResponseId, ReadsTheIdOfASingleResponseOnly) {
  EXPECT_EQ(PeekResponseId(R"({"jsonrpc":"2.0","id":7,"result":{"tools":[]}})"), RequestId(7));
  EXPECT_EQ(PeekResponseId(R"({"jsonrpc":"2.0","id":"a\"b","error":{"code":1,"message":"m"}})"),
            RequestId("a\"b"));
  // The id after the result, unknown members, an id beyond int64.
  EXPECT_EQ(PeekResponseId(R"({"result":{"id":1,"x":[{"id":2}]},"v":{"id":3},"id":-4,"jsonrpc":"2.0"})"),
            RequestId(-4));
  EXPECT_EQ(PeekResponseId(R"({"jsonrpc":"2.0","id":18446744073709551615,"result":{}})"),
            RequestId::Unsigned(std::numeric_limits<uint64_t>::max()));
  // Text the decoder would refuse is never taken for an answer: cut short, trailing bytes,
  // invalid UTF-8, nested deeper than the decoder's limit.
  EXPECT_EQ(PeekResponseId(R"({"jsonrpc":"2.0","id":1,"result":{"cut)"), std::nullopt);
  EXPECT_EQ(PeekResponseId(R"({"jsonrpc":"2.0","id":1,"result":{}} x)"), std::nullopt);
  EXPECT_EQ(PeekResponseId("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"t\":\"\xff\"}}"),
            std::nullopt);
  std::string deep = R"({"jsonrpc":"2.0","id":1,"result":)";
  for (size_t i = 1; i < kDefaultMaxJsonDepth; ++i) {
    deep += "[";
  }
  std::string closing(kDefaultMaxJsonDepth - 1, ']');
  EXPECT_EQ(PeekResponseId(deep + closing + "}"), RequestId(1));  // exactly at the limit
  EXPECT_EQ(PeekResponseId(deep + "[" + closing + "]}"), std::nullopt);
  EXPECT_TRUE(DecodeMessage(deep + closing + "}").ok());
  EXPECT_FALSE(DecodeMessage(deep + "[" + closing + "]}").ok());

  for (const char* other : {
           R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})",     // a request
           R"({"jsonrpc":"2.0","method":"notifications/progress"})",  // a notification
           R"([{"jsonrpc":"2.0","id":1,"result":{}}])",                // a batch
           R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m"}})",
           R"({"jsonrpc":"2.0","id":1.5,"result":{}})",
           R"({"jsonrpc":"2.0","id":{"n":1},"result":{}})",
           R"({"jsonrpc":"2.0","result":{}})",         // no id
           R"({"jsonrpc":"2.0","id":1,"method":"m","result":{}})",  // a method: not an answer
           R"({"jsonrpc":"2.0","id":1,"id":2,"result":{}})",        // two ids
           R"("id")", "", "not json", "7"}) {
    EXPECT_EQ(PeekResponseId(other), std::nullopt) << other;
  }
  // A result nested below the top level does not make a response.
  EXPECT_EQ(PeekResponseId(R"({"jsonrpc":"2.0","id":1,"method":"m","params":{"result":1}})"),
            std::nullopt);
}

TEST(DecodeMessage, ErrorCarriesCode) {
  EXPECT_THAT(DecodeMessage("{"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(JsonRpcCodeOf(DecodeMessage("{").status()), -32700);
  EXPECT_EQ(JsonRpcCodeOf(DecodeMessage("[]").status()), -32600);
  EXPECT_THAT(DecodeMessage(R"({"jsonrpc":"2.0","method":"x"})"), IsOk());
}

}  // namespace
}  // namespace mcpgw::mcp
