// File: json_rpc.h
//
// The JSON-RPC 2.0 codec: request ids, messages (requests, notifications, responses, error
// responses), the decoding of one frame of text (a message, or a batch where the session allows
// it) with the right error for every malformed case, and the mapping between absl::Status and
// JSON-RPC error codes.
//
// A Message keeps the whole JSON object it was decoded from, so fields nobody here knows
// travel on unchanged when the message is forwarded.
//
//   Frame frame = DecodeFrame(line, {.allow_batch = false});
//   for (FrameItem& item : frame.items) {
//     if (auto* error = std::get_if<DecodeError>(&item)) { ... reply with error->ToMessage() }
//     else { Message& m = std::get<Message>(item); ... }
//   }
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "mcpgw/mcp/json.h"

namespace mcpgw::mcp {

// JSON-RPC and MCP error codes.
namespace error_code {
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
// Implementation-defined (-32000..-32019), numbered as the TypeScript SDK does where it has one.
inline constexpr int kConnectionClosed = -32000;
inline constexpr int kRequestTimeout = -32001;
inline constexpr int kResourceNotFound = -32002;  // MCP, up to 2025-11-25
inline constexpr int kServerBusy = -32003;         // too many requests in flight
inline constexpr int kUrlElicitationRequired = -32042;  // MCP 2025-11-25
}  // namespace error_code

// RequestId is a JSON-RPC id: an integer or a string, kept exactly. 1 and "1" are different
// ids; integers keep all 64 bits (signed, or unsigned above INT64_MAX). Also used for progress
// tokens, which have the same shape.
class RequestId {
 public:
  RequestId() : value_(int64_t{0}) {}
  RequestId(int64_t v) : value_(v) {}  // NOLINT: ids are naturally written as literals
  RequestId(int v) : value_(int64_t{v}) {}  // NOLINT
  RequestId(std::string v) : value_(std::move(v)) {}  // NOLINT
  RequestId(const char* v) : value_(std::string(v)) {}  // NOLINT
  static RequestId Unsigned(uint64_t v);

  // FromJson accepts an integer or string value; anything else (null, a fraction, a bool)
  // returns InvalidArgument.
  static absl::StatusOr<RequestId> FromJson(const JsonValue& v);
  JsonValue ToJson(JsonAllocator& alloc) const;

  bool is_string() const { return std::holds_alternative<std::string>(value_); }
  bool is_integer() const { return !is_string(); }
  // The integer (valid when is_integer() and it fits int64).
  std::optional<int64_t> integer() const;
  const std::string* string() const { return std::get_if<std::string>(&value_); }

  // ToString renders the id as JSON: 7 or "seven" (with quotes), for logs and errors.
  std::string ToString() const;

  friend bool operator==(const RequestId& a, const RequestId& b) { return a.value_ == b.value_; }
  friend bool operator!=(const RequestId& a, const RequestId& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const RequestId& id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  // uint64_t only for values above INT64_MAX, so each number has one representation.
  std::variant<int64_t, uint64_t, std::string> value_;
};

using ProgressToken = RequestId;

// ErrorObject is the `error` member of an error response.
struct ErrorObject {
  int code = error_code::kInternalError;
  std::string message;
  Json data;  // null when absent
};

enum class MessageKind { kRequest, kNotification, kResponse, kErrorResponse };

// Message is one JSON-RPC message that owns its JSON object. Thread-compatible; movable.
class Message {
 public:
  // Builders. `params`/`result` must be objects (or null for absent params).
  static Message Request(RequestId id, absl::string_view method, Json params = Json());
  static Message Notification(absl::string_view method, Json params = Json());
  static Message Response(RequestId id, Json result);
  static Message Error(std::optional<RequestId> id, const ErrorObject& error);
  static Message Error(std::optional<RequestId> id, int code, absl::string_view message);

  MessageKind kind() const { return kind_; }
  bool is_request() const { return kind_ == MessageKind::kRequest; }
  bool is_notification() const { return kind_ == MessageKind::kNotification; }
  bool is_response() const {
    return kind_ == MessageKind::kResponse || kind_ == MessageKind::kErrorResponse;
  }

  // The id of a request or response (an error response may have none: id null).
  const std::optional<RequestId>& id() const { return id_; }
  // Replaces the id in the message (for forwarding under another id).
  void SetId(const RequestId& id);

  // The method of a request or notification; empty for responses.
  absl::string_view method() const;
  // `params` of a request/notification, or nullptr when absent.
  const JsonValue* params() const;
  JsonValue* mutable_params();
  // `result` of a response, or nullptr.
  const JsonValue* result() const;
  // The error of an error response (only valid for kErrorResponse).
  ErrorObject error() const;

