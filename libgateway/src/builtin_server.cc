#include "mcpgw/gateway/builtin_server.h"

#include <algorithm>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "mcpgw/mcp/json.h"

namespace mcpgw::gateway {
namespace {

using mcp::Json;
using mcp::JsonValue;

constexpr size_t kDefaultLimit = 10;
constexpr size_t kMaxLimit = 50;

absl::StatusOr<mcp::Tool> MakeTool(absl::string_view name, absl::string_view title,
                                   absl::string_view description, absl::string_view input_schema,
                                   absl::string_view output_schema, bool read_only) {
  mcp::Tool tool;
  tool.name = std::string(name);
  tool.title = std::string(title);
  tool.description = std::string(description);
  absl::StatusOr<Json> input = Json::Parse(input_schema);
  absl::StatusOr<Json> output = Json::Parse(output_schema);
  if (!input.ok() || !output.ok()) {
    return absl::InternalError(absl::StrCat("the schemas of tool ", name,
                                            " do not parse: ", input.status().ToString(), "; ",
                                            output.status().ToString()));
  }
  tool.input_schema = *std::move(input);
  tool.output_schema = *std::move(output);
  mcp::ToolAnnotations annotations;
  annotations.read_only_hint = read_only;
  annotations.destructive_hint = false;
  annotations.open_world_hint = false;
  tool.annotations = std::move(annotations);
  return tool;
}

constexpr absl::string_view kNameInput = R"({
  "type": "object",
  "properties": {"name": {"type": "string", "description": "The server's name in the gateway"}},
  "required": ["name"],
  "additionalProperties": false})";

constexpr absl::string_view kServerStatusSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "kind": {"type": "string", "enum": ["process", "image", "in-process", "remote"]},
    "mode": {"type": "string", "enum": ["on-demand", "long-lived", "per-call"]},
    "enabled": {"type": "boolean"},
    "state": {"type": "string", "enum": ["stopped", "starting", "ready", "backing-off"]},
    "last_error": {"type": "string"},
    "tools": {"type": "integer", "minimum": 0}
  },
  "required": ["name", "kind", "mode", "enabled", "state"]})";

void Append(Json& array, Json item) {
  array.mutable_value().PushBack(JsonValue(item.mutable_value(), array.allocator()),
                                 array.allocator());
}

Json StatusJson(const ServerStatus& s) {
  Json j = Json::Object();
  j.Set("name", s.name);
  j.Set("kind", s.kind);
  j.Set("mode", ToString(s.mode));
  j.Set("enabled", JsonValue(s.enabled));
  j.Set("state", ToString(s.state));
  if (!s.last_error.empty()) {
    j.Set("last_error", s.last_error);
  }
  if (s.tools.has_value()) {
    j.Set("tools", JsonValue(static_cast<uint64_t>(*s.tools)));
  }
  return j;
}

std::string StatusLine(const ServerStatus& s) {
  std::string line = absl::StrCat(s.name, ": ", s.kind, ", ", ToString(s.mode), ", ",
                                  s.enabled ? "enabled" : "disabled", ", ", ToString(s.state));
  if (s.tools.has_value()) {
    absl::StrAppend(&line, ", ", *s.tools, *s.tools == 1 ? " tool" : " tools");
  }
  if (!s.last_error.empty()) {
    absl::StrAppend(&line, "; last error: ", s.last_error);
  }
  return line;
}

mcp::CallToolResult Structured(Json structured, std::string text) {
  mcp::CallToolResult r = mcp::TextResult(std::move(text));
  r.structured_content = std::move(structured);
  return r;
}

absl::string_view KindName(ServerDefinition::Kind kind) {
  switch (kind) {
    case ServerDefinition::Kind::kImage:
      return "image";
    case ServerDefinition::Kind::kCommand:
      return "command";
    case ServerDefinition::Kind::kBuiltin:
      return "builtin";
    case ServerDefinition::Kind::kRemote:
      return "remote";
  }
  return "?";
}

}  // namespace

std::vector<CatalogMatch> SearchCatalogs(const std::vector<Catalog>& catalogs,
                                         absl::string_view query, size_t limit) {
  std::vector<std::string> words;
  for (absl::string_view w : absl::StrSplit(query, absl::ByAnyChar(" \t\n,"), absl::SkipEmpty())) {
    words.push_back(absl::AsciiStrToLower(w));
  }
  std::vector<CatalogMatch> matches;
  for (const Catalog& catalog : catalogs) {
    for (const ServerDefinition& def : catalog.servers) {
      std::string name = absl::AsciiStrToLower(def.name);
      std::string title = absl::AsciiStrToLower(def.title);
      std::string description = absl::AsciiStrToLower(def.description);
      int score = 0;
      bool all = true;
      for (const std::string& w : words) {
        int s = (name == w ? 20 : 0) + (absl::StrContains(name, w) ? 10 : 0) +
                (absl::StrContains(title, w) ? 5 : 0) + (absl::StrContains(description, w) ? 1 : 0);
        if (s == 0) {
          all = false;
          break;
        }
        score += s;
      }
      if (all) {
        matches.push_back({.catalog = &catalog, .server = &def, .score = score});
      }
    }
  }
  std::stable_sort(
      matches.begin(), matches.end(), [](const CatalogMatch& a, const CatalogMatch& b) {
        return a.score != b.score ? a.score > b.score : a.server->name < b.server->name;
      });
  if (matches.size() > limit) {
    matches.resize(limit);
  }
  return matches;
}

