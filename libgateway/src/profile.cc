#include "mcpgw/gateway/profile.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "definition_reader.h"
#include "mcpgw/gateway/placeholders.h"
#include "mcpgw/gateway/shell_words.h"
#include "mcpgw/mcp/json_schema.h"
#include "yaml_reader.h"

namespace mcpgw::gateway {
namespace {

using internal::CatchYaml;
using internal::CheckEnvReferences;
using internal::CheckServerName;
using internal::CheckVersion;
using internal::DidYouMean;
using internal::InlineOnlyKeys;
using internal::IsEnvName;
using internal::JoinPath;
using internal::LocatedError;
using internal::ParseYaml;
using internal::YamlMap;
using internal::YamlNode;

const std::vector<std::string>& ProfileServerKeys() {
  static const auto* keys = [] {
    auto* k = new std::vector<std::string>{"from", "tools", "config", "env", "run", "network"};
    k->insert(k->end(), InlineOnlyKeys().begin(), InlineOnlyKeys().end());
    return k;
  }();
  return *keys;
}

bool IsNetworkName(absl::string_view s) {
  return !s.empty() && absl::ascii_isalnum(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                  c == '-';
         });
}

std::string Stem(absl::string_view path) {
  return std::filesystem::path(std::string(path)).stem().string();
}

std::string Quoted(const std::vector<std::string>& names) {
  if (names.empty()) {
    return "none";
  }
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<std::string> ReadNetworkName(const YamlNode& node) {
  if (node.Bool().ok()) {
    return node.Error(
        absl::StrCat("expected a network name such as none or bridge, got ", node.Describe()));
  }
  absl::StatusOr<std::string> name = node.NonEmptyString("a network name such as none or bridge");
  if (!name.ok()) {
    return name.status();
  }
  if (!IsNetworkName(*name)) {
    return node.Error(absl::StrCat("'", *name, "' is not a network name"));
  }
  return name;
}

absl::Status ReadGateway(const YamlNode& node, GatewaySettings& out) {
  absl::StatusOr<YamlMap> map = YamlMap::Read(node, "a map of gateway settings");
  if (!map.ok()) {
    return map.status();
  }
  std::vector<std::string> keys = internal::RunKeys();
  keys.push_back("naming");
  keys.push_back("network");
  if (absl::Status s = map->CheckKeys(keys); !s.ok()) {
    return s;
  }
  if (const YamlNode* naming = map->Find("naming")) {
    absl::StatusOr<std::string> text = naming->String("prefix-on-conflict, always-prefix or never");
    if (!text.ok()) {
      return text.status();
    }
    absl::StatusOr<NamingPolicy> policy = ParseNamingPolicy(*text);
    if (!policy.ok()) {
      return naming->Error(policy.status().message());
    }
    out.naming = *policy;
  }
  if (const YamlNode* network = map->Find("network")) {
    absl::StatusOr<std::string> name = ReadNetworkName(*network);
    if (!name.ok()) {
      return name.status();
    }
    out.network = *name;
  }
  RunSettings run;
  if (absl::Status s = internal::ReadRunFields(*map, run); !s.ok()) {
    return s;
  }
  out.mode = run.mode.value_or(out.mode);
  out.idle_timeout = run.idle_timeout.value_or(out.idle_timeout);
  out.per_call_concurrency = run.per_call_concurrency.value_or(out.per_call_concurrency);
  out.cpus = run.cpus.value_or(out.cpus);
  out.memory_bytes = run.memory_bytes.value_or(out.memory_bytes);
  out.pids_limit = run.pids_limit.value_or(out.pids_limit);
  return absl::OkStatus();
}

absl::StatusOr<ProfileServer> ReadServer(const YamlMap::Entry& e) {
  ProfileServer server;
  server.name = e.key;
  server.location = e.key_node.location();
  if (absl::Status s = CheckServerName(e.key_node, e.key); !s.ok()) {
    return s;
  }
  absl::StatusOr<YamlMap> map =
      YamlMap::Read(e.value, "a map of server settings ({} for a catalog server's defaults)",
                    /*null_is_empty=*/true);
  if (!map.ok()) {
    return map.status();
  }
  if (absl::Status s = map->CheckKeys(ProfileServerKeys()); !s.ok()) {
    return s;
  }
  const YamlMap::Entry* runs = nullptr;
  for (const char* key : {"image", "command", "remote", "builtin"}) {
    if (runs == nullptr) {
      runs = map->FindEntry(key);
    }
  }
  bool is_inline = runs != nullptr;
  for (const YamlMap::Entry& field : map->entries()) {
    server.field_locations[field.key] = field.value.location();
  }
  if (is_inline) {
    if (const YamlMap::Entry* from = map->FindEntry("from")) {
      return from->key_node.Error(absl::StrCat("a server defined inline (with '", runs->key,
                                               "') does not come from a catalog"));
    }
    absl::StatusOr<ServerDefinition> def = internal::ReadDefinition(
        e.key_node, *map, internal::DefinitionOptions{.allow_builtin = false, .in_profile = true});
    if (!def.ok()) {
      return def.status();
    }
    server.definition = *std::move(def);
    if (server.definition->kind == ServerDefinition::Kind::kRemote) {
      if (const YamlMap::Entry* network = map->FindEntry("network")) {
        return network->key_node.Error(
            "a remote server is reached by the gateway itself; 'network' is a container's");
      }
    }
    if (const YamlNode* env = map->Find("env")) {
      // Already read into the definition; only the locations are wanted here.
      absl::StatusOr<std::map<std::string, std::string>> vars =
          internal::ReadEnv(*env, &server.field_locations);
      if (!vars.ok()) {
        return vars.status();
      }
    }
  } else {
    for (const YamlMap::Entry& field : map->entries()) {
      const auto& only = InlineOnlyKeys();
      if (std::find(only.begin(), only.end(), field.key) != only.end()) {
        return field.key_node.Error(
            absl::StrCat("only a server defined inline (with image, command or remote) sets '",
                         field.key,
                         "'; '", e.key, "' comes from a catalog"));
      }
    }
    server.from = e.key;
    if (const YamlNode* from = map->Find("from")) {
      absl::StatusOr<std::string> name = from->NonEmptyString("a catalog server's name");
      if (!name.ok()) {
        return name.status();
      }
      server.from = *name;
    }
    if (const YamlNode* env = map->Find("env")) {
      absl::StatusOr<std::map<std::string, std::string>> vars =
          internal::ReadEnv(*env, &server.field_locations);
      if (!vars.ok()) {
        return vars.status();
      }
      server.env = *std::move(vars);
    }
    if (const YamlNode* run = map->Find("run")) {
      if (absl::Status s = internal::ReadRunMap(*run, server.run); !s.ok()) {
        return s;
      }
    }
  }
  if (const YamlNode* tools = map->Find("tools")) {
    if (!tools->is_list()) {
      return tools->Error(absl::StrCat("expected a list of tool names, got ", tools->Describe()));
    }
    absl::StatusOr<std::vector<YamlNode>> items = tools->Items();
    if (!items.ok()) {
      return items.status();
    }
    std::vector<std::string> names;
    for (size_t i = 0; i < items->size(); ++i) {
      const YamlNode& item = (*items)[i];
      if (!item.is_scalar()) {
        return item.Error(absl::StrCat(
            "expected a tool name, got ", item.Describe(),
            item.is_map() ? " (full tool definitions belong in a catalog entry)" : ""));
      }
      std::string name = item.raw().Scalar();
      if (!IsValidName(name)) {
        return item.Error(absl::StrCat("'", name, "' is not a valid tool name"));
      }
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        return item.Error(absl::StrCat("tool '", name, "' is listed twice"));
      }
      server.field_locations[absl::StrCat("tools[", i, "]")] = item.location();
      names.push_back(std::move(name));
    }
    server.tools = std::move(names);
  }
  if (const YamlNode* config = map->Find("config")) {
    if (!config->is_null()) {
      if (!config->is_map()) {
        return config->Error(
            absl::StrCat("expected a map of config values, got ", config->Describe()));
      }
      absl::StatusOr<mcp::Json> values = config->ToJson();
      if (!values.ok()) {
        return values.status();
      }
      server.config = *std::move(values);
    }
  }
  if (const YamlNode* network = map->Find("network")) {
    absl::StatusOr<bool> flag = network->Bool();
    if (flag.ok()) {
      server.network = *flag;
    } else {
      absl::StatusOr<std::string> name = ReadNetworkName(*network);
      if (!name.ok()) {
        return network->Error(absl::StrCat(
            "expected true, false or a network name such as bridge, got ", network->Describe()));
      }
      server.network = *name;
    }
  }
  return server;
}

// --- config values, shared by ResolveProfile and BuildRunSpec ---

void ApplyDefaults(const mcp::JsonValue& schema, mcp::JsonValue& value, mcp::JsonAllocator& alloc,
                   int depth) {
  if (depth > mcp::kMaxJsonSchemaDepth || !schema.IsObject() || !value.IsObject()) {
    return;
  }
  const mcp::JsonValue* properties = mcp::FindMember(schema, "properties");
  if (properties == nullptr || !properties->IsObject()) {
    return;
  }
  for (const auto& p : properties->GetObject()) {
    absl::string_view key = mcp::AsStringView(p.name);
    mcp::JsonValue* present = mcp::FindMember(value, key);
    if (present == nullptr) {
      const mcp::JsonValue* def = mcp::FindMember(p.value, "default");
      if (def != nullptr) {
        value.AddMember(mcp::JsonString(key, alloc), mcp::JsonValue(*def, alloc), alloc);
      }
    } else {
      ApplyDefaults(p.value, *present, alloc, depth + 1);
    }
  }
}

// EffectiveConfig is `values` with the schema's defaults filled in, validated against it.
// Errors name the values' path starting at `root` ("config.owner: must be a string").
absl::StatusOr<mcp::Json> EffectiveConfig(const ServerDefinition& def, const mcp::Json& values,
                                          absl::string_view root) {
  mcp::Json config = mcp::Json::Copy(values.value());
  if (def.config_schema.empty()) {
    return config;
  }
  absl::StatusOr<mcp::Json> schema = mcp::Json::Parse(def.config_schema);
  if (!schema.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("its config schema is not JSON: ", schema.status().message()));
  }
  if (config.is_null()) {
    config = mcp::Json::Object();
  }
  ApplyDefaults(schema->value(), config.mutable_value(), config.allocator(), 0);
  absl::StatusOr<mcp::JsonSchema> compiled = mcp::JsonSchema::Compile(schema->value());
  if (!compiled.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("its config schema is not usable: ", compiled.status().message()));
  }
  if (absl::Status s = compiled->Validate(config.value(), root); !s.ok()) {
    return s;
  }
  return config;
}

