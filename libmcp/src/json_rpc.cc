#include "mcpgw/mcp/json_rpc.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/cord.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace mcpgw::mcp {
namespace {

constexpr absl::string_view kCodePayload = "mcpgw/jsonrpc-code";
constexpr absl::string_view kDataPayload = "mcpgw/jsonrpc-data";

absl::string_view TypeName(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return v.IsDouble() ? "a non-integer number" : "a number";
  }
  return "unknown";
}

DecodeError Invalid(std::string message, std::optional<RequestId> id = std::nullopt) {
  return DecodeError{error_code::kInvalidRequest, std::move(message), std::move(id), false, false};
}

// Validates one decoded JSON value as a message; takes ownership of `json`.
FrameItem Validate(Json json) {
  const JsonValue& v = json.value();
  if (!v.IsObject()) {
    return Invalid(absl::StrCat("Invalid Request: a JSON-RPC message must be an object, not ",
                                TypeName(v)));
  }
  // The id, if present and well-formed.
  std::optional<RequestId> id;
  std::string id_problem;
  const JsonValue* id_value = FindMember(v, "id");
  if (id_value != nullptr) {
    absl::StatusOr<RequestId> parsed = RequestId::FromJson(*id_value);
    if (parsed.ok()) {
      id = *std::move(parsed);
    } else {
      id_problem = std::string(parsed.status().message());
    }
  }
  const JsonValue* method = FindMember(v, "method");
  const JsonValue* result = FindMember(v, "result");
  const JsonValue* error = FindMember(v, "error");
  const JsonValue* jsonrpc = FindMember(v, "jsonrpc");
  const bool version_ok =
      jsonrpc != nullptr && jsonrpc->IsString() && AsStringView(*jsonrpc) == "2.0";

  if (method == nullptr && (result != nullptr || error != nullptr)) {
    // A response. Never answered; a broken one still fails the request it names.
    auto bad_response = [&](std::string why) {
      DecodeError e{error_code::kInternalError, absl::StrCat("invalid response: ", why), id, true,
                    false};
      return e;
    };
    if (!version_ok) {
      return bad_response("member \"jsonrpc\" must be \"2.0\"");
    }
    if (result != nullptr && error != nullptr) {
      return bad_response("it has both \"result\" and \"error\"");
    }
    if (id_value == nullptr) {
      return bad_response("it has no \"id\"");
    }
    if (result != nullptr) {
      if (!id.has_value()) {
        return bad_response(id_problem);
      }
      return Message::Adopt(std::move(json), MessageKind::kResponse, std::move(id));
    }
    const JsonValue* code = FindMember(*error, "code");
    const JsonValue* message = FindMember(*error, "message");
    if (!error->IsObject() || code == nullptr || !code->IsInt() || message == nullptr ||
        !message->IsString()) {
      return bad_response("\"error\" must be an object with an integer \"code\" and a string "
                          "\"message\"");
    }
    if (!id.has_value() && !id_value->IsNull()) {
      return bad_response(id_problem);
    }
    return Message::Adopt(std::move(json), MessageKind::kErrorResponse, std::move(id));
  }

  if (method == nullptr) {
    return Invalid("Invalid Request: a message needs \"method\" (request or notification) or "
                   "\"result\"/\"error\" (response)",
                   id);
  }
  const bool is_notification = id_value == nullptr;
  auto invalid = [&](std::string why, int code = error_code::kInvalidRequest) {
    DecodeError e{code, std::move(why), id, false, is_notification};
    return e;
  };
  if (!id_problem.empty()) {
    return invalid(absl::StrCat("Invalid Request: ", id_problem));
  }
  if (!version_ok) {
    return invalid("Invalid Request: member \"jsonrpc\" must be the string \"2.0\"");
  }
  if (!method->IsString()) {
    return invalid(absl::StrCat("Invalid Request: \"method\" must be a string, not ",
                                TypeName(*method)));
  }
  if (result != nullptr || error != nullptr) {
    return invalid("Invalid Request: a request must not carry \"result\" or \"error\"");
  }
  if (const JsonValue* params = FindMember(v, "params")) {
    if (params->IsArray()) {
      return invalid("Invalid params: MCP passes parameters by name; \"params\" must be an object",
                     error_code::kInvalidParams);
    }
    if (!params->IsObject()) {
      return invalid(absl::StrCat("Invalid Request: \"params\" must be an object, not ",
                                  TypeName(*params)));
    }
  }
  return Message::Adopt(std::move(json),
                        is_notification ? MessageKind::kNotification : MessageKind::kRequest,
                        std::move(id));
}

}  // namespace