struct BuiltinServer::State {
  BuiltinServerOptions options;
  absl::Mutex mu;
  std::weak_ptr<Gateway> gateway ABSL_GUARDED_BY(mu);
  std::string own_name ABSL_GUARDED_BY(mu);

  std::pair<std::shared_ptr<Gateway>, std::string> Bound() {
    absl::MutexLock lock(&mu);
    return {gateway.lock(), own_name};
  }

  // Where the catalogs define `name`, for a hint: "catalog 'default'".
  std::string CatalogHint(absl::string_view name) const {
    for (const Catalog& c : options.catalogs) {
      if (c.Find(name) != nullptr) {
        return absl::StrCat("; '", name, "' is in catalog '", c.name,
                            "': add it to the profile's servers to run it");
      }
    }
    return "";
  }

  absl::StatusOr<mcp::CallToolResult> ListServers() {
    auto [gw, own] = Bound();
    if (gw == nullptr) {
      return mcp::ToolError("mcpgw is not attached to a gateway");
    }
    Json list = Json::Array();
    std::string text;
    for (const ServerStatus& s : gw->ServerStatuses()) {
      Append(list, StatusJson(s));
      absl::StrAppend(&text, text.empty() ? "" : "\n", StatusLine(s));
    }
    Json out = Json::Object();
    out.Set("servers", list);
    return Structured(std::move(out), text.empty() ? "no servers" : text);
  }

  absl::StatusOr<mcp::CallToolResult> SetEnabled(const Json& args, bool on) {
    auto [gw, own] = Bound();
    if (gw == nullptr) {
      return mcp::ToolError("mcpgw is not attached to a gateway");
    }
    const JsonValue* name_value = mcp::FindMember(args.value(), "name");
    std::string name = name_value != nullptr && name_value->IsString()
                           ? std::string(mcp::AsStringView(*name_value))
                           : "";
    if (!on && name == own) {
      return mcp::ToolError(absl::StrCat("'", name,
                                         "' serves these tools: disabled, nothing could enable "
                                         "a server again"));
    }
    absl::Status done = gw->SetServerEnabled(name, on);
    if (!done.ok()) {
      std::string message(done.message());
      if (absl::IsNotFound(done)) {
        message += CatalogHint(name);
      }
      return mcp::ToolError(message);
    }
    for (const ServerStatus& s : gw->ServerStatuses()) {
      if (s.name == name) {
        return Structured(StatusJson(s), StatusLine(s));
      }
    }
    return mcp::ToolError(absl::StrCat("server '", name, "' vanished"));
  }

  absl::StatusOr<mcp::CallToolResult> Search(const Json& args) {
    const JsonValue* q = mcp::FindMember(args.value(), "query");
    std::string query = q != nullptr && q->IsString() ? std::string(mcp::AsStringView(*q)) : "";
    size_t limit = kDefaultLimit;
    if (const JsonValue* l = mcp::FindMember(args.value(), "limit");
        l != nullptr && l->IsUint64()) {
      limit = std::clamp<size_t>(l->GetUint64(), 1, kMaxLimit);
    }
    std::vector<ServerStatus> statuses;
    if (auto [gw, own] = Bound(); gw != nullptr) {
      statuses = gw->ServerStatuses();
    }
    Json list = Json::Array();
    std::string text;
    for (const CatalogMatch& m : SearchCatalogs(options.catalogs, query, limit)) {
      const ServerDefinition& def = *m.server;
      Json j = Json::Object();
      j.Set("name", def.name);
      j.Set("catalog", m.catalog->name);
      j.Set("kind", KindName(def.kind));
      if (!def.title.empty()) {
        j.Set("title", def.title);
      }
      if (!def.description.empty()) {
        j.Set("description", def.description);
      }
      auto here = std::find_if(statuses.begin(), statuses.end(),
                               [&](const ServerStatus& s) { return s.name == def.name; });
      j.Set("in_gateway", JsonValue(here != statuses.end()));
      if (here != statuses.end()) {
        j.Set("enabled", JsonValue(here->enabled));
      }
      j.Set("score", JsonValue(m.score));
      Append(list, std::move(j));
      absl::StrAppend(&text, text.empty() ? "" : "\n", def.name, " (catalog ", m.catalog->name,
                      def.title.empty() ? "" : ", ", def.title, ")",
                      def.description.empty() ? "" : ": ", def.description,
                      here == statuses.end() ? ""
                      : here->enabled        ? " [in this gateway]"
                                             : " [in this gateway, disabled]");
    }
    Json out = Json::Object();
    out.Set("servers", list);
    return Structured(std::move(out), text.empty()
                                          ? absl::StrCat("no catalog server matches '", query, "'")
                                          : text);
  }
};