// ConfigText is the text a {{config.KEY}} placeholder becomes.
absl::StatusOr<std::string> ConfigText(const mcp::Json& config, absl::string_view key) {
  const mcp::JsonValue* v = &config.value();
  for (absl::string_view part : absl::StrSplit(key, '.')) {
    v = v->IsObject() ? mcp::FindMember(*v, part) : nullptr;
    if (v == nullptr) {
      break;
    }
  }
  if (v == nullptr || v->IsNull()) {
    return absl::NotFoundError(absl::StrCat("config '", key, "' is not set"));
  }
  if (v->IsString()) {
    return std::string(mcp::AsStringView(*v));
  }
  if (v->IsObject() || v->IsArray()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config '", key, "' is ", v->IsObject() ? "an object" : "a list",
                     "; a placeholder takes a string, a number or a boolean"));
  }
  return mcp::SerializeJson(*v);  // a number or a boolean, as JSON writes it
}

// ExpandConfigOnly expands a text whose only placeholders are config ones (a volume source).
absl::StatusOr<std::string> ExpandConfigOnly(absl::string_view text, const mcp::Json& config) {
  return ExpandPlaceholders(text, [&](const Placeholder& p) -> absl::StatusOr<std::string> {
    if (p.kind != Placeholder::Kind::kConfig) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToString(p), ": secrets reach only env values"));
    }
    return ConfigText(config, p.key);
  });
}