// --- RequestId

RequestId RequestId::Unsigned(uint64_t v) {
  RequestId id;
  if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    id.value_ = static_cast<int64_t>(v);
  } else {
    id.value_ = v;
  }
  return id;
}

absl::StatusOr<RequestId> RequestId::FromJson(const JsonValue& v) {
  if (v.IsString()) {
    return RequestId(std::string(AsStringView(v)));
  }
  if (v.IsInt64()) {
    return RequestId(v.GetInt64());
  }
  if (v.IsUint64()) {
    return Unsigned(v.GetUint64());
  }
  if (v.IsNumber()) {
    return absl::InvalidArgumentError(
        "\"id\" must be a string or an integer that fits in 64 bits; got a fraction or a number "
        "out of range");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"id\" must be a string or an integer, not ", TypeName(v)));
}

JsonValue RequestId::ToJson(JsonAllocator& alloc) const {
  if (const auto* s = std::get_if<std::string>(&value_)) {
    return JsonString(*s, alloc);
  }
  if (const auto* i = std::get_if<int64_t>(&value_)) {
    return JsonValue(*i);
  }
  return JsonValue(std::get<uint64_t>(value_));
}

std::optional<int64_t> RequestId::integer() const {
  if (const auto* i = std::get_if<int64_t>(&value_)) {
    return *i;
  }
  return std::nullopt;
}

std::string RequestId::ToString() const {
  JsonAllocator alloc(256);
  return SerializeJson(ToJson(alloc));
}

// --- Message

Message Message::Adopt(Json json, MessageKind kind, std::optional<RequestId> id) {
  Message m;
  m.json_ = std::move(json);
  m.kind_ = kind;
  m.id_ = std::move(id);
  return m;
}

namespace {

// Builds {"jsonrpc":"2.0", [id], [method], [<body_key>: body]} reusing body's storage.
Json Envelope(Json body, const RequestId* id, absl::string_view method,
              absl::string_view body_key) {
  Json j = std::move(body);
  JsonAllocator& alloc = j.allocator();
  JsonValue inner;
  inner = j.mutable_value();  // moves the body out; the root becomes null
  JsonValue& root = j.mutable_value();
  root.SetObject();
  root.AddMember("jsonrpc", "2.0", alloc);
  if (id != nullptr) {
    root.AddMember("id", id->ToJson(alloc), alloc);
  }
  if (!method.empty()) {
    root.AddMember("method", JsonString(method, alloc), alloc);
  }
  if (!inner.IsNull()) {
    root.AddMember(JsonValue(rapidjson::StringRef(body_key.data(), body_key.size())), inner,
                   alloc);
  }
  return j;
}

}  // namespace

Message Message::Request(RequestId id, absl::string_view method, Json params) {
  Json j = Envelope(std::move(params), &id, method, "params");
  return Adopt(std::move(j), MessageKind::kRequest, std::move(id));
}

Message Message::Notification(absl::string_view method, Json params) {
  return Adopt(Envelope(std::move(params), nullptr, method, "params"), MessageKind::kNotification,
               std::nullopt);
}

Message Message::Response(RequestId id, Json result) {
  if (result.is_null()) {
    result = Json::Object();
  }
  Json j = Envelope(std::move(result), &id, "", "result");
  return Adopt(std::move(j), MessageKind::kResponse, std::move(id));
}

Message Message::Error(std::optional<RequestId> id, const ErrorObject& error) {
  Json j = Json::Object();
  JsonAllocator& alloc = j.allocator();
  JsonValue& root = j.mutable_value();
  root.AddMember("jsonrpc", "2.0", alloc);
  root.AddMember("id", id.has_value() ? id->ToJson(alloc) : JsonValue(), alloc);
  JsonValue err(rapidjson::kObjectType);
  err.AddMember("code", error.code, alloc);
  err.AddMember("message", JsonString(error.message, alloc), alloc);
  if (!error.data.is_null()) {
    JsonValue data;
    data.CopyFrom(error.data.value(), alloc);
    err.AddMember("data", data, alloc);
  }
  root.AddMember("error", err, alloc);
  return Adopt(std::move(j), MessageKind::kErrorResponse, std::move(id));
}

Message Message::Error(std::optional<RequestId> id, int code, absl::string_view message) {
  return Error(std::move(id), ErrorObject{code, std::string(message), Json()});
}

