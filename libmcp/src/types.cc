#include "mcpgw/mcp/types.h"

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mcpgw::mcp {
namespace {

// An error about member `key` of the object at `path`.
absl::Status MemberError(JsonPath& path, absl::string_view key, absl::string_view what) {
  path.PushKey(key);
  absl::Status s = path.Error(what);
  path.Pop();
  return s;
}

// A value quoted for an error message: escaped, and shortened when long.
std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 64;
  if (s.size() > kMax) {
    return absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMax)), "\"...");
  }
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

// The strings of an enum whose enumerators are 0, 1, … in the order of `names`.
template <typename E, size_t N>
struct EnumTable {
  absl::string_view what;  // for errors: "logging level"
  std::array<absl::string_view, N> names;

  absl::string_view Name(E e) const {
    auto i = static_cast<size_t>(e);
    return i < N ? names[i] : absl::string_view("(invalid)");
  }

  absl::StatusOr<E> Parse(absl::string_view s) const {
    for (size_t i = 0; i < N; ++i) {
      if (names[i] == s) {
        return static_cast<E>(i);
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown ", what, " ", Quote(s), "; expected one of: ", absl::StrJoin(names, ", ")));
  }

  absl::Status Read(const JsonValue& v, E& out, JsonPath& path) const {
    if (!v.IsString()) {
      return path.Error("must be a string");
    }
    absl::StatusOr<E> e = Parse(AsStringView(v));
    if (!e.ok()) {
      return path.Error(e.status().message());
    }
    out = *e;
    return absl::OkStatus();
  }

  JsonValue Write(E e, JsonAllocator& alloc) const { return JsonString(Name(e), alloc); }
};

constexpr EnumTable<Role, 2> kRoles{"role", {"user", "assistant"}};
constexpr EnumTable<LoggingLevel, 8> kLoggingLevels{
    "logging level",
    {"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}};
constexpr EnumTable<TaskStatus, 5> kTaskStatuses{
    "task status", {"working", "input_required", "completed", "failed", "cancelled"}};
constexpr EnumTable<TaskSupport, 3> kTaskSupports{"task support",
                                                  {"forbidden", "optional", "required"}};
constexpr EnumTable<IncludeContext, 3> kIncludeContexts{"includeContext value",
                                                        {"none", "thisServer", "allServers"}};
constexpr EnumTable<ToolChoiceMode, 3> kToolChoiceModes{"tool choice mode",
                                                        {"auto", "required", "none"}};
constexpr EnumTable<ElicitationMode, 2> kElicitationModes{"elicitation mode", {"form", "url"}};
constexpr EnumTable<ElicitAction, 3> kElicitActions{"elicitation action",
                                                    {"accept", "decline", "cancel"}};

// Reads the string `type` member of a tagged object (a content block or a reference).
absl::StatusOr<absl::string_view> ReadType(const JsonValue& v, JsonPath& path) {
  if (!v.IsObject()) {
    return path.Error("must be an object");
  }
  const JsonValue* type = FindMember(v, "type");
  if (type == nullptr) {
    return MemberError(path, "type", "required member is missing");
  }
  if (!type->IsString()) {
    return MemberError(path, "type", "must be a string");
  }
  return AsStringView(*type);
}

// The `type` string of a struct with a TypeTag member.
template <typename T>
constexpr absl::string_view TagOf() {
  return decltype(T::type)::value();
}

// Reads `v` as T and stores it in the variant `out`.
template <typename T, typename Variant>
absl::Status ReadAlternative(const JsonValue& v, Variant& out, JsonPath& path) {
  T item{};
  absl::Status s = ReadJson(v, item, path);
  if (!s.ok()) {
    return s;
  }
  out = std::move(item);
  return absl::OkStatus();
}

// Reads `v` as T into `out` when `type` is T's tag; returns whether it was.
template <typename T, typename Variant>
bool ReadIfTagged(absl::string_view type, const JsonValue& v, Variant& out, JsonPath& path,
                  absl::Status& status) {
  if (type != TagOf<T>()) {
    return false;
  }
  status = ReadAlternative<T>(v, out, path);
  return true;
}

// Reads `v` into the alternative among Ts whose tag equals `type`; nullopt when none does.
template <typename... Ts, typename Variant>
std::optional<absl::Status> ReadTagged(absl::string_view type, const JsonValue& v, Variant& out,
                                       JsonPath& path) {
  absl::Status status;
  bool found = (ReadIfTagged<Ts>(type, v, out, path, status) || ...);
  if (!found) {
    return std::nullopt;
  }
  return status;
}

}  // namespace

// --- RequestId

absl::Status ReadJson(const JsonValue& v, RequestId& out, JsonPath& path) {
  absl::StatusOr<RequestId> id = RequestId::FromJson(v);
  if (!id.ok()) {
    return path.Error("must be a string or an integer that fits in 64 bits");
  }
  out = *std::move(id);
  return absl::OkStatus();
}

JsonValue WriteJson(const RequestId& in, JsonAllocator& alloc) { return in.ToJson(alloc); }

// --- Enumerations

absl::string_view ToString(Role role) { return kRoles.Name(role); }
absl::StatusOr<Role> ParseRole(absl::string_view s) { return kRoles.Parse(s); }
absl::Status ReadJson(const JsonValue& v, Role& out, JsonPath& path) {
  return kRoles.Read(v, out, path);
}
JsonValue WriteJson(Role in, JsonAllocator& alloc) { return kRoles.Write(in, alloc); }

absl::string_view ToString(LoggingLevel level) { return kLoggingLevels.Name(level); }
absl::StatusOr<LoggingLevel> ParseLoggingLevel(absl::string_view s) {
  return kLoggingLevels.Parse(s);
}
absl::Status ReadJson(const JsonValue& v, LoggingLevel& out, JsonPath& path) {
  return kLoggingLevels.Read(v, out, path);
}
JsonValue WriteJson(LoggingLevel in, JsonAllocator& alloc) {
  return kLoggingLevels.Write(in, alloc);
}

absl::string_view ToString(TaskStatus status) { return kTaskStatuses.Name(status); }
absl::StatusOr<TaskStatus> ParseTaskStatus(absl::string_view s) { return kTaskStatuses.Parse(s); }
absl::Status ReadJson(const JsonValue& v, TaskStatus& out, JsonPath& path) {
  return kTaskStatuses.Read(v, out, path);
}
JsonValue WriteJson(TaskStatus in, JsonAllocator& alloc) { return kTaskStatuses.Write(in, alloc); }

bool IsTerminal(TaskStatus status) {
  return status == TaskStatus::kCompleted || status == TaskStatus::kFailed ||
         status == TaskStatus::kCancelled;
}

absl::string_view ToString(TaskSupport support) { return kTaskSupports.Name(support); }
absl::StatusOr<TaskSupport> ParseTaskSupport(absl::string_view s) { return kTaskSupports.Parse(s); }
absl::Status ReadJson(const JsonValue& v, TaskSupport& out, JsonPath& path) {
  return kTaskSupports.Read(v, out, path);
}
JsonValue WriteJson(TaskSupport in, JsonAllocator& alloc) { return kTaskSupports.Write(in, alloc); }

absl::string_view ToString(IncludeContext context) { return kIncludeContexts.Name(context); }
absl::StatusOr<IncludeContext> ParseIncludeContext(absl::string_view s) {
  return kIncludeContexts.Parse(s);
}
absl::Status ReadJson(const JsonValue& v, IncludeContext& out, JsonPath& path) {
  return kIncludeContexts.Read(v, out, path);
}
JsonValue WriteJson(IncludeContext in, JsonAllocator& alloc) {
  return kIncludeContexts.Write(in, alloc);
}

absl::string_view ToString(ToolChoiceMode mode) { return kToolChoiceModes.Name(mode); }
absl::StatusOr<ToolChoiceMode> ParseToolChoiceMode(absl::string_view s) {
  return kToolChoiceModes.Parse(s);
}
absl::Status ReadJson(const JsonValue& v, ToolChoiceMode& out, JsonPath& path) {
  return kToolChoiceModes.Read(v, out, path);
}
JsonValue WriteJson(ToolChoiceMode in, JsonAllocator& alloc) {
  return kToolChoiceModes.Write(in, alloc);
}

absl::string_view ToString(ElicitationMode mode) { return kElicitationModes.Name(mode); }
absl::StatusOr<ElicitationMode> ParseElicitationMode(absl::string_view s) {
  return kElicitationModes.Parse(s);
}
absl::Status ReadJson(const JsonValue& v, ElicitationMode& out, JsonPath& path) {
  return kElicitationModes.Read(v, out, path);
}
JsonValue WriteJson(ElicitationMode in, JsonAllocator& alloc) {
  return kElicitationModes.Write(in, alloc);
}

absl::string_view ToString(ElicitAction action) { return kElicitActions.Name(action); }
absl::StatusOr<ElicitAction> ParseElicitAction(absl::string_view s) {
  return kElicitActions.Parse(s);
}
absl::Status ReadJson(const JsonValue& v, ElicitAction& out, JsonPath& path) {
  return kElicitActions.Read(v, out, path);
}
JsonValue WriteJson(ElicitAction in, JsonAllocator& alloc) {
  return kElicitActions.Write(in, alloc);
}

// --- Validation

absl::Status ResourceContents::Validate(JsonPath& path) const {
  if (text.has_value() && blob.has_value()) {
    return path.Error("has both \"text\" and \"blob\"; resource contents have exactly one");
  }
  if (!text.has_value() && !blob.has_value()) {
    return path.Error("has neither \"text\" nor \"blob\"; resource contents need exactly one");
  }
  return absl::OkStatus();
}

absl::Status Tool::Validate(JsonPath& path) const {
  if (!input_schema.is_object()) {
    return MemberError(path, "inputSchema", "must be a JSON Schema object");
  }
  if (output_schema.has_value() && !output_schema->is_object()) {
    return MemberError(path, "outputSchema", "must be a JSON Schema object");
  }
  return absl::OkStatus();
}

absl::Status ElicitParams::Validate(JsonPath& path) const {
  switch (effective_mode()) {
    case ElicitationMode::kForm:
      if (!requested_schema.has_value()) {
        return MemberError(path, "requestedSchema", "required member is missing in form mode");
      }
      if (!requested_schema->is_object()) {
        return MemberError(path, "requestedSchema", "must be a JSON Schema object");
      }
      break;
    case ElicitationMode::kUrl:
      if (!url.has_value()) {
        return MemberError(path, "url", "required member is missing in url mode");
      }
      if (!elicitation_id.has_value()) {
        return MemberError(path, "elicitationId", "required member is missing in url mode");
      }
      break;
  }
  return absl::OkStatus();
}

// --- Content blocks

absl::string_view UnknownContent::type() const {
  const JsonValue* t = FindMember(json.value(), "type");
  return t != nullptr && t->IsString() ? AsStringView(*t) : absl::string_view();
}

absl::Status ReadJson(const JsonValue& v, UnknownContent& out, JsonPath& path) {
  absl::StatusOr<absl::string_view> type = ReadType(v, path);
  if (!type.ok()) {
    return type.status();
  }
  out.json = Json::Copy(v);
  return absl::OkStatus();
}

JsonValue WriteJson(const UnknownContent& in, JsonAllocator& alloc) {
  return WriteJson(in.json, alloc);
}

absl::Status ReadJson(const JsonValue& v, ContentBlock& out, JsonPath& path) {
  absl::StatusOr<absl::string_view> type = ReadType(v, path);
  if (!type.ok()) {
    return type.status();
  }
  std::optional<absl::Status> known =
      ReadTagged<TextContent, ImageContent, AudioContent, ResourceLink, EmbeddedResource,
                 ToolUseContent, ToolResultContent>(*type, v, out, path);
  if (known.has_value()) {
    return *known;
  }
  out = UnknownContent{Json::Copy(v)};
  return absl::OkStatus();
}

JsonValue WriteJson(const ContentBlock& in, JsonAllocator& alloc) {
  return std::visit([&alloc](const auto& block) { return WriteJson(block, alloc); }, in);
}

absl::string_view ContentType(const ContentBlock& block) {
  return std::visit(
      [](const auto& b) -> absl::string_view {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, UnknownContent>) {
          return b.type();
        } else {
          return TagOf<T>();
        }
      },
      block);
}

absl::Status ReadJson(const JsonValue& v, SamplingContent& out, JsonPath& path) {
  if (v.IsArray()) {
    out.is_array = true;
    return ReadJson(v, out.blocks, path);
  }
  if (!v.IsObject()) {
    return path.Error("must be a content block (an object) or an array of content blocks");
  }
  out.is_array = false;
  out.blocks.clear();
  ContentBlock block;
  absl::Status s = ReadJson(v, block, path);
  if (!s.ok()) {
    return s;
  }
  out.blocks.push_back(std::move(block));
  return absl::OkStatus();
}

JsonValue WriteJson(const SamplingContent& in, JsonAllocator& alloc) {
  if (!in.is_array && in.blocks.size() == 1) {
    return WriteJson(in.blocks.front(), alloc);
  }
  return WriteJson(in.blocks, alloc);
}

// --- Completion references

absl::Status ReadJson(const JsonValue& v, CompletionReference& out, JsonPath& path) {
  absl::StatusOr<absl::string_view> type = ReadType(v, path);
  if (!type.ok()) {
    return type.status();
  }
  std::optional<absl::Status> known =
      ReadTagged<PromptReference, ResourceTemplateReference>(*type, v, out, path);
  if (known.has_value()) {
    return *known;
  }
  return MemberError(
      path, "type",
      absl::StrCat("unknown reference type ", Quote(*type), "; expected \"",
                   TagOf<PromptReference>(), "\" or \"", TagOf<ResourceTemplateReference>(), "\""));
}

JsonValue WriteJson(const CompletionReference& in, JsonAllocator& alloc) {
  return std::visit([&alloc](const auto& ref) { return WriteJson(ref, alloc); }, in);
}

}  // namespace mcpgw::mcp