  // The whole message object, unknown members included.
  const JsonValue& json() const { return json_.value(); }
  JsonValue& mutable_json() { return json_.mutable_value(); }
  JsonAllocator& allocator() { return json_.allocator(); }

  // Serialize returns the compact JSON text (without a newline).
  std::string Serialize() const { return json_.Serialize(); }

  // Adopt wraps an already validated message object (used by the decoder).
  static Message Adopt(Json json, MessageKind kind, std::optional<RequestId> id);

 private:
  Message() = default;

  Json json_;
  MessageKind kind_ = MessageKind::kNotification;
  std::optional<RequestId> id_;
};

// DecodeError describes a frame (or a batch element) that is not a valid message.
struct DecodeError {
  int code = error_code::kInvalidRequest;
  std::string message;
  // The id, when it could be read (the error response then carries it).
  std::optional<RequestId> id;
  // True when the text looked like a response: a response is never answered, but a pending
  // request with this id should fail rather than wait forever.
  bool is_response = false;
  // True when the text looked like a notification: JSON-RPC forbids answering those too.
  bool is_notification = false;

  // Whether an error response should be sent back.
  bool answerable() const { return !is_response && !is_notification; }

  // The error response to send back (meaningful when !is_response).
  Message ToMessage() const;
};

using FrameItem = std::variant<Message, DecodeError>;

// Frame is what one unit of transport text (a stdio line, an HTTP body) decoded to.
struct Frame {
  bool batch = false;  // the text was a JSON array
  std::vector<FrameItem> items;
};

struct DecodeOptions {
  // Accept a JSON array of messages (only sessions negotiated at 2025-03-26 do).
  bool allow_batch = false;
  // Why batches are refused, for the error message (e.g. "protocol version 2025-11-25").
  absl::string_view batch_refusal_reason = "this session";
  size_t max_depth = kDefaultMaxJsonDepth;
};

// DecodeFrame decodes `text`. It never fails as a whole: malformed JSON yields one DecodeError
// with kParseError; a value that is not a valid message (wrong `jsonrpc`, an id that is null,
// fractional, boolean or out of 64-bit range, a non-string method, params that are not a
// structured value, a response with both or neither of result/error) yields kInvalidRequest
// (or kInvalidParams for by-position params, which MCP does not use). A batch where none is
// allowed, or an empty batch, yields one kInvalidRequest error.
Frame DecodeFrame(absl::string_view text, const DecodeOptions& options = {});

// DecodeMessage decodes a single message (no batch). The error status carries the JSON-RPC
// code (see JsonRpcCodeOf).
absl::StatusOr<Message> DecodeMessage(absl::string_view text);

// PeekResponseId reads the id of a single response (a JSON object with a top-level `result`
// or `error`, an integer or string `id` and no `method`) without building a document: for
// transports that route answers by id before the session decodes them. nullopt for anything
// else: requests, notifications, batches, text that is not well-formed JSON or nests deeper
// than kDefaultMaxJsonDepth (what DecodeFrame would refuse is never taken for an answer).
// The members' values are not checked beyond that: the session's own decoding does.
std::optional<RequestId> PeekResponseId(absl::string_view text);

// EncodeBatch serializes messages as one JSON array.
std::string EncodeBatch(const std::vector<Message>& messages);

// --- Status <-> JSON-RPC error mapping (the one place where it happens).

// JsonRpcErrorStatus makes a status that carries an exact JSON-RPC code (and optional data)
// in a payload, with the closest canonical code.
absl::Status JsonRpcErrorStatus(int code, absl::string_view message, const Json& data = Json());

// HasJsonRpcCode reports whether `status` was made with JsonRpcErrorStatus (carries an exact
// code), as opposed to a plain status whose code is only mapped.
bool HasJsonRpcCode(const absl::Status& status);

// JsonRpcCodeOf returns the JSON-RPC code a status carries, or the code mapped from its
// canonical code: InvalidArgument → -32602, Unimplemented → -32601, DeadlineExceeded →
// -32001, Unavailable → -32000, ResourceExhausted → -32003, NotFound → -32602, others
// → -32603.
int JsonRpcCodeOf(const absl::Status& status);

// ToErrorObject turns a non-OK status into a JSON-RPC error object (message and data kept).
ErrorObject ToErrorObject(const absl::Status& status);

// ErrorObjectToStatus turns an error received from the peer into a status that carries its
// exact code and data.
absl::Status ErrorObjectToStatus(const ErrorObject& error);

}  // namespace mcpgw::mcp