void Message::SetId(const RequestId& id) {
  JsonAllocator& alloc = json_.allocator();
  JsonValue& root = json_.mutable_value();
  if (JsonValue* existing = FindMember(root, "id")) {
    *existing = id.ToJson(alloc);
  } else {
    root.AddMember("id", id.ToJson(alloc), alloc);
  }
  id_ = id;
}

absl::string_view Message::method() const {
  const JsonValue* m = FindMember(json(), "method");
  return m != nullptr && m->IsString() ? AsStringView(*m) : absl::string_view();
}

const JsonValue* Message::params() const { return FindMember(json(), "params"); }

JsonValue* Message::mutable_params() { return FindMember(mutable_json(), "params"); }

const JsonValue* Message::result() const { return FindMember(json(), "result"); }

ErrorObject Message::error() const {
  ErrorObject e;
  const JsonValue* err = FindMember(json(), "error");
  if (err == nullptr || !err->IsObject()) {
    return e;
  }
  if (const JsonValue* code = FindMember(*err, "code"); code != nullptr && code->IsInt()) {
    e.code = code->GetInt();
  }
  if (const JsonValue* msg = FindMember(*err, "message"); msg != nullptr && msg->IsString()) {
    e.message = std::string(AsStringView(*msg));
  }
  if (const JsonValue* data = FindMember(*err, "data")) {
    e.data = Json::Copy(*data);
  }
  return e;
}

Message DecodeError::ToMessage() const { return Message::Error(id, code, message); }

// --- Decoding

Frame DecodeFrame(absl::string_view text, const DecodeOptions& options) {
  Frame frame;
  absl::StatusOr<Json> parsed = Json::Parse(text, options.max_depth);
  if (!parsed.ok()) {
    frame.items.emplace_back(DecodeError{error_code::kParseError,
                                         absl::StrCat("Parse error: ", parsed.status().message()),
                                         std::nullopt, false, false});
    return frame;
  }
  if (!parsed->value().IsArray()) {
    frame.items.push_back(Validate(*std::move(parsed)));
    return frame;
  }
  const JsonValue& array = parsed->value();
  if (!options.allow_batch) {
    frame.items.emplace_back(Invalid(absl::StrCat(
        "Invalid Request: JSON-RPC batches are not accepted by ", options.batch_refusal_reason,
        " (MCP allows them only at protocol version 2025-03-26); send one message at a time")));
    return frame;
  }
  if (array.Empty()) {
    frame.items.emplace_back(Invalid("Invalid Request: an empty batch"));
    return frame;
  }
  frame.batch = true;
  frame.items.reserve(array.Size());
  for (const JsonValue& element : array.GetArray()) {
    frame.items.push_back(Validate(Json::Copy(element)));
  }
  return frame;
}

absl::StatusOr<Message> DecodeMessage(absl::string_view text) {
  Frame frame = DecodeFrame(text);
  FrameItem& item = frame.items.front();
  if (auto* error = std::get_if<DecodeError>(&item)) {
    return JsonRpcErrorStatus(error->code, error->message);
  }
  return std::get<Message>(std::move(item));
}

namespace {

// The SAX handler of PeekResponseId: reads the whole text (so that what it accepts is well-formed
// JSON within the decoder's depth limit) and notes the top-level id and members; any doubt ends
// the reading (returns false), which leaves the text to the full decoding.
class ResponseIdPeeker : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ResponseIdPeeker> {
 public:
  bool Default() { return Scalar(); }  // null, bool, double: never an id
  bool Int(int v) { return IdSlot() ? SetId(RequestId(int64_t{v})) : Scalar(); }
  bool Uint(unsigned v) { return IdSlot() ? SetId(RequestId(int64_t{v})) : Scalar(); }
  bool Int64(int64_t v) { return IdSlot() ? SetId(RequestId(v)) : Scalar(); }
  bool Uint64(uint64_t v) { return IdSlot() ? SetId(RequestId::Unsigned(v)) : Scalar(); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return IdSlot() ? SetId(RequestId(std::string(s, n))) : Scalar();
  }
  bool StartObject() { return Open(); }
  bool StartArray() { return depth_ > 0 && Open(); }  // a batch at the top
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1) {
      absl::string_view key(s, n);
      at_id_ = key == "id";
      if (at_id_ && id_.has_value()) {
        return false;  // two ids
      }
      if (key == "method") {
        return false;  // a request or a notification (or invalid): not an answer
      }
      payload_ = payload_ || key == "result" || key == "error";
    }
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return Close(); }
  bool EndArray(rapidjson::SizeType) { return Close(); }

  std::optional<RequestId> answer_id() const {
    return payload_ ? id_ : std::nullopt;
  }

 private:
  bool IdSlot() const { return depth_ == 1 && at_id_; }
  bool SetId(RequestId id) {
    at_id_ = false;
    id_ = std::move(id);
    return true;
  }
  // A value that is not an id: at the top it is not an object; in the id's place it is a
  // null, fractional or boolean id.
  bool Scalar() const { return depth_ > 0 && !IdSlot(); }
  bool Open() {
    if (IdSlot() || depth_ >= static_cast<int>(kDefaultMaxJsonDepth)) {
      return false;  // a structured id, or deeper than the decoder accepts
    }
    ++depth_;
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }

  int depth_ = 0;
  bool at_id_ = false;
  bool payload_ = false;
  std::optional<RequestId> id_;
};

}  // namespace

