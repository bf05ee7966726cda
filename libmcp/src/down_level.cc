#include "mcpgw/mcp/down_level.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace mcpgw::mcp {

void DownLevelItem(JsonValue& item, ProtocolVersion v) {
  if (!item.IsObject()) {
    return;
  }
  if (!Supports(v, Feature::kIcons)) {
    item.RemoveMember("icons");
    item.RemoveMember("execution");
  }
  if (!Supports(v, Feature::kTitles)) {
    item.RemoveMember("title");
  }
  if (!Supports(v, Feature::kStructuredContent)) {
    item.RemoveMember("outputSchema");
  }
  if (!Supports(v, Feature::kToolAnnotations)) {
    item.RemoveMember("annotations");
  }
}

void DownLevelContentBlock(JsonValue& block, JsonAllocator& alloc, ProtocolVersion v) {
  const JsonValue* type = FindMember(block, "type");
  if (type == nullptr || !type->IsString()) {
    return;
  }
  absl::string_view t = AsStringView(*type);
  std::string text;
  if (t == "resource_link" && !Supports(v, Feature::kResourceLinks)) {
    const JsonValue* uri = FindMember(block, "uri");
    text = absl::StrCat("Resource: ", uri != nullptr && uri->IsString() ? AsStringView(*uri) : "");
  } else if (t == "audio" && !Supports(v, Feature::kAudioContent)) {
    const JsonValue* mime = FindMember(block, "mimeType");
    text = absl::StrCat("[audio content (",
                        mime != nullptr && mime->IsString() ? AsStringView(*mime) : "unknown type",
                        ") that this client's protocol version cannot carry]");
  } else {
    return;
  }
  block.SetObject();
  block.AddMember("type", "text", alloc);
  block.AddMember("text", JsonString(text, alloc), alloc);
}

void DownLevelToolResult(Json& result, ProtocolVersion v) {
  JsonValue& r = result.mutable_value();
  if (!r.IsObject()) {
    return;
  }
  if (!Supports(v, Feature::kStructuredContent)) {
    r.RemoveMember("structuredContent");
  }
  JsonValue* content = FindMember(r, "content");
  if (content == nullptr || !content->IsArray()) {
    return;
  }
  for (JsonValue& block : content->GetArray()) {
    DownLevelContentBlock(block, result.allocator(), v);
  }
}

}  // namespace mcpgw::mcp
