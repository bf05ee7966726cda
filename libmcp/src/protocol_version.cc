#include "mcpgw/mcp/protocol_version.h"

namespace mcpgw::mcp {

absl::string_view ToString(ProtocolVersion v) {
  switch (v) {
    case ProtocolVersion::k2024_11_05:
      return "2024-11-05";
    case ProtocolVersion::k2025_03_26:
      return "2025-03-26";
    case ProtocolVersion::k2025_06_18:
      return "2025-06-18";
    case ProtocolVersion::k2025_11_25:
      return "2025-11-25";
  }
  return "unknown";
}

std::optional<ProtocolVersion> ParseProtocolVersion(absl::string_view s) {
  for (ProtocolVersion v : kSupportedProtocolVersions) {
    if (ToString(v) == s) {
      return v;
    }
  }
  return std::nullopt;
}

ProtocolVersion NegotiateVersion(absl::string_view requested) {
  return ParseProtocolVersion(requested).value_or(kLatestProtocolVersion);
}

bool Supports(ProtocolVersion v, Feature feature) {
  switch (feature) {
    case Feature::kJsonRpcBatches:
      return v == ProtocolVersion::k2025_03_26;
    case Feature::kToolAnnotations:
    case Feature::kAudioContent:
    case Feature::kCompletionsCapability:
    case Feature::kProgressMessage:
    case Feature::kInstructions:
    case Feature::kStreamableHttp:
      return v >= ProtocolVersion::k2025_03_26;
    case Feature::kElicitation:
    case Feature::kStructuredContent:
    case Feature::kResourceLinks:
    case Feature::kTitles:
    case Feature::kProtocolVersionHeader:
    case Feature::kCompletionContext:
      return v >= ProtocolVersion::k2025_06_18;
    case Feature::kIcons:
    case Feature::kTasks:
    case Feature::kUrlElicitation:
    case Feature::kSamplingTools:
    case Feature::kSsePriming:
      return v >= ProtocolVersion::k2025_11_25;
  }
  return false;
}

}  // namespace mcpgw::mcp