std::optional<RequestId> PeekResponseId(absl::string_view text) {
  ResponseIdPeeker peeker;
  rapidjson::Reader reader;
  rapidjson::MemoryStream bytes(text.data(), text.size());
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
  if (!reader.Parse<kFlags>(bytes, peeker)) {
    return std::nullopt;
  }
  return peeker.answer_id();
}

std::string EncodeBatch(const std::vector<Message>& messages) {
  std::string out = "[";
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i > 0) {
      out.push_back(',');
    }
    AppendJson(messages[i].json(), out);
  }
  out.push_back(']');
  return out;
}

// --- Status mapping

namespace {

absl::StatusCode CanonicalCodeFor(int code) {
  switch (code) {
    case error_code::kParseError:
    case error_code::kInvalidRequest:
    case error_code::kInvalidParams:
      return absl::StatusCode::kInvalidArgument;
    case error_code::kMethodNotFound:
      return absl::StatusCode::kUnimplemented;
    case error_code::kInternalError:
      return absl::StatusCode::kInternal;
    case error_code::kConnectionClosed:
      return absl::StatusCode::kUnavailable;
    case error_code::kRequestTimeout:
      return absl::StatusCode::kDeadlineExceeded;
    case error_code::kResourceNotFound:
      return absl::StatusCode::kNotFound;
    case error_code::kServerBusy:
      return absl::StatusCode::kResourceExhausted;
    case error_code::kUrlElicitationRequired:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kUnknown;
  }
}

}  // namespace

absl::Status JsonRpcErrorStatus(int code, absl::string_view message, const Json& data) {
  absl::Status status(CanonicalCodeFor(code), message);
  status.SetPayload(kCodePayload, absl::Cord(absl::StrCat(code)));
  if (!data.is_null()) {
    status.SetPayload(kDataPayload, absl::Cord(data.Serialize()));
  }
  return status;
}

bool HasJsonRpcCode(const absl::Status& status) {
  return status.GetPayload(kCodePayload).has_value();
}

int JsonRpcCodeOf(const absl::Status& status) {
  if (auto payload = status.GetPayload(kCodePayload)) {
    int code = 0;
    if (absl::SimpleAtoi(std::string(*payload), &code)) {
      return code;
    }
  }
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return error_code::kInvalidParams;
    case absl::StatusCode::kUnimplemented:
      return error_code::kMethodNotFound;
    case absl::StatusCode::kDeadlineExceeded:
      return error_code::kRequestTimeout;
    case absl::StatusCode::kUnavailable:
      return error_code::kConnectionClosed;
    case absl::StatusCode::kResourceExhausted:
      return error_code::kServerBusy;
    case absl::StatusCode::kFailedPrecondition:
      return error_code::kInvalidRequest;
    default:
      return error_code::kInternalError;
  }
}

ErrorObject ToErrorObject(const absl::Status& status) {
  ErrorObject e;
  e.code = JsonRpcCodeOf(status);
  e.message = std::string(status.message());
  if (e.message.empty()) {
    e.message = absl::StatusCodeToString(status.code());
  }
  if (auto data = status.GetPayload(kDataPayload)) {
    absl::StatusOr<Json> parsed = Json::Parse(std::string(*data));
    if (parsed.ok()) {
      e.data = *std::move(parsed);
    }
  }
  return e;
}

absl::Status ErrorObjectToStatus(const ErrorObject& error) {
  return JsonRpcErrorStatus(error.code, error.message, error.data);
}

}  // namespace mcpgw::mcp
