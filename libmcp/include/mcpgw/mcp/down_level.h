// File: down_level.h
//
// Rewrites what a newer revision of MCP allows into what a client at an older revision
// understands: members it does not know are removed, content blocks of a type it lacks become
// text describing them. The Server applies these to its own answers; a gateway applies them to
// answers it passes on from servers that speak a newer revision than its client.
//
//   if (version != kLatestProtocolVersion) DownLevelToolResult(result, version);
#pragma once

#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/protocol_version.h"

namespace mcpgw::mcp {

// DownLevelItem removes from a listed tool, prompt, resource or resource template the members
// revision `v` does not know (icons, execution, title, outputSchema, annotations).
void DownLevelItem(JsonValue& item, ProtocolVersion v);

// DownLevelContentBlock turns a content block of a type revision `v` lacks (resource_link
// before 2025-06-18, audio before 2025-03-26) into a text block describing it; strings are
// allocated with `alloc`. Other blocks are left as they are.
void DownLevelContentBlock(JsonValue& block, JsonAllocator& alloc, ProtocolVersion v);

// DownLevelToolResult rewrites a CallToolResult for revision `v`: no structuredContent before
// 2025-06-18, and every content block down-levelled.
void DownLevelToolResult(Json& result, ProtocolVersion v);

}  // namespace mcpgw::mcp