absl::StatusOr<container::Mount> MakeMount(const VolumeSpec& volume, const mcp::Json& config) {
  absl::StatusOr<std::string> source = ExpandConfigOnly(volume.source, config);
  if (!source.ok()) {
    return source.status();
  }
  container::Mount mount;
  mount.target = volume.target;
  mount.read_only = volume.read_only;
  if (!source->empty() && source->front() == '/') {
    mount.type = container::Mount::Type::kBind;
  } else if (IsValidName(*source) && IsNetworkName(*source)) {
    mount.type = container::Mount::Type::kVolume;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("the volume source for ", volume.target,
                     " must be an absolute host path or a volume name, got '", *source, "'"));
  }
  mount.source = *std::move(source);
  return mount;
}

std::string ProfileHint(absl::string_view server) {
  return absl::StrCat("; give it under servers.", server, ".config in the profile");
}

// ValueExpander expands the placeholders of one server's env values and headers: config
// values from its effective config, secrets it declares from the lookup (each looked up once,
// only when used). Errors name the server and where the value is used, never a value.
class ValueExpander {
 public:
  ValueExpander(const ResolvedServer& server, const mcp::Json& config, SecretLookup secrets)
      : server_(server), config_(config), secrets_(secrets) {}

  absl::Status Error(absl::StatusCode code, absl::string_view message) const {
    return absl::Status(code, absl::StrCat("server '", server_.name, "': ", message));
  }

  // Secret returns the value of the declared secret `name`, needed by `used_by`.
  absl::StatusOr<std::string> Secret(absl::string_view name, absl::string_view used_by) {
    const SecretSpec* spec_of = server_.definition.FindSecret(name);
    if (spec_of == nullptr) {
      return Error(absl::StatusCode::kInvalidArgument,
                   absl::StrCat(used_by, ": {{secret.", name,
                                "}} names a secret this server does not declare"));
    }
    auto it = looked_up_.find(name);
    if (it != looked_up_.end()) {
      return it->second;
    }
    absl::StatusOr<std::string> value = secrets_(name);
    if (value.status().code() == absl::StatusCode::kNotFound) {
      return Error(absl::StatusCode::kNotFound,
                   absl::StrCat("needs the secret '", name, "' (for ", used_by,
                                "), which is not set; set it with `mcpgw secret set ", name, "`",
                                spec_of->how.empty() ? "" : absl::StrCat(" (", spec_of->how, ")")));
    }
    if (!value.ok()) {
      return Error(value.status().code(),
                   absl::StrCat("secret '", name, "': ", value.status().message()));
    }
    looked_up_.emplace(std::string(name), *value);
    return value;
  }

  // Expand expands `text`, used by `used_by` ("env.TOKEN", "header Authorization").
  absl::StatusOr<std::string> Expand(absl::string_view text, absl::string_view used_by) {
    absl::StatusOr<std::string> value =
        ExpandPlaceholders(text, [&](const Placeholder& p) -> absl::StatusOr<std::string> {
          if (p.kind == Placeholder::Kind::kSecret) {
            return Secret(p.key, used_by);
          }
          absl::StatusOr<std::string> v = ConfigText(config_, p.key);
          if (!v.ok()) {
            bool missing = v.status().code() == absl::StatusCode::kNotFound;
            return Error(absl::StatusCode::kInvalidArgument,
                         absl::StrCat(used_by, ": ", v.status().message(),
                                      missing ? ProfileHint(server_.name) : ""));
          }
          return v;
        });
    if (!value.ok() && !absl::StartsWith(value.status().message(), "server '")) {
      return Error(value.status().code(), absl::StrCat(used_by, ": ", value.status().message()));
    }
    return value;
  }

