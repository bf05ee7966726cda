#include "definition_reader.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mcpgw/gateway/naming.h"
#include "mcpgw/gateway/placeholders.h"
#include "mcpgw/gateway/shell_words.h"
#include "mcpgw/mcp/json_bind.h"
#include "mcpgw/mcp/json_schema.h"

namespace mcpgw::gateway::internal {
bool IsEnvName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

namespace {

// A secret name is what may follow "secret." in a placeholder.
bool IsSecretName(absl::string_view name) {
  absl::StatusOr<std::vector<Placeholder>> p =
      ParsePlaceholders(absl::StrCat("{{secret.", name, "}}"));
  return p.ok() && p->size() == 1 && p->front().key == name;
}

const std::vector<std::string>& ToolKeys() {
  static const auto* keys = new std::vector<std::string>{
      "name",        "title", "description", "inputSchema", "outputSchema",
      "annotations", "icons", "execution",   "_meta"};
  return *keys;
}

absl::StatusOr<std::vector<SecretSpec>> ReadSecrets(const YamlNode& node) {
  absl::StatusOr<std::vector<YamlNode>> items = node.Items("a list of secrets");
  if (!items.ok()) {
    return items.status();
  }
  std::vector<SecretSpec> out;
  std::set<std::string> names;
  for (const YamlNode& item : *items) {
    absl::StatusOr<YamlMap> map = YamlMap::Read(item, "a secret (a map with name, env, how)");
    if (!map.ok()) {
      return map.status();
    }
    if (absl::Status s = map->CheckKeys({"name", "env", "how"}); !s.ok()) {
      return s;
    }
    SecretSpec secret;
    const YamlNode* name = map->Find("name");
    if (name == nullptr) {
      return item.Error("a secret needs a 'name' (its name in the secret store)");
    }
    absl::StatusOr<std::string> n = name->NonEmptyString("a secret name");
    if (!n.ok()) {
      return n.status();
    }
    if (!IsSecretName(*n)) {
      return name->Error(
          absl::StrCat("'", *n,
                       "' is not a valid secret name: use dot-separated parts of letters, digits, "
                       "'_' and '-'"));
    }
    if (!names.insert(*n).second) {
      return name->Error(absl::StrCat("secret '", *n, "' is declared twice"));
    }
    secret.name = *n;
    if (const YamlNode* env = map->Find("env")) {
      absl::StatusOr<std::string> e = env->NonEmptyString("an environment variable name");
      if (!e.ok()) {
        return e.status();
      }
      if (!IsEnvName(*e)) {
        return env->Error(absl::StrCat("'", *e, "' is not an environment variable name"));
      }
      secret.env = *e;
    }
    if (const YamlNode* how = map->Find("how")) {
      absl::StatusOr<std::string> h = how->String();
      if (!h.ok()) {
        return h.status();
      }
      secret.how = *h;
    }
    out.push_back(std::move(secret));
  }
  return out;
}

absl::StatusOr<std::vector<VolumeSpec>> ReadVolumes(const YamlNode& node) {
  absl::StatusOr<std::vector<YamlNode>> items =
      node.Items("a list of volumes (\"source:target[:ro]\")");
  if (!items.ok()) {
    return items.status();
  }
  std::vector<VolumeSpec> out;
  for (const YamlNode& item : *items) {
    absl::StatusOr<std::string> text = item.NonEmptyString("a volume \"source:target[:ro]\"");
    if (!text.ok()) {
      return text.status();
    }
    std::vector<std::string> parts = absl::StrSplit(*text, ':');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) {
      return item.Error(
          absl::StrCat("'", *text, "' is not \"source:target\" or \"source:target:ro\""));
    }
    VolumeSpec v{.source = parts[0], .target = parts[1], .read_only = false};
    if (parts.size() == 3) {
      if (parts[2] == "ro") {
        v.read_only = true;
      } else if (parts[2] != "rw") {
        return item.Error(absl::StrCat("unknown volume option '", parts[2], "'; use ro or rw"));
      }
    }
    absl::StatusOr<std::vector<Placeholder>> refs = ParsePlaceholders(v.source);
    if (!refs.ok()) {
      return item.Error(refs.status().message());
    }
    for (const Placeholder& p : *refs) {
      if (p.kind == Placeholder::Kind::kSecret) {
        return item.Error(
            absl::StrCat(ToString(p),
                         ": secrets reach only env values; a volume "
                         "source is visible to anyone who can inspect the container"));
      }
    }
    if (ContainsPlaceholder(v.target)) {
      return item.Error("the volume target may not hold placeholders");
    }
    if (v.target.front() != '/') {
      return item.Error(absl::StrCat("the target '", v.target,
                                     "' must be an absolute path inside the container"));
    }
    if (refs->empty() && v.source.front() != '/' && !IsValidName(v.source)) {
      return item.Error(absl::StrCat("the source '", v.source,
                                     "' must be an absolute host path or a volume name"));
    }
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<mcp::Tool>> ReadTools(const YamlNode& node) {
  absl::StatusOr<std::vector<YamlNode>> items = node.Items("a list of tool definitions");
  if (!items.ok()) {
    return items.status();
  }
  std::vector<mcp::Tool> out;
  std::set<std::string> names;
  for (const YamlNode& item : *items) {
    absl::StatusOr<YamlMap> map =
        YamlMap::Read(item, "a tool definition (a map with name, description, inputSchema)");
    if (!map.ok()) {
      return map.status();
    }
    if (absl::Status s = map->CheckKeys(ToolKeys()); !s.ok()) {
      return s;
    }
    const YamlNode* name = map->Find("name");
    if (name == nullptr) {
      return item.Error("a tool definition needs a 'name'");
    }
    if (map->Find("inputSchema") == nullptr) {
      return item.Error("a tool definition needs an 'inputSchema' (a JSON Schema object)");
    }
    absl::StatusOr<std::string> n = name->NonEmptyString("a tool name");
    if (!n.ok()) {
      return n.status();
    }
    if (!IsValidName(*n)) {
      return name->Error(
          absl::StrCat("'", *n, "' is not a valid tool name (1-128 of A-Z a-z 0-9 _ . -)"));
    }
    if (!names.insert(*n).second) {
      return name->Error(absl::StrCat("tool '", *n, "' is defined twice"));
    }
    absl::StatusOr<mcp::Json> json = item.ToJson();
    if (!json.ok()) {
      return json.status();
    }
    absl::StatusOr<mcp::Tool> tool = mcp::FromJson<mcp::Tool>(json->value());
    if (!tool.ok()) {
      return item.Error(tool.status().message());
    }
    const YamlNode* schema_node = map->Find("inputSchema");
    absl::StatusOr<mcp::JsonSchema> schema = mcp::JsonSchema::Compile(tool->input_schema.value());
    if (!schema.ok()) {
      return schema_node->Error(schema.status().message());
    }
    out.push_back(*std::move(tool));
  }
  return out;
}

absl::StatusOr<std::string> ReadConfigSchema(const YamlNode& node) {
  if (!node.is_map()) {
    return node.Error(absl::StrCat("expected a JSON Schema (a map), got ", node.Describe()));
  }
  absl::StatusOr<mcp::Json> json = node.ToJson();
  if (!json.ok()) {
    return json.status();
  }
  absl::StatusOr<mcp::JsonSchema> schema = mcp::JsonSchema::Compile(json->value());
  if (!schema.ok()) {
    return node.Error(schema.status().message());
  }
  return json->Serialize();
}

// The top-level property names of a config schema; nullopt when it lists none (then any key
// may be valid).
std::optional<std::set<std::string>> SchemaProperties(absl::string_view schema_text) {
  absl::StatusOr<mcp::Json> schema = mcp::Json::Parse(schema_text);
  if (!schema.ok()) {
    return std::nullopt;
  }
  const mcp::JsonValue* props = mcp::FindMember(schema->value(), "properties");
  if (props == nullptr || !props->IsObject()) {
    return std::nullopt;
  }
  std::set<std::string> out;
  for (const auto& m : props->GetObject()) {
    out.insert(std::string(mcp::AsStringView(m.name)));
  }
  return out;
}

absl::StatusOr<int> ReadPositiveInt(const YamlNode& node, absl::string_view what) {
  absl::StatusOr<int64_t> v = node.Int(what);
  if (!v.ok()) {
    return v.status();
  }
  if (*v < 1 || *v > 1000000) {
    return node.Error(absl::StrCat("expected ", what, ", got ", *v));
  }
  return static_cast<int>(*v);
}

absl::Status ReadLimits(const YamlNode& node, RunSettings& out) {
  absl::StatusOr<YamlMap> map = YamlMap::Read(node, "a map of limits (cpus, memory, pids)");
  if (!map.ok()) {
    return map.status();
  }
  if (absl::Status s = map->CheckKeys({"cpus", "memory", "pids"}); !s.ok()) {
    return s;
  }
  if (const YamlNode* cpus = map->Find("cpus")) {
    absl::StatusOr<double> v = cpus->Number("a number of CPU cores such as 1 or 0.5");
    if (!v.ok()) {
      return v.status();
    }
    if (*v < 0 || *v > 1024) {
      return cpus->Error(absl::StrCat("expected a number of CPU cores (0 for no limit), got ",
                                      cpus->raw().Scalar()));
    }
    out.cpus = *v;
  }
  if (const YamlNode* memory = map->Find("memory")) {
    absl::StatusOr<std::string> text = memory->String("a size such as 512m or 2g");
    if (!text.ok()) {
      return text.status();
    }
    absl::StatusOr<int64_t> bytes = ParseMemorySize(*text);
    if (!bytes.ok()) {
      return memory->Error(bytes.status().message());
    }
    out.memory_bytes = *bytes;
  }
  if (const YamlNode* pids = map->Find("pids")) {
    absl::StatusOr<int64_t> v = pids->Int("a number of processes (0 for the engine's default)");
    if (!v.ok()) {
      return v.status();
    }
    if (*v < 0) {
      return pids->Error(absl::StrCat("expected a number of processes, got ", *v));
    }
    out.pids_limit = *v;
  }
  return absl::OkStatus();
}


// RFC 9110 token characters: what a header name is made of.
bool IsHeaderName(absl::string_view name) {
  static constexpr absl::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           kSpecials.find(c) != absl::string_view::npos;
  });
}

// Headers the HTTP transport sets itself (or that frame the request): a configuration may not
// set them.
bool IsTransportHeader(absl::string_view name) {
  static const auto* names = new std::vector<std::string>{
      "accept",     "content-type",      "content-length",   "mcp-session-id",
      "mcp-protocol-version", "last-event-id", "host", "connection",
      "transfer-encoding",    "upgrade",       "te",   "keep-alive", "expect"};
  std::string lower = absl::AsciiStrToLower(name);
  return std::find(names->begin(), names->end(), lower) != names->end();
}

absl::StatusOr<RemoteSpec> ReadRemote(const YamlNode& node,
                                      std::map<std::string, SourceLocation>& header_locations) {
  absl::StatusOr<YamlMap> map =
      YamlMap::Read(node, "a map with the server's url (and transport, headers)");
  if (!map.ok()) {
    return map.status();
  }
  if (absl::Status s = map->CheckKeys({"url", "transport", "headers"}); !s.ok()) {
    return s;
  }
  RemoteSpec remote;
  const YamlNode* url = map->Find("url");
  if (url == nullptr) {
    return node.Error("needs a 'url' (https://host/path of the MCP endpoint)");
  }
  absl::StatusOr<std::string> u = url->NonEmptyString("a URL");
  if (!u.ok()) {
    return u.status();
  }
  if (absl::Status s = CheckRemoteUrl(*u); !s.ok()) {
    return url->Error(s.message());
  }
  remote.url = *u;
  if (const YamlNode* transport = map->Find("transport")) {
    absl::StatusOr<std::string> t = transport->String("auto, streamable, http or sse");
    if (!t.ok()) {
      return t.status();
    }
    absl::StatusOr<RemoteTransport> kind = ParseRemoteTransport(*t);
    if (!kind.ok()) {
      return transport->Error(kind.status().message());
    }
    remote.transport = *kind;
  }
  if (const YamlNode* headers = map->Find("headers")) {
    absl::StatusOr<YamlMap> entries =
        YamlMap::Read(*headers, "a map of HTTP headers (Name: value)", /*null_is_empty=*/true);
    if (!entries.ok()) {
      return entries.status();
    }
    std::set<std::string> seen;
    for (const YamlMap::Entry& e : entries->entries()) {
      if (!IsHeaderName(e.key)) {
        return e.key_node.Error(
            "not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~, such as X-Api-Key)");
      }
      if (IsTransportHeader(e.key)) {
        return e.key_node.Error(absl::StrCat(
            "the HTTP transport sets '", e.key, "' itself; a configuration may not"));
      }
      if (!seen.insert(absl::AsciiStrToLower(e.key)).second) {
        return e.key_node.Error(absl::StrCat(
            "header '", e.key, "' is given twice (header names are case-insensitive)"));
      }
      absl::StatusOr<std::string> value = e.value.NonEmptyString("a header value");
      if (!value.ok()) {
        return value.status();
      }
      if (std::any_of(value->begin(), value->end(), [](char c) {
            return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
          })) {
        return e.value.Error("a header value may not hold line breaks or control characters");
      }
      absl::StatusOr<std::vector<Placeholder>> refs = ParsePlaceholders(*value);
      if (!refs.ok()) {
        return e.value.Error(refs.status().message());
      }
      header_locations[absl::StrCat("remote.headers.", e.key)] = e.value.location();
      remote.headers.emplace_back(e.key, *std::move(value));
    }
  }
  return remote;
}


// CheckRemoteReferences checks a remote server's header placeholders as env ones are checked,
// that no secret is meant for an environment, and that no secret goes out in clear text.
absl::Status CheckRemoteReferences(const ServerDefinition& def, const YamlNode& remote_node,
                                   std::map<std::string, SourceLocation>& header_locations,
                                   const YamlNode* secrets_node,
                                   const DefinitionOptions& options) {
  for (const SecretSpec& secret : def.secrets) {
    if (!secret.env.empty()) {
      return secrets_node->Error(absl::StrCat(
          "secret '", secret.name, "' has an 'env', but a remote server has no environment; use {{secret.",
          secret.name, "}} in a header value under 'remote.headers'"));
    }
  }
  std::string headers_path = JoinPath(remote_node.path(), "headers");
  auto fail = [&](absl::string_view name, absl::string_view message) {
    return LocatedError(header_locations[absl::StrCat("remote.headers.", name)],
                        JoinPath(headers_path, name), message);
  };
  std::map<std::string, std::string> headers(def.remote.headers.begin(),
                                             def.remote.headers.end());
  if (absl::Status s = CheckEnvReferences(headers, def, fail); !s.ok()) {
    return s;
  }
  bool clear_text = absl::StartsWithIgnoreCase(def.remote.url, "http://") &&
                    !IsLoopbackUrl(def.remote.url);
  for (const auto& [name, value] : def.remote.headers) {
    std::vector<Placeholder> refs = ParsePlaceholders(value).value_or(std::vector<Placeholder>{});
    for (const Placeholder& p : refs) {
      if (p.kind == Placeholder::Kind::kSecret && clear_text) {
        return fail(name, absl::StrCat(
                              ToString(p), " would travel in clear text to ", def.remote.url,
                              ": use https:// (plain http:// may carry secrets only to a "
                              "loopback host such as 127.0.0.1 or localhost)"));
      }
      if (p.kind == Placeholder::Kind::kConfig && !options.in_profile &&
          def.config_schema.empty()) {
        return fail(name, absl::StrCat(ToString(p),
                                       " needs a config, but the server declares no 'config' "
                                       "schema"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& DefinitionKeys() {
  static const auto* keys = new std::vector<std::string>{
      "title",   "description", "image",   "command", "remote", "args",  "builtin",
      "env",     "secrets",     "config",  "network", "volumes", "tools", "run"};
  return *keys;
}

const std::vector<std::string>& InlineOnlyKeys() {
  static const auto* keys = new std::vector<std::string>{
      "title", "description", "image", "command", "remote", "args", "builtin", "secrets",
      "volumes"};
  return *keys;
}

const std::vector<std::string>& RunKeys() {
  static const auto* keys =
      new std::vector<std::string>{"mode", "idle_timeout", "per_call_concurrency", "limits"};
  return *keys;
}

absl::Status CheckServerName(const YamlNode& key, absl::string_view name) {
  if (!IsValidName(name)) {
    return key.Error(absl::StrCat("'", name,
                                  "' is not a valid server name: use 1-128 of A-Z a-z 0-9 _ . - "
                                  "(it prefixes tool names)"));
  }
  if (name.find(kPrefixSeparator) != absl::string_view::npos) {
    return key.Error(absl::StrCat("'", name, "' holds '", kPrefixSeparator,
                                  "', which separates a server's name from its tools' names"));
  }
  return absl::OkStatus();
}

absl::Status CheckRemoteUrl(absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("'", url, "' ", why));
  };
  if (ContainsPlaceholder(url)) {
    return absl::InvalidArgumentError(
        "placeholders are not allowed in the url (it shows in logs and errors); send "
        "credentials in a header, whose value may use {{secret.NAME}}");
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return bad("is not a URL: it holds a blank, a control or a non-ASCII character");
    }
  }
  absl::string_view rest = url;
  std::string scheme = absl::AsciiStrToLower(rest.substr(0, rest.find("://")));
  if (rest.find("://") == absl::string_view::npos || (scheme != "http" && scheme != "https")) {
    return bad("is not an http:// or https:// URL");
  }
  rest.remove_prefix(scheme.size() + 3);
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (rest.find('#') != absl::string_view::npos) {
    return bad("has a #fragment, which means nothing to a server; remove it");
  }
  if (authority.find('@') != absl::string_view::npos) {
    return bad(
        "holds a user name or password, which would show in logs and errors; send "
        "credentials in a header instead (headers may use {{secret.NAME}})");
  }
  absl::string_view host = authority;
  absl::string_view port;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return bad("has an unterminated [IPv6 address]");
    }
    host = authority.substr(0, close + 1);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty() && !absl::ConsumePrefix(&after, ":")) {
      return bad("has something after its [IPv6 address] that is not a :port");
    }
    port = after;
    if (after.empty() && absl::EndsWith(authority, ":")) {
      return bad("has an empty port");
    }
  } else if (size_t colon = authority.find(':'); colon != absl::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) {
      return bad("has an empty port");
    }
  }
  if (host.empty()) {
    return bad("names no host");
  }
  if (!absl::StartsWith(host, "[") && !std::all_of(host.begin(), host.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
      })) {
    return bad(absl::StrCat("names the host '", host, "', which is not a host name or address"));
  }
  if (!port.empty()) {
    int n = 0;
    if (port.size() > 5 || !absl::SimpleAtoi(port, &n) || n < 1 || n > 65535 ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
      return bad(absl::StrCat("has the port '", port, "'; a port is 1 to 65535"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ReadArgv(const YamlNode& node, absl::string_view what) {
  std::vector<std::string> argv;
  std::vector<YamlNode> origin;  // the node each word came from, for errors
  if (node.is_list()) {
    absl::StatusOr<std::vector<YamlNode>> items = node.Items();
    if (!items.ok()) {
      return items.status();
    }
    for (const YamlNode& item : *items) {
      if (!item.is_scalar()) {
        return item.Error(
            absl::StrCat("expected ", what, ", got a list holding ", item.Describe()));
      }
      argv.push_back(item.raw().Scalar());
      origin.push_back(item);
    }
  } else if (node.is_scalar()) {
    absl::StatusOr<std::vector<std::string>> words = SplitShellWords(node.raw().Scalar());
    if (!words.ok()) {
      return node.Error(words.status().message());
    }
    argv = *std::move(words);
    origin.assign(argv.size(), node);
  } else {
    return node.Error(absl::StrCat("expected ", what, ", got ", node.Describe()));
  }
  for (size_t i = 0; i < argv.size(); ++i) {
    if (ContainsPlaceholder(argv[i])) {
      return origin[i].Error(
          "placeholders are not allowed in a command line: it shows in `ps` and in the "
          "container's configuration; pass the value through env instead");
    }
  }
  return argv;
}

absl::StatusOr<std::map<std::string, std::string>> ReadEnv(
    const YamlNode& node, std::map<std::string, SourceLocation>* value_locations) {
  absl::StatusOr<YamlMap> map = YamlMap::Read(node, "a map of environment variables");
  if (!map.ok()) {
    return map.status();
  }
  std::map<std::string, std::string> out;
  for (const YamlMap::Entry& e : map->entries()) {
    if (!IsEnvName(e.key)) {
      return e.key_node.Error("not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    }
    absl::StatusOr<std::string> value = e.value.String("a string value");
    if (!value.ok()) {
      // An empty string must be quoted: a bare `NAME:` is YAML's null.
      if (e.value.is_null()) {
        return e.value.Error("expected a string value, got nothing (write \"\" for empty)");
      }
      return value.status();
    }
    absl::StatusOr<std::vector<Placeholder>> refs = ParsePlaceholders(*value);
    if (!refs.ok()) {
      return e.value.Error(refs.status().message());
    }
    out[e.key] = *std::move(value);
    if (value_locations != nullptr) {
      (*value_locations)[absl::StrCat("env.", e.key)] = e.value.location();
    }
  }
  return out;
}

absl::Status CheckEnvReferences(
    const std::map<std::string, std::string>& env, const ServerDefinition& definition,
    absl::FunctionRef<absl::Status(absl::string_view name, absl::string_view message)> fail) {
  std::optional<std::set<std::string>> properties;
  if (!definition.config_schema.empty()) {
    properties = SchemaProperties(definition.config_schema);
  }
  for (const auto& [name, value] : env) {
    absl::StatusOr<std::vector<Placeholder>> refs = ParsePlaceholders(value);
    if (!refs.ok()) {
      return fail(name, refs.status().message());
    }
    for (const Placeholder& p : *refs) {
      if (p.kind == Placeholder::Kind::kSecret) {
        if (definition.FindSecret(p.key) == nullptr) {
          std::vector<std::string> declared;
          for (const SecretSpec& s : definition.secrets) {
            declared.push_back(s.name);
          }
          return fail(
              name, absl::StrCat(ToString(p), " names a secret this server does not declare (",
                                 declared.empty()
                                     ? "it declares none"
                                     : absl::StrCat("it declares ", absl::StrJoin(declared, ", ")),
                                 "); a server gets only the secrets listed under its 'secrets'"));
        }
        continue;
      }
      std::string top(p.key.substr(0, p.key.find('.')));
      if (properties.has_value() && properties->count(top) == 0) {
        return fail(name,
                    absl::StrCat(ToString(p), " names no property of the config schema (",
                                 properties->empty()
                                     ? std::string("it has none")
                                     : absl::StrCat("it has ", absl::StrJoin(*properties, ", ")),
                                 ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ReadRunMap(const YamlNode& node, RunSettings& out) {
  absl::StatusOr<YamlMap> map =
      YamlMap::Read(node, "a map of run settings (mode, idle_timeout, limits)");
  if (!map.ok()) {
    return map.status();
  }
  if (absl::Status s = map->CheckKeys(RunKeys()); !s.ok()) {
    return s;
  }
  return ReadRunFields(*map, out);
}

absl::Status ReadRunFields(const YamlMap& map, RunSettings& out) {
  if (const YamlNode* mode = map.Find("mode")) {
    absl::StatusOr<std::string> text = mode->String("on-demand, long-lived or per-call");
    if (!text.ok()) {
      return text.status();
    }
    absl::StatusOr<RunMode> m = ParseRunMode(*text);
    if (!m.ok()) {
      return mode->Error(m.status().message());
    }
    out.mode = *m;
  }
  if (const YamlNode* idle = map.Find("idle_timeout")) {
    absl::StatusOr<std::string> text = idle->String("a duration such as 5m or 90s");
    if (!text.ok()) {
      return text.status();
    }
    absl::StatusOr<absl::Duration> d = ParseIdleTimeout(*text);
    if (!d.ok()) {
      return idle->Error(d.status().message());
    }
    out.idle_timeout = *d;
  }
  if (const YamlNode* n = map.Find("per_call_concurrency")) {
    absl::StatusOr<int> v = ReadPositiveInt(*n, "a positive number of concurrent calls");
    if (!v.ok()) {
      return v.status();
    }
    out.per_call_concurrency = *v;
  }
  if (const YamlNode* limits = map.Find("limits")) {
    return ReadLimits(*limits, out);
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerDefinition> ReadDefinition(const YamlNode& key, const YamlMap& entry,
                                                const DefinitionOptions& options) {
  ServerDefinition def;
  def.name = key.raw().Scalar();
  def.location = key.location();

  if (const YamlNode* title = entry.Find("title")) {
    absl::StatusOr<std::string> v = title->String();
    if (!v.ok()) {
      return v.status();
    }
    def.title = *v;
  }
  if (const YamlNode* description = entry.Find("description")) {
    absl::StatusOr<std::string> v = description->String();
    if (!v.ok()) {
      return v.status();
    }
    def.description = *v;
  }

  // Exactly one of image, command, remote, builtin: the first one given wins, a second is an
  // error.
  const YamlMap::Entry* what_runs = nullptr;
  for (const YamlMap::Entry& e : entry.entries()) {
    if (e.key != "image" && e.key != "command" && e.key != "builtin" && e.key != "remote") {
      continue;
    }
    if (what_runs != nullptr) {
      bool remote = what_runs->key == "remote" || e.key == "remote";
      return e.key_node.Error(absl::StrCat(
          "'", what_runs->key, "' is already given on line ", what_runs->key_node.location().line,
          remote ? "; a server is either remote or run here (with an image or a command)"
                 : "; a server runs either an image or a command"));
    }
    what_runs = &e;
  }
  if (what_runs == nullptr) {
    return key.Error(
        "needs 'image' (a container image), 'command' (a local program and its arguments) or "
        "'remote' (a server reached over HTTP)");
  }
  std::map<std::string, SourceLocation> header_locations;
  if (what_runs->key == "remote") {
    def.kind = ServerDefinition::Kind::kRemote;
    absl::StatusOr<RemoteSpec> remote = ReadRemote(what_runs->value, header_locations);
    if (!remote.ok()) {
      return remote.status();
    }
    def.remote = *std::move(remote);
    // What only a program or a container has.
    for (const char* field : {"args", "env", "volumes"}) {
      if (const YamlMap::Entry* e = entry.FindEntry(field)) {
        return e->key_node.Error(absl::StrCat(
            "a remote server runs elsewhere and has no '", field,
            "'; it gets only the headers under 'remote.headers'"));
      }
    }
    if (!options.in_profile) {
      if (const YamlMap::Entry* e = entry.FindEntry("network")) {
        return e->key_node.Error(
            "a remote server is reached by the gateway itself; 'network' is a container's");
      }
    }
  } else if (what_runs->key == "image") {
    def.kind = ServerDefinition::Kind::kImage;
    absl::StatusOr<std::string> image = what_runs->value.NonEmptyString("an image reference");
    if (!image.ok()) {
      return image.status();
    }
    if (ContainsPlaceholder(*image)) {
      return what_runs->value.Error("placeholders are not allowed in an image reference");
    }
    if (absl::Status s = ValidateImageReference(*image); !s.ok()) {
      return what_runs->value.Error(s.message());
    }
    def.image = *image;
  } else if (what_runs->key == "command") {
    def.kind = ServerDefinition::Kind::kCommand;
    absl::StatusOr<std::vector<std::string>> argv =
        ReadArgv(what_runs->value, "a command (a list of words, or one string)");
    if (!argv.ok()) {
      return argv.status();
    }
    if (argv->empty() || argv->front().empty()) {
      return what_runs->value.Error("the command is empty; give the program to run");
    }
    def.command = *std::move(argv);
  } else {
    if (!options.allow_builtin) {
      return what_runs->key_node.Error(
          "only the built-in catalog defines built-in servers; use 'image' or 'command'");
    }
    def.kind = ServerDefinition::Kind::kBuiltin;
    absl::StatusOr<std::string> b = what_runs->value.NonEmptyString("a built-in server name");
    if (!b.ok()) {
      return b.status();
    }
    def.builtin = *b;
  }

  if (const YamlNode* args = entry.Find("args")) {
    if (def.kind == ServerDefinition::Kind::kBuiltin) {
      return args->Error("a built-in server takes no arguments");
    }
    absl::StatusOr<std::vector<std::string>> argv =
        ReadArgv(*args, "a list of arguments, or one string");
    if (!argv.ok()) {
      return argv.status();
    }
    def.args = *std::move(argv);
  }

  if (const YamlNode* secrets = entry.Find("secrets")) {
    absl::StatusOr<std::vector<SecretSpec>> s = ReadSecrets(*secrets);
    if (!s.ok()) {
      return s.status();
    }
    def.secrets = *std::move(s);
  }

  if (!options.in_profile) {
    if (const YamlNode* config = entry.Find("config")) {
      absl::StatusOr<std::string> schema = ReadConfigSchema(*config);
      if (!schema.ok()) {
        return schema.status();
      }
      def.config_schema = *std::move(schema);
    }
    if (const YamlNode* tools = entry.Find("tools")) {
      absl::StatusOr<std::vector<mcp::Tool>> t = ReadTools(*tools);
      if (!t.ok()) {
        return t.status();
      }
      def.tools = *std::move(t);
    }
  }

  if (const YamlNode* env = entry.Find("env")) {
    std::map<std::string, SourceLocation> locations;
    absl::StatusOr<std::map<std::string, std::string>> e = ReadEnv(*env, &locations);
    if (!e.ok()) {
      return e.status();
    }
    def.env = *std::move(e);
    auto fail = [&](absl::string_view var, absl::string_view message) {
      return LocatedError(locations[absl::StrCat("env.", var)], JoinPath(env->path(), var),
                          message);
    };
    if (absl::Status s = CheckEnvReferences(def.env, def, fail); !s.ok()) {
      return s;
    }
    // A catalog entry's {{config.*}} need a schema that says what the user gives; an inline
    // server of a profile has none: its placeholders name its own config values, which the
    // profile checks once it has read them.
    if (!options.in_profile && def.config_schema.empty()) {
      for (const auto& [var, value] : def.env) {
        // Checked by ReadEnv. (Named: a range-for over *temporary would dangle.)
        std::vector<Placeholder> refs =
            ParsePlaceholders(value).value_or(std::vector<Placeholder>{});
        for (const Placeholder& p : refs) {
          if (p.kind == Placeholder::Kind::kConfig) {
            return fail(var, absl::StrCat(ToString(p),
                                          " needs a config, but the server "
                                          "declares no 'config' schema"));
          }
        }
      }
    }
    // A secret's `env` sets that variable; the same name set in env too would be ambiguous.
    for (const SecretSpec& secret : def.secrets) {
      if (!secret.env.empty() && def.env.count(secret.env) != 0) {
        return fail(secret.env, absl::StrCat("also set by secret '", secret.name,
                                             "'; remove one (use {{secret.", secret.name,
                                             "}} here to build a value from it)"));
      }
    }
  }
  if (def.kind == ServerDefinition::Kind::kRemote) {
    if (absl::Status s = CheckRemoteReferences(def, what_runs->value, header_locations,
                                               entry.Find("secrets"), options);
        !s.ok()) {
      return s;
    }
  }
  // Two secrets may not feed the same variable.
  std::set<std::string> secret_vars;
  for (const SecretSpec& secret : def.secrets) {
    if (!secret.env.empty() && !secret_vars.insert(secret.env).second) {
      return entry.Find("secrets")->Error(
          absl::StrCat("two secrets become the environment variable '", secret.env, "'"));
    }
  }

  // In a profile, `network` is an override that may also name a network; the profile reads it.
  const YamlNode* network = options.in_profile ? nullptr : entry.Find("network");
  if (network != nullptr) {
    absl::StatusOr<bool> v = network->Bool();
    if (!v.ok()) {
      return v.status();
    }
    def.network = *v;
  }

  if (const YamlNode* volumes = entry.Find("volumes")) {
    if (def.kind != ServerDefinition::Kind::kImage) {
      return volumes->Error(
          "volumes apply to container images only; a local command sees the host's files");
    }
    absl::StatusOr<std::vector<VolumeSpec>> v = ReadVolumes(*volumes);
    if (!v.ok()) {
      return v.status();
    }
    def.volumes = *std::move(v);
    if (!options.in_profile) {
      std::optional<std::set<std::string>> properties;
      if (!def.config_schema.empty()) {
        properties = SchemaProperties(def.config_schema);
      }
      absl::StatusOr<std::vector<YamlNode>> items = volumes->Items();
      for (size_t i = 0; i < def.volumes.size(); ++i) {
        absl::StatusOr<std::vector<Placeholder>> refs = ParsePlaceholders(def.volumes[i].source);
        for (const Placeholder& p : refs.ok() ? *refs : std::vector<Placeholder>{}) {
          std::string top(p.key.substr(0, p.key.find('.')));
          if (def.config_schema.empty() ||
              (properties.has_value() && properties->count(top) == 0)) {
            return (*items)[i].Error(
                absl::StrCat(ToString(p), " names no property of the config schema"));
          }
        }
      }
    }
  }

  if (const YamlNode* run = entry.Find("run")) {
    if (absl::Status s = ReadRunMap(*run, def.run); !s.ok()) {
      return s;
    }
    if (def.kind == ServerDefinition::Kind::kRemote && def.run.mode == RunMode::kPerCall) {
      absl::StatusOr<YamlMap> map = YamlMap::Read(*run, "a map of run settings");
      const YamlNode* mode = map.ok() ? map->Find("mode") : nullptr;
      return (mode != nullptr ? *mode : *run).Error(kRemotePerCallError);
    }
  }
  return def;
}

}  // namespace mcpgw::gateway::internal
