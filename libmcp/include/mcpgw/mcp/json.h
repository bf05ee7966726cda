// File: json.h
//
// Json is an owned, copyable JSON value on RapidJSON, used for the parts of MCP messages that
// are free-form (schemas, arguments, `_meta`, unknown fields) and for whole messages. Parsing
// validates UTF-8, keeps numbers exact (full-precision doubles, 64-bit integers) and bounds
// nesting depth, so hostile input can neither crash nor exhaust the stack.
//
//   MCPGW_ASSIGN_OR_RETURN(Json schema, Json::Parse(R"({"type":"object"})"));
//   schema.AddMember("additionalProperties", false);
//   std::string text = schema.Serialize();
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace mcpgw::mcp {

using JsonValue = rapidjson::Value;
using JsonAllocator = rapidjson::MemoryPoolAllocator<>;

// Nesting deeper than this is refused by default (objects and arrays both count).
inline constexpr size_t kDefaultMaxJsonDepth = 256;

// Json owns one JSON value (null when default-constructed). Copies are deep. Thread-compatible.
class Json {
 public:
  Json();
  Json(const Json& other);
  Json& operator=(const Json& other);
  Json(Json&& other) noexcept;
  Json& operator=(Json&& other) noexcept;
  ~Json();

  // Parse reads exactly one JSON text. Returns InvalidArgument naming the byte offset and the
  // reason for malformed text, invalid UTF-8, trailing content or nesting beyond `max_depth`.
  static absl::StatusOr<Json> Parse(absl::string_view text,
                                    size_t max_depth = kDefaultMaxJsonDepth);
  // Copy makes an owned deep copy of `value`.
  static Json Copy(const JsonValue& value);
  static Json Object();
  static Json Array();
  static Json String(absl::string_view s);

  bool is_null() const { return doc_ == nullptr || value().IsNull(); }
  bool is_object() const { return doc_ != nullptr && value().IsObject(); }

  // The value; a null value when empty. Valid until this Json changes or dies.
  const JsonValue& value() const;
  // The value, created (as null) if empty, for modification with allocator().
  JsonValue& mutable_value();
  JsonAllocator& allocator();

  // Set puts `key` on an object value, replacing an existing member of that name.
  // The value must be an object.
  void Set(absl::string_view key, JsonValue value);
  void Set(absl::string_view key, absl::string_view value);
  void Set(absl::string_view key, const Json& value);

  std::string Serialize() const;

  // Deep equality: object member order is ignored, numbers compare by value.
  friend bool operator==(const Json& a, const Json& b);

 private:
  friend class Message;  // builds messages around a value without copying it
  struct Doc;
  explicit Json(std::unique_ptr<Doc> doc);
  static std::unique_ptr<Doc> NewDoc(size_t size_hint);

  std::unique_ptr<Doc> doc_;
};

// SerializeJson writes `value` as compact JSON text.
std::string SerializeJson(const JsonValue& value);
// AppendJson appends the compact JSON text of `value` to `out`.
void AppendJson(const JsonValue& value, std::string& out);

// JsonString makes a value that copies `s` into `alloc`.
inline JsonValue JsonString(absl::string_view s, JsonAllocator& alloc) {
  return JsonValue(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc);
}

// JsonNumber makes a number value, written without a fraction when it is a whole number
// (progress 50, not 50.0).
JsonValue JsonNumber(double d);

// AsStringView returns the string of a string value (the caller checks IsString()).
inline absl::string_view AsStringView(const JsonValue& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

// FindMember returns the member named `key`, or nullptr. `object` may be any value.
const JsonValue* FindMember(const JsonValue& object, absl::string_view key);
JsonValue* FindMember(JsonValue& object, absl::string_view key);

}  // namespace mcpgw::mcp