 private:
  const ResolvedServer& server_;
  const mcp::Json& config_;
  SecretLookup secrets_;
  absl::flat_hash_map<std::string, std::string> looked_up_;
};

// --- catalogs ---

bool IsCatalogPath(absl::string_view ref) {
  return absl::StrContains(ref, "/") || absl::EndsWith(ref, ".yaml") || absl::EndsWith(ref, ".yml");
}

struct LoadedCatalogs {
  std::vector<Catalog> catalogs;
};

absl::StatusOr<LoadedCatalogs> LoadCatalogs(const Profile& profile, absl::string_view config_dir) {
  std::vector<CatalogRef> refs;
  if (profile.catalogs.has_value()) {
    refs = *profile.catalogs;
  } else {
    refs.push_back(CatalogRef{.ref = std::string(kDefaultCatalogName), .location = {}});
    absl::StatusOr<std::vector<std::string>> user = ListUserCatalogs(config_dir);
    if (!user.ok()) {
      return user.status();
    }
    for (const std::string& name : *user) {
      refs.push_back(CatalogRef{.ref = name, .location = {}});
    }
  }
  LoadedCatalogs out;
  for (size_t i = 0; i < refs.size(); ++i) {
    const CatalogRef& ref = refs[i];
    std::string path = absl::StrCat("catalogs[", i, "]");
    absl::StatusOr<Catalog> catalog;
    if (ref.ref == kDefaultCatalogName) {
      catalog = DefaultCatalog();
    } else if (IsCatalogPath(ref.ref)) {
      std::filesystem::path p(ref.ref);
      if (p.is_relative()) {
        p = std::filesystem::path(profile.base_dir.empty() ? "." : profile.base_dir) / p;
      }
      std::string file = p.lexically_normal().string();
      catalog = LoadCatalogFile(file);
      if (catalog.status().code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(LocatedError(ref.location, path,
                                                absl::StrCat("no catalog file '", file,
                                                             "' (relative paths start from the "
                                                             "profile's directory)"))
                                       .message());
      }
    } else {
      catalog = LoadUserCatalog(config_dir, ref.ref);
      if (catalog.status().code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(
            LocatedError(ref.location, path, catalog.status().message()).message());
      }
    }
    if (!catalog.ok()) {
      return catalog.status();
    }
    out.catalogs.push_back(*std::move(catalog));
  }
  return out;
}

ServerSettings EffectiveSettings(const ServerDefinition& def, const RunSettings& overrides,
                                 const std::optional<std::variant<bool, std::string>>& network,
                                 const GatewaySettings& gateway) {
  ServerSettings s;
  s.mode = overrides.mode.value_or(def.run.mode.value_or(gateway.mode));
  s.idle_timeout =
      overrides.idle_timeout.value_or(def.run.idle_timeout.value_or(gateway.idle_timeout));
  s.per_call_concurrency = overrides.per_call_concurrency.value_or(
      def.run.per_call_concurrency.value_or(gateway.per_call_concurrency));
  s.cpus = overrides.cpus.value_or(def.run.cpus.value_or(gateway.cpus));
  s.memory_bytes =
      overrides.memory_bytes.value_or(def.run.memory_bytes.value_or(gateway.memory_bytes));
  s.pids_limit = overrides.pids_limit.value_or(def.run.pids_limit.value_or(gateway.pids_limit));
  // A grant in the profile beats a gateway-wide "none"; a catalog's need does not.
  std::string granted = gateway.network == "none" ? "bridge" : gateway.network;
  if (network.has_value()) {
    if (const bool* flag = std::get_if<bool>(&*network)) {
      s.network = *flag ? granted : "none";
    } else {
      s.network = std::get<std::string>(*network);
    }
  } else {
    s.network = def.network ? gateway.network : "none";
  }
  if (def.kind == ServerDefinition::Kind::kRemote) {
    // Nothing to start per call: the gateway-wide per-call default means on-demand here (a
    // per-call mode set on the server itself is refused when it is read).
    if (s.mode == RunMode::kPerCall) {
      s.mode = RunMode::kOnDemand;
    }
    s.network = "none";
  }
  return s;
}

