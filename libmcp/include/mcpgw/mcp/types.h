// File: types.h
//
// MCP schema types (protocol revision 2025-11-25, readable and writable for every older
// revision this library negotiates), mapped to JSON with json_bind.h. Member names are the
// schema's, in snake_case; `_meta` is `meta`. Every struct keeps unknown members in `extra`.
//
//   MCPGW_ASSIGN_OR_RETURN(Tool tool, FromJson<Tool>(value));
//   Json out = ToJson(tool);
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_bind.h"

namespace mcpgw::mcp {

// An icon for display (2025-11-25).
struct Icon {
  std::string src;
  std::optional<std::string> mime_type;
  std::optional<std::vector<std::string>> sizes;
  std::optional<std::string> theme;  // "light" | "dark"
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("src", src);
    v("mimeType", mime_type);
    v("sizes", sizes);
    v("theme", theme);
  }
};

// Name and version of an MCP implementation (clientInfo / serverInfo).
struct Implementation {
  std::string name;
  std::string version;
  std::optional<std::string> title;        // >= 2025-06-18
  std::optional<std::string> description;  // 2025-11-25
  std::optional<std::vector<Icon>> icons;  // 2025-11-25
  std::optional<std::string> website_url;  // 2025-11-25
  Json extra;

  template <typename V>
  void Bind(V& v) {
    v("name", name);
    v("version", version);
    v("title", title);
    v("description", description);
    v("icons", icons);
    v("websiteUrl", website_url);
  }
};

}  // namespace mcpgw::mcp
