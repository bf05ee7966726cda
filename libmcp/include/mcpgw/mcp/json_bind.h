// File: json_bind.h
//
// Declarative mapping between C++ structs and JSON objects, used by every MCP type in
// types.h and usable for your own. A struct lists its members once, in a Bind function; the
// same list reads and writes. Members of type std::optional<T> are optional, every other
// member is required. A member named `extra` (of type Json) collects the object members the
// struct does not list, and writing puts them back: what this library does not know survives
// a read/write round trip.
//
//   struct Point {
//     int64_t x = 0;
//     std::optional<std::string> label;
//     Json extra;
//     template <typename V> void Bind(V& v) { v("x", x); v("label", label); }
//   };
//   MCPGW_ASSIGN_OR_RETURN(Point p, FromJson<Point>(value));   // errors name the member path
//   Json j = ToJson(p);
//
// Other types plug in with two overloads found by argument-dependent lookup:
//   absl::Status ReadJson(const JsonValue& v, T& out, JsonPath& path);
//   JsonValue WriteJson(const T& in, JsonAllocator& alloc);
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "mcpgw/mcp/json.h"

namespace mcpgw::mcp {

// JsonPath names where in a document a reader is, for error messages ("tools[2].name").
class JsonPath {
 public:
  void PushKey(absl::string_view key) {
    stack_.push_back(path_.size());
    if (!path_.empty()) {
      path_.push_back('.');
    }
    path_.append(key.data(), key.size());
  }
  void PushIndex(size_t i) {
    stack_.push_back(path_.size());
    absl::StrAppend(&path_, "[", i, "]");
  }
  void Pop() {
    path_.resize(stack_.back());
    stack_.pop_back();
  }
  const std::string& str() const { return path_; }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        path_.empty() ? std::string(what) : absl::StrCat(path_, ": ", what));
  }

 private:
  std::string path_;
  std::vector<size_t> stack_;
};

// A struct with a `template <typename V> void Bind(V& v)` member.
template <typename T>
concept JsonBindable = requires(T& t, int& v) { t.Bind(v); };

namespace json_internal {

template <typename T>
concept HasExtra = requires(T& t) {
  { t.extra } -> std::convertible_to<Json&>;
};

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

}  // namespace json_internal

// --- Built-in readers and writers.

absl::Status ReadJson(const JsonValue& v, std::string& out, JsonPath& path);
absl::Status ReadJson(const JsonValue& v, bool& out, JsonPath& path);
absl::Status ReadJson(const JsonValue& v, int64_t& out, JsonPath& path);
absl::Status ReadJson(const JsonValue& v, double& out, JsonPath& path);
absl::Status ReadJson(const JsonValue& v, Json& out, JsonPath& path);
JsonValue WriteJson(const std::string& in, JsonAllocator& alloc);
JsonValue WriteJson(bool in, JsonAllocator& alloc);
JsonValue WriteJson(int64_t in, JsonAllocator& alloc);
JsonValue WriteJson(double in, JsonAllocator& alloc);
JsonValue WriteJson(const Json& in, JsonAllocator& alloc);

template <typename T>
absl::Status ReadJson(const JsonValue& v, std::vector<T>& out, JsonPath& path);
template <typename T>
absl::Status ReadJson(const JsonValue& v, std::map<std::string, T>& out, JsonPath& path);
template <JsonBindable T>
absl::Status ReadJson(const JsonValue& v, T& out, JsonPath& path);
template <typename T>
JsonValue WriteJson(const std::vector<T>& in, JsonAllocator& alloc);
template <typename T>
JsonValue WriteJson(const std::map<std::string, T>& in, JsonAllocator& alloc);
template <JsonBindable T>
JsonValue WriteJson(const T& in, JsonAllocator& alloc);

namespace json_internal {

// Reads the members a struct binds from an object.
class ObjectReader {
 public:
  ObjectReader(const JsonValue& object, JsonPath& path) : object_(object), path_(path) {}

  template <typename T>
  void operator()(absl::string_view key, T& field) {
    known_.push_back(key);
    if (!status_.ok()) {
      return;
    }
    const JsonValue* v = FindMember(object_, key);
    if constexpr (IsOptional<T>::value) {
      if (v == nullptr) {
        field.reset();
        return;
      }
      path_.PushKey(key);
      typename T::value_type value{};
      status_ = ReadJson(*v, value, path_);
      path_.Pop();
      field = std::move(value);
    } else {
      if (v == nullptr) {
        path_.PushKey(key);
        status_ = path_.Error("required member is missing");
        path_.Pop();
        return;
      }
      path_.PushKey(key);
      status_ = ReadJson(*v, field, path_);
      path_.Pop();
    }
  }

