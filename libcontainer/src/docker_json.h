// A minimal JSON reader and string quoting for the few Docker Engine API fields DockerEngine
// needs (libcontainer may not use RapidJSON). Bounded: nesting depth and input size limited.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcpgw::container::internal {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  // Out of line: `object` holds pairs of this (then incomplete) type.
  JsonValue();
  JsonValue(const JsonValue&);
  JsonValue(JsonValue&&) noexcept;
  JsonValue& operator=(const JsonValue&);
  JsonValue& operator=(JsonValue&&) noexcept;
  ~JsonValue();

  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;

  // Find returns the member `key` of an object, nullptr when absent or not an object.
  const JsonValue* Find(absl::string_view key) const;
  // StringOr returns the member `key` when it is a string, else `fallback`.
  std::string StringOr(absl::string_view key, absl::string_view fallback = "") const;
};

// ParseJson parses one JSON text (RFC 8259). InvalidArgument on malformed input or nesting
// deeper than `max_depth`.
absl::StatusOr<JsonValue> ParseJson(absl::string_view text, int max_depth = 64);

// JsonQuote returns `s` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view s);

}  // namespace mcpgw::container::internal
