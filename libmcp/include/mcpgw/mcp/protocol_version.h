// File: protocol_version.h
//
// The MCP protocol revisions this library speaks, what each one allows, and version
// negotiation. Behaviour that differs between revisions asks Supports(version, feature)
// rather than comparing dates.
//
//   ProtocolVersion v = NegotiateVersion(requested);          // server side
//   if (Supports(v, Feature::kElicitation)) { ... }
#pragma once

#include <array>
#include <optional>

#include "absl/strings/string_view.h"

namespace mcpgw::mcp {

// Oldest first, so that ordering comparisons mean "older"/"newer".
enum class ProtocolVersion {
  k2024_11_05,
  k2025_03_26,
  k2025_06_18,
  k2025_11_25,
};

inline constexpr ProtocolVersion kLatestProtocolVersion = ProtocolVersion::k2025_11_25;
inline constexpr std::array<ProtocolVersion, 4> kSupportedProtocolVersions = {
    ProtocolVersion::k2025_11_25, ProtocolVersion::k2025_06_18, ProtocolVersion::k2025_03_26,
    ProtocolVersion::k2024_11_05};

// "2025-11-25" etc.
absl::string_view ToString(ProtocolVersion v);
// ParseProtocolVersion returns nullopt for a revision this library does not speak.
std::optional<ProtocolVersion> ParseProtocolVersion(absl::string_view s);

// NegotiateVersion is the server's answer to a client's `protocolVersion`: the same revision
// when supported, otherwise the latest supported one (the client then decides whether it can
// continue).
ProtocolVersion NegotiateVersion(absl::string_view requested);

// Protocol features whose presence depends on the revision.
enum class Feature {
  kJsonRpcBatches,          // 2025-03-26 only
  kToolAnnotations,         // >= 2025-03-26
  kAudioContent,            // >= 2025-03-26
  kCompletionsCapability,   // >= 2025-03-26
  kProgressMessage,         // >= 2025-03-26
  kInstructions,            // >= 2025-03-26
  kStreamableHttp,          // >= 2025-03-26
  kElicitation,             // >= 2025-06-18
  kStructuredContent,       // >= 2025-06-18 (structuredContent, outputSchema)
  kResourceLinks,           // >= 2025-06-18
  kTitles,                  // >= 2025-06-18
  kProtocolVersionHeader,   // >= 2025-06-18 (MCP-Protocol-Version on HTTP)
  kCompletionContext,       // >= 2025-06-18
  kIcons,                   // >= 2025-11-25
  kTasks,                   // >= 2025-11-25
  kUrlElicitation,          // >= 2025-11-25
  kSamplingTools,           // >= 2025-11-25
  kSsePriming,              // >= 2025-11-25 (priming events and `retry` on SSE)
};

// Supports reports whether revision `v` has `feature`.
bool Supports(ProtocolVersion v, Feature feature);

}  // namespace mcpgw::mcp