  // Copies the members not bound into `extra` (an object, or null when there are none).
  void CollectExtra(Json& extra) const;
  const absl::Status& status() const { return status_; }

 private:
  const JsonValue& object_;
  JsonPath& path_;
  std::vector<absl::string_view> known_;
  absl::Status status_;
};

// Writes the members a struct binds into an object.
class ObjectWriter {
 public:
  ObjectWriter(JsonValue& object, JsonAllocator& alloc) : object_(object), alloc_(alloc) {}

  template <typename T>
  void operator()(absl::string_view key, const T& field) {
    if constexpr (IsOptional<T>::value) {
      if (field.has_value()) {
        Add(key, WriteJson(*field, alloc_));
      }
    } else {
      Add(key, WriteJson(field, alloc_));
    }
  }

  void AddExtra(const Json& extra);

 private:
  void Add(absl::string_view key, JsonValue value);

  JsonValue& object_;
  JsonAllocator& alloc_;
};

}  // namespace json_internal

template <typename T>
absl::Status ReadJson(const JsonValue& v, std::vector<T>& out, JsonPath& path) {
  if (!v.IsArray()) {
    return path.Error("must be an array");
  }
  out.clear();
  out.reserve(v.Size());
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    path.PushIndex(i);
    T item{};
    absl::Status s = ReadJson(v[i], item, path);
    path.Pop();
    if (!s.ok()) {
      return s;
    }
    out.push_back(std::move(item));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadJson(const JsonValue& v, std::map<std::string, T>& out, JsonPath& path) {
  if (!v.IsObject()) {
    return path.Error("must be an object");
  }
  out.clear();
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    path.PushKey(key);
    T item{};
    absl::Status s = ReadJson(it->value, item, path);
    path.Pop();
    if (!s.ok()) {
      return s;
    }
    out.emplace(std::move(key), std::move(item));
  }
  return absl::OkStatus();
}

template <JsonBindable T>
absl::Status ReadJson(const JsonValue& v, T& out, JsonPath& path) {
  if (!v.IsObject()) {
    return path.Error("must be an object");
  }
  json_internal::ObjectReader reader(v, path);
  out.Bind(reader);
  if (!reader.status().ok()) {
    return reader.status();
  }
  if constexpr (json_internal::HasExtra<T>) {
    reader.CollectExtra(out.extra);
  }
  if constexpr (requires { out.Validate(path); }) {
    return out.Validate(path);
  }
  return absl::OkStatus();
}

template <typename T>
JsonValue WriteJson(const std::vector<T>& in, JsonAllocator& alloc) {
  JsonValue array(rapidjson::kArrayType);
  array.Reserve(static_cast<rapidjson::SizeType>(in.size()), alloc);
  for (const T& item : in) {
    array.PushBack(WriteJson(item, alloc), alloc);
  }
  return array;
}

template <typename T>
JsonValue WriteJson(const std::map<std::string, T>& in, JsonAllocator& alloc) {
  JsonValue object(rapidjson::kObjectType);
  for (const auto& [key, item] : in) {
    object.AddMember(JsonString(key, alloc), WriteJson(item, alloc), alloc);
  }
  return object;
}

template <JsonBindable T>
JsonValue WriteJson(const T& in, JsonAllocator& alloc) {
  JsonValue object(rapidjson::kObjectType);
  json_internal::ObjectWriter writer(object, alloc);
  const_cast<T&>(in).Bind(writer);  // Bind only reads members when given a writer
  if constexpr (json_internal::HasExtra<T>) {
    writer.AddExtra(in.extra);
  }
  return object;
}

// FromJson reads a T from `v`. Returns InvalidArgument naming the member path of the first
// problem, e.g. "tools[2].inputSchema: required member is missing".
template <typename T>
absl::StatusOr<T> FromJson(const JsonValue& v) {
  JsonPath path;
  T out{};
  absl::Status s = ReadJson(v, out, path);
  if (!s.ok()) {
    return s;
  }
  return out;
}

// ToJson writes `in` as an owned Json value.
template <typename T>
Json ToJson(const T& in) {
  Json j = Json::Object();
  JsonValue value = WriteJson(in, j.allocator());
  j.mutable_value() = value;
  return j;
}

}  // namespace mcpgw::mcp
