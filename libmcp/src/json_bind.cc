#include "mcpgw/mcp/json_bind.h"

#include <algorithm>
#include <cmath>

namespace mcpgw::mcp {

absl::Status ReadJson(const JsonValue& v, std::string& out, JsonPath& path) {
  if (!v.IsString()) {
    return path.Error("must be a string");
  }
  out.assign(v.GetString(), v.GetStringLength());
  return absl::OkStatus();
}

absl::Status ReadJson(const JsonValue& v, bool& out, JsonPath& path) {
  if (!v.IsBool()) {
    return path.Error("must be true or false");
  }
  out = v.GetBool();
  return absl::OkStatus();
}

absl::Status ReadJson(const JsonValue& v, int64_t& out, JsonPath& path) {
  if (v.IsInt64()) {
    out = v.GetInt64();
    return absl::OkStatus();
  }
  // 100.0 is an integer too (some JSON writers emit every number as a float).
  if (v.IsDouble() && std::isfinite(v.GetDouble()) && std::trunc(v.GetDouble()) == v.GetDouble() &&
      std::fabs(v.GetDouble()) < 9.0e15) {
    out = static_cast<int64_t>(v.GetDouble());
    return absl::OkStatus();
  }
  return path.Error("must be an integer");
}

absl::Status ReadJson(const JsonValue& v, double& out, JsonPath& path) {
  if (!v.IsNumber()) {
    return path.Error("must be a number");
  }
  out = v.GetDouble();
  return absl::OkStatus();
}

absl::Status ReadJson(const JsonValue& v, Json& out, JsonPath& /*path*/) {
  out = Json::Copy(v);
  return absl::OkStatus();
}

JsonValue WriteJson(const std::string& in, JsonAllocator& alloc) { return JsonString(in, alloc); }
JsonValue WriteJson(bool in, JsonAllocator& /*alloc*/) { return JsonValue(in); }
JsonValue WriteJson(int64_t in, JsonAllocator& /*alloc*/) { return JsonValue(in); }
JsonValue WriteJson(double in, JsonAllocator& /*alloc*/) { return JsonNumber(in); }
JsonValue WriteJson(const Json& in, JsonAllocator& alloc) {
  JsonValue v;
  v.CopyFrom(in.value(), alloc);
  return v;
}

namespace json_internal {

void ObjectReader::CollectExtra(Json& extra) const {
  extra = Json();
  for (auto it = object_.MemberBegin(); it != object_.MemberEnd(); ++it) {
    absl::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (std::find(known_.begin(), known_.end(), name) != known_.end()) {
      continue;
    }
    if (extra.is_null()) {
      extra = Json::Object();
    }
    JsonValue copy;
    copy.CopyFrom(it->value, extra.allocator());
    extra.mutable_value().AddMember(JsonString(name, extra.allocator()), copy,
                                    extra.allocator());
  }
}

void ObjectWriter::Add(absl::string_view key, JsonValue value) {
  object_.AddMember(JsonString(key, alloc_), value, alloc_);
}

void ObjectWriter::AddExtra(const Json& extra) {
  if (!extra.is_object()) {
    return;
  }
  for (auto it = extra.value().MemberBegin(); it != extra.value().MemberEnd(); ++it) {
    absl::string_view name(it->name.GetString(), it->name.GetStringLength());
    if (FindMember(object_, name) != nullptr) {
      continue;  // a bound member wins over a stale unknown one of the same name
    }
    JsonValue copy;
    copy.CopyFrom(it->value, alloc_);
    object_.AddMember(JsonString(name, alloc_), copy, alloc_);
  }
}

}  // namespace json_internal
}  // namespace mcpgw::mcp