absl::StatusOr<ResolvedServer> ResolveServer(const Profile& profile, const ProfileServer& ps,
                                             const LoadedCatalogs& loaded) {
  std::string path = JoinPath("servers", ps.name);
  auto fail = [&](absl::string_view field, absl::string_view message) {
    return LocatedError(ps.Where(field), field.empty() ? path : JoinPath(path, field), message);
  };
  ResolvedServer out;
  out.name = ps.name;
  if (ps.definition.has_value()) {
    out.definition = *ps.definition;
    out.origin = profile.source;
  } else {
    const ServerDefinition* found = nullptr;
    const Catalog* from = nullptr;
    // Later catalogs win: a team catalog listed after `default` may redefine a server.
    for (auto it = loaded.catalogs.rbegin(); it != loaded.catalogs.rend() && !found; ++it) {
      found = it->Find(ps.from);
      from = &*it;
    }
    if (found == nullptr) {
      std::vector<std::string> names;
      std::vector<std::string> catalog_names;
      for (const Catalog& c : loaded.catalogs) {
        catalog_names.push_back(c.name);
        for (const std::string& n : c.Names()) {
          names.push_back(n);
        }
      }
      std::string hint = DidYouMean(ps.from, names);
      return absl::NotFoundError(fail(ps.field_locations.count("from") != 0 ? "from" : "",
                                      absl::StrCat("no catalog defines '", ps.from, "'", hint,
                                                   " (catalogs read: ", Quoted(catalog_names),
                                                   "; servers: ", Quoted(names), ")"))
                                     .message());
    }
    out.definition = *found;
    out.origin = absl::StrCat("catalog '", from->name, "'");
  }
  ServerDefinition& def = out.definition;
  out.definition.name = ps.name;
  if (def.kind == ServerDefinition::Kind::kRemote && !ps.definition.has_value()) {
    if (!ps.env.empty()) {
      return fail("env", absl::StrCat("'", ps.from,
                                      "' is a remote server: it has no environment, only the "
                                      "headers its catalog entry sends"));
    }
    if (ps.network.has_value()) {
      return fail("network",
                  "a remote server is reached by the gateway itself; 'network' is a container's");
    }
    if (ps.run.mode == RunMode::kPerCall) {
      return fail("run", internal::kRemotePerCallError);
    }
  }

  // Env additions: declared secrets only, and a variable a secret feeds stays the secret's.
  auto fail_env = [&](absl::string_view var, absl::string_view message) {
    return fail(absl::StrCat("env.", var), message);
  };
  if (absl::Status s = CheckEnvReferences(ps.env, def, fail_env); !s.ok()) {
    return s;
  }
  for (const auto& [var, value] : ps.env) {
    for (const SecretSpec& secret : def.secrets) {
      if (secret.env == var) {
        return fail_env(var, absl::StrCat("this variable carries the secret '", secret.name,
                                          "'; the profile may not replace it"));
      }
    }
    def.env[var] = value;
  }

  // The allow-list must name tools the catalog defines, when it defines them.
  if (ps.tools.has_value()) {
    if (def.tools.has_value()) {
      std::vector<std::string> known;
      for (const mcp::Tool& t : *def.tools) {
        known.push_back(t.name);
      }
      for (size_t i = 0; i < ps.tools->size(); ++i) {
        const std::string& name = (*ps.tools)[i];
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          return fail(absl::StrCat("tools[", i, "]"),
                      absl::StrCat("'", ps.from, "' has no tool '", name, "'",
                                   DidYouMean(name, known), " (its tools: ", Quoted(known), ")"));
        }
      }
    }
    out.allowed_tools = ps.tools;
  }

  // Config values must fit the schema, and every placeholder must find its value.
  if (!ps.definition.has_value() && def.config_schema.empty() && !ps.config.is_null()) {
    return fail("config", absl::StrCat("'", ps.from,
                                       "' takes no config (its catalog entry "
                                       "declares no config schema)"));
  }
  out.config = ps.config;
  if (def.kind != ServerDefinition::Kind::kBuiltin) {
    absl::StatusOr<mcp::Json> config = EffectiveConfig(def, ps.config, JoinPath(path, "config"));
    if (!config.ok()) {
      return LocatedError(ps.Where("config"), "", config.status().message());
    }
    for (const auto& [var, value] : def.env) {
      // Checked on load. (Named: a range-for over *temporary would dangle.)
      std::vector<Placeholder> refs = ParsePlaceholders(value).value_or(std::vector<Placeholder>{});
      for (const Placeholder& p : refs) {
        if (p.kind != Placeholder::Kind::kConfig) {
          continue;
        }
        absl::StatusOr<std::string> text = ConfigText(*config, p.key);
        if (!text.ok()) {
          std::string field = absl::StrCat("env.", var);
          bool missing = text.status().code() == absl::StatusCode::kNotFound;
          return fail(ps.field_locations.count(field) != 0 ? field : "config",
                      absl::StrCat(ToString(p), " in env.", var, ": ", text.status().message(),
                                   missing ? ProfileHint(ps.name) : ""));
        }
      }
    }
    for (const auto& [header, value] : def.remote.headers) {
      std::vector<Placeholder> refs = ParsePlaceholders(value).value_or(std::vector<Placeholder>{});
      for (const Placeholder& p : refs) {
        if (p.kind != Placeholder::Kind::kConfig) {
          continue;
        }
        absl::StatusOr<std::string> text = ConfigText(*config, p.key);
        if (!text.ok()) {
          bool missing = text.status().code() == absl::StatusCode::kNotFound;
          return fail("config", absl::StrCat(ToString(p), " in header ", header, ": ",
                                             text.status().message(),
                                             missing ? ProfileHint(ps.name) : ""));
        }
      }
    }
    for (const VolumeSpec& volume : def.volumes) {
      absl::StatusOr<container::Mount> mount = MakeMount(volume, *config);
      if (!mount.ok()) {
        return fail("config", absl::StrCat(mount.status().message(), ProfileHint(ps.name)));
      }
    }
  }
  out.settings = EffectiveSettings(def, ps.run, ps.network, profile.gateway);
  return out;
}

}  // namespace

const SourceLocation& ProfileServer::Where(absl::string_view field) const {
  auto it = field_locations.find(std::string(field));
  return it == field_locations.end() ? location : it->second;
}