absl::StatusOr<std::shared_ptr<BuiltinServer>> BuiltinServer::Create(BuiltinServerOptions options) {
  auto state = std::make_shared<State>();
  state->options = std::move(options);
  mcp::ServerOptions server_options;
  server_options.info = mcp::Implementation{.name = "mcpgw", .version = "0.1.0"};
  server_options.instructions =
      "The gateway's own tools: list_servers shows every server behind this gateway; "
      "enable_server and disable_server switch one on or off; search_catalog finds servers "
      "the catalogs know.";
  std::shared_ptr<mcp::Server> server = mcp::Server::Create(std::move(server_options));
  // The handlers share the state (it holds the gateway weakly: no cycle).
  auto with_state = [state](auto fn) {
    return
        [state, fn](const Json& args, mcp::RequestContext&) -> absl::StatusOr<mcp::CallToolResult> {
          return fn(*state, args);
        };
  };
  auto add = [&server](absl::StatusOr<mcp::Tool> tool, mcp::SyncToolHandler handler) {
    return tool.ok() ? server->AddSyncTool(*std::move(tool), std::move(handler)) : tool.status();
  };
  absl::Status added =
      add(MakeTool(
              "list_servers", "List servers",
              "Lists the servers behind this gateway: kind (process, image, in-process, remote), "
              "run mode, whether enabled, state (stopped, starting, ready, backing-off), the last "
              "error, and how many tools each exposes once listed.",
              R"({"type": "object", "properties": {}, "additionalProperties": false})",
              absl::StrCat(
                  R"({"type": "object", "properties": {"servers": {"type": "array", "items": )",
                  kServerStatusSchema, R"(}}, "required": ["servers"]})"),
              /*read_only=*/true),
          with_state([](State& s, const Json&) { return s.ListServers(); }));
  if (added.ok()) {
    added =
        add(MakeTool("enable_server", "Enable a server",
                     "Enables a disabled server of this gateway: its tools, prompts and resources "
                     "are listed again (the client is told their lists changed).",
                     kNameInput, kServerStatusSchema, /*read_only=*/false),
            with_state([](State& s, const Json& args) { return s.SetEnabled(args, true); }));
  }
  if (added.ok()) {
    added =
        add(MakeTool("disable_server", "Disable a server",
                     "Disables a server of this gateway: it is stopped, and its tools, prompts and "
                     "resources leave the lists (the client is told) until it is enabled again.",
                     kNameInput, kServerStatusSchema, /*read_only=*/false),
            with_state([](State& s, const Json& args) { return s.SetEnabled(args, false); }));
  }
  if (added.ok()) {
    added =
        add(MakeTool("search_catalog", "Search the catalogs",
                     "Searches the catalogs' servers by keywords (every word must appear in the "
                     "name, title or description; case-insensitive), best matches first.",
                     R"({"type": "object",
                     "properties": {
                       "query": {"type": "string", "description": "Keywords, e.g. \"time zone\""},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}},
                     "required": ["query"],
                     "additionalProperties": false})",
                     R"({"type": "object", "properties": {"servers": {"type": "array", "items": {
                       "type": "object",
                       "properties": {
                         "name": {"type": "string"}, "catalog": {"type": "string"},
                         "kind": {"type": "string", "enum": ["image", "command", "builtin", "remote"]},
                         "title": {"type": "string"}, "description": {"type": "string"},
                         "in_gateway": {"type": "boolean"}, "enabled": {"type": "boolean"},
                         "score": {"type": "integer"}},
                       "required": ["name", "catalog", "kind", "in_gateway", "score"]}}},
                     "required": ["servers"]})",
                     /*read_only=*/true),
            with_state([](State& s, const Json& args) { return s.Search(args); }));
  }
  if (!added.ok()) {
    return absl::InternalError(absl::StrCat("the built-in server's tools: ", added.message()));
  }
  return std::shared_ptr<BuiltinServer>(new BuiltinServer(std::move(server), std::move(state)));
}

void BuiltinServer::Bind(std::weak_ptr<Gateway> gateway, std::string own_name) {
  absl::MutexLock lock(&state_->mu);
  state_->gateway = std::move(gateway);
  state_->own_name = std::move(own_name);
}

}  // namespace mcpgw::gateway