const ProfileServer* Profile::Find(absl::string_view server_name) const {
  for (const ProfileServer& s : servers) {
    if (s.name == server_name) {
      return &s;
    }
  }
  return nullptr;
}

absl::StatusOr<Profile> ParseProfile(absl::string_view text, absl::string_view source_name,
                                     absl::string_view base_dir) {
  Profile profile;
  profile.source = std::string(source_name);
  profile.base_dir = std::string(base_dir);
  profile.name = Stem(source_name);
  absl::Status status = CatchYaml(source_name, [&]() -> absl::Status {
    absl::StatusOr<YamlNode> root = ParseYaml(text, source_name);
    if (!root.ok()) {
      return root.status();
    }
    if (root->is_null()) {
      return root->Error("the file is empty; a profile starts with 'version: 1'");
    }
    absl::StatusOr<YamlMap> top =
        YamlMap::Read(*root, "a map (version, name, catalogs, servers, gateway) at the top");
    if (!top.ok()) {
      return top.status();
    }
    if (absl::Status s =
            top->CheckKeys({"version", "name", "description", "catalogs", "servers", "gateway"});
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckVersion(*top, "profile"); !s.ok()) {
      return s;
    }
    if (const YamlNode* name = top->Find("name")) {
      absl::StatusOr<std::string> n = name->NonEmptyString("a profile name");
      if (!n.ok()) {
        return n.status();
      }
      profile.name = *n;
    }
    if (const YamlNode* description = top->Find("description")) {
      absl::StatusOr<std::string> d = description->String();
      if (!d.ok()) {
        return d.status();
      }
      profile.description = *d;
    }
    if (const YamlNode* catalogs = top->Find("catalogs")) {
      absl::StatusOr<std::vector<YamlNode>> items =
          catalogs->Items("a list of catalogs (default, a user catalog's name, or a path)");
      if (!items.ok()) {
        return items.status();
      }
      std::vector<CatalogRef> refs;
      for (const YamlNode& item : *items) {
        absl::StatusOr<std::string> ref =
            item.NonEmptyString("a catalog (default, a user catalog's name, or a path)");
        if (!ref.ok()) {
          return ref.status();
        }
        for (const CatalogRef& earlier : refs) {
          if (earlier.ref == *ref) {
            return item.Error(absl::StrCat("catalog '", *ref, "' is listed twice"));
          }
        }
        refs.push_back(CatalogRef{.ref = *ref, .location = item.location()});
      }
      profile.catalogs = std::move(refs);
    }
    if (const YamlNode* servers = top->Find("servers")) {
      absl::StatusOr<YamlMap> entries = YamlMap::Read(
          *servers, "a map of server names to their settings", /*null_is_empty=*/true);
      if (!entries.ok()) {
        return entries.status();
      }
      for (const YamlMap::Entry& e : entries->entries()) {
        absl::StatusOr<ProfileServer> server = ReadServer(e);
        if (!server.ok()) {
          return server.status();
        }
        profile.servers.push_back(*std::move(server));
      }
    }
    if (const YamlNode* gateway = top->Find("gateway")) {
      if (absl::Status s = ReadGateway(*gateway, profile.gateway); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return profile;
}

absl::StatusOr<Profile> LoadProfileFile(absl::string_view path) {
  absl::StatusOr<std::string> text = internal::ReadFileToString(path);
  if (!text.ok()) {
    return text.status();
  }
  std::string dir = std::filesystem::path(std::string(path)).parent_path().string();
  return ParseProfile(*text, path, dir.empty() ? "." : dir);
}

absl::StatusOr<ResolvedProfile> ResolveProfile(const Profile& profile,
                                               const ResolveOptions& options) {
  std::string config_dir = options.config_dir.empty() ? DefaultConfigDir() : options.config_dir;
  absl::StatusOr<LoadedCatalogs> loaded = LoadCatalogs(profile, config_dir);
  if (!loaded.ok()) {
    return loaded.status();
  }
  ResolvedProfile out;
  out.name = profile.name;
  out.gateway = profile.gateway;
  for (const ProfileServer& ps : profile.servers) {
    absl::StatusOr<ResolvedServer> server = ResolveServer(profile, ps, *loaded);
    if (!server.ok()) {
      return server.status();
    }
    out.servers.push_back(*std::move(server));
  }
  if (absl::Status s = ApplyNarrowing(out.servers, options.servers, options.tools); !s.ok()) {
    return s;
  }
  return out;
}

absl::Status ApplyNarrowing(std::vector<ResolvedServer>& servers,
                            const std::vector<std::string>& server_names,
                            const std::vector<std::string>& tools) {
  std::vector<std::string> known;
  for (const ResolvedServer& s : servers) {
    known.push_back(s.name);
  }
  auto unknown_server = [&](absl::string_view name, absl::string_view flag) {
    return absl::NotFoundError(absl::StrCat("unknown server '", name, "' in ", flag,
                                            "; the servers are: ", Quoted(known),
                                            DidYouMean(name, known)));
  };
  std::set<std::string> selected;
  for (const std::string& name : server_names) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return unknown_server(name, "--servers");
    }
    selected.insert(name);
  }
  // Per server named in --tools: the tools kept (empty after "server:*": all of them).
  std::map<std::string, std::vector<std::string>> narrowed;
  std::set<std::string> keep_all;
  for (const std::string& entry : tools) {
    size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", entry, "' in --tools is not server:tool (use server:* for all of its tools)"));
    }
    std::string server = entry.substr(0, colon);
    std::string tool = entry.substr(colon + 1);
    auto it = std::find_if(servers.begin(), servers.end(),
                           [&](const ResolvedServer& s) { return s.name == server; });
    if (it == servers.end()) {
      return unknown_server(server, "--tools");
    }
    if (!server_names.empty() && selected.count(server) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tools names server '", server, "', which --servers leaves out; add it to --servers"));
    }
    if (tool == "*") {
      keep_all.insert(server);
      narrowed[server];
      continue;
    }
    // What this server is known to offer: the profile's allow-list, else the catalog's tool
    // definitions. A server with neither is checked when it lists its tools.
    std::optional<std::vector<std::string>> offered = it->allowed_tools;
    std::string source = "the profile allows";
    if (!offered.has_value() && it->definition.tools.has_value()) {
      offered.emplace();
      for (const mcp::Tool& t : *it->definition.tools) {
        offered->push_back(t.name);
      }
      source = "its tools";
    }
    if (offered.has_value() &&
        std::find(offered->begin(), offered->end(), tool) == offered->end()) {
      return absl::NotFoundError(absl::StrCat("server '", server, "' has no tool '", tool,
                                              "' in --tools (", source, ": ", Quoted(*offered), ")",
                                              DidYouMean(tool, *offered)));
    }
    std::vector<std::string>& list = narrowed[server];
    if (std::find(list.begin(), list.end(), tool) == list.end()) {
      list.push_back(tool);
    }
  }
  std::vector<ResolvedServer> kept;
  for (ResolvedServer& s : servers) {
    bool keep = !server_names.empty() ? selected.count(s.name) != 0
                : !tools.empty()      ? narrowed.count(s.name) != 0
                                      : true;
    if (!keep) {
      continue;
    }
    auto it = narrowed.find(s.name);
    if (it != narrowed.end() && keep_all.count(s.name) == 0) {
      s.allowed_tools = it->second;
    }
    kept.push_back(std::move(s));
  }
  servers = std::move(kept);
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, std::string>> ParseAdHocFlag(absl::string_view value) {
  size_t eq = value.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--command '", value, "' needs a name: --command NAME='program arg...'"));
  }
  return std::make_pair(std::string(value.substr(0, eq)), std::string(value.substr(eq + 1)));
}

absl::StatusOr<ResolvedServer> AdHocServer(absl::string_view name, absl::string_view command_line,
                                           const std::map<std::string, std::string>& env,
                                           const GatewaySettings& gateway) {
  auto bad = [&](absl::string_view message) {
    return absl::InvalidArgumentError(absl::StrCat("--command ", name, ": ", message));
  };
  if (!IsValidName(name) || absl::StrContains(name, kPrefixSeparator)) {
    return bad(absl::StrCat("'", name,
                            "' is not a valid server name: use 1-128 of A-Z a-z 0-9 "
                            "_ . - without '__'"));
  }
  absl::StatusOr<std::vector<std::string>> argv = SplitShellWords(command_line);
  if (!argv.ok()) {
    return bad(argv.status().message());
  }
  if (argv->empty() || argv->front().empty()) {
    return bad("the command is empty; give the program to run and its arguments");
  }
  for (const std::string& word : *argv) {
    if (ContainsPlaceholder(word)) {
      return bad(
          "placeholders are not allowed in a command line (it shows in `ps`); pass the "
          "value with --env NAME={{secret.NAME}} instead");
    }
  }
  ResolvedServer out;
  out.name = std::string(name);
  out.origin = "--command";
  ServerDefinition& def = out.definition;
  def.name = out.name;
  def.kind = ServerDefinition::Kind::kCommand;
  def.command = *std::move(argv);
  for (const auto& [var, value] : env) {
    if (!IsEnvName(var)) {
      return bad(absl::StrCat("--env '", var, "' is not an environment variable name"));
    }
    absl::StatusOr<std::vector<Placeholder>> refs = ParsePlaceholders(value);
    if (!refs.ok()) {
      return bad(absl::StrCat("--env ", var, ": ", refs.status().message()));
    }
    for (const Placeholder& p : *refs) {
      if (p.kind == Placeholder::Kind::kConfig) {
        return bad(absl::StrCat("--env ", var, ": ", ToString(p),
                                ": a server given with --command has no config"));
      }
      if (def.FindSecret(p.key) == nullptr) {
        def.secrets.push_back(SecretSpec{.name = p.key, .env = "", .how = ""});
      }
    }
    def.env[var] = value;
  }
  out.settings = EffectiveSettings(def, RunSettings{}, std::nullopt, gateway);
  return out;
}

absl::StatusOr<container::RunSpec> BuildRunSpec(const ResolvedServer& server,
                                                const mcp::Json& config, SecretLookup secrets) {
  const ServerDefinition& def = server.definition;
  auto error = [&](absl::StatusCode code, absl::string_view message) {
    return absl::Status(code, absl::StrCat("server '", server.name, "': ", message));
  };
  if (def.kind == ServerDefinition::Kind::kBuiltin) {
    return error(absl::StatusCode::kFailedPrecondition,
                 "a built-in server runs inside the gateway; there is nothing to start");
  }
  if (def.kind == ServerDefinition::Kind::kRemote) {
    return error(absl::StatusCode::kFailedPrecondition,
                 "a remote server runs elsewhere; there is nothing to start (the gateway "
                 "connects to it: see BuildRemoteConnection)");
  }
  absl::StatusOr<mcp::Json> effective = EffectiveConfig(def, config, "config");
  if (!effective.ok()) {
    return error(absl::StatusCode::kInvalidArgument, effective.status().message());
  }

  container::RunSpec spec;
  spec.labels[std::string(kServerLabel)] = server.name;
  if (def.kind == ServerDefinition::Kind::kImage) {
    spec.image = def.image;
    spec.args = def.args;
    spec.network = server.settings.network;
    spec.cpus = server.settings.cpus;
    spec.memory_bytes = server.settings.memory_bytes;
    spec.pids_limit = server.settings.pids_limit;
    for (const VolumeSpec& volume : def.volumes) {
      absl::StatusOr<container::Mount> mount = MakeMount(volume, *effective);
      if (!mount.ok()) {
        return error(absl::StatusCode::kInvalidArgument,
                     absl::StrCat(mount.status().message(), ProfileHint(server.name)));
      }
      spec.mounts.push_back(*std::move(mount));
    }
  } else {
    if (def.command.empty()) {
      return error(absl::StatusCode::kInvalidArgument, "the command is empty");
    }
    // Limits and networks are container features; a local process runs with the user's rights
    // (RunSpec's defaults: PATH, HOME and LANG passed on, nothing else inherited).
    spec.command = def.command.front();
    spec.args.assign(def.command.begin() + 1, def.command.end());
    spec.args.insert(spec.args.end(), def.args.begin(), def.args.end());
  }
  // A definition made in code is not checked on load: never let a placeholder (let alone a
  // secret) reach a command line.
  if (ContainsPlaceholder(spec.command) ||
      std::any_of(spec.args.begin(), spec.args.end(),
                  [](const std::string& a) { return ContainsPlaceholder(a); })) {
    return error(absl::StatusCode::kInvalidArgument,
                 "placeholders are not allowed in a command line; pass values through env");
  }

  ValueExpander expander(server, *effective, secrets);
  for (const auto& [var, text] : def.env) {
    absl::StatusOr<std::string> value = expander.Expand(text, absl::StrCat("env.", var));
    if (!value.ok()) {
      return value.status();
    }
    spec.env[var] = *std::move(value);
  }
  for (const SecretSpec& s : def.secrets) {
    if (s.env.empty()) {
      continue;
    }
    absl::StatusOr<std::string> value = expander.Secret(s.name, s.env);
    if (!value.ok()) {
      return value.status();
    }
    spec.env[s.env] = *std::move(value);
  }
  return spec;
}

absl::StatusOr<RemoteConnection> BuildRemoteConnection(const ResolvedServer& server,
                                                       const mcp::Json& config,
                                                       SecretLookup secrets) {
  const ServerDefinition& def = server.definition;
  auto error = [&](absl::StatusCode code, absl::string_view message) {
    return absl::Status(code, absl::StrCat("server '", server.name, "': ", message));
  };
  if (def.kind != ServerDefinition::Kind::kRemote) {
    return error(absl::StatusCode::kFailedPrecondition,
                 "not a remote server; it is started with BuildRunSpec");
  }
  // A definition made in code is not checked on load.
  if (absl::Status s = internal::CheckRemoteUrl(def.remote.url); !s.ok()) {
    return error(absl::StatusCode::kInvalidArgument, s.message());
  }
  absl::StatusOr<mcp::Json> effective = EffectiveConfig(def, config, "config");
  if (!effective.ok()) {
    return error(absl::StatusCode::kInvalidArgument, effective.status().message());
  }
  bool clear_text =
      absl::StartsWithIgnoreCase(def.remote.url, "http://") && !IsLoopbackUrl(def.remote.url);
  RemoteConnection out;
  out.url = def.remote.url;
  out.transport = def.remote.transport;
  ValueExpander expander(server, *effective, secrets);
  for (const auto& [name, text] : def.remote.headers) {
    std::string used_by = absl::StrCat("header ", name);
    if (clear_text) {
      absl::StatusOr<std::vector<Placeholder>> refs = ParsePlaceholders(text);
      if (refs.ok() && std::any_of(refs->begin(), refs->end(), [](const Placeholder& p) {
            return p.kind == Placeholder::Kind::kSecret;
          })) {
        return error(absl::StatusCode::kInvalidArgument,
                     absl::StrCat(used_by, ": a secret would travel in clear text to ", out.url,
                                  "; use https://"));
      }
    }
    absl::StatusOr<std::string> value = expander.Expand(text, used_by);
    if (!value.ok()) {
      return value.status();
    }
    // A secret or config value with a line break would split the request's headers.
    if (std::any_of(value->begin(), value->end(), [](char c) {
          return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
        })) {
      return error(absl::StatusCode::kInvalidArgument,
                   absl::StrCat(used_by, ": its value holds a line break or a control "
                                         "character (check the secrets and config it uses)"));
    }
    out.headers.emplace_back(name, *std::move(value));
  }
  return out;
}

}  // namespace mcpgw::gateway
