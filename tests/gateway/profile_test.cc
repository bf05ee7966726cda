#include "mcpgw/gateway/profile.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/gateway/run.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mcpgw-profile-XXXXXX");
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& relative, const std::string& text) const {
    std::filesystem::path p = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  std::string path_;
};

// Parses and resolves `yaml` as mcpgw.yaml with no user catalogs.
absl::StatusOr<ResolvedProfile> Resolve(const std::string& yaml, ResolveOptions options = {}) {
  absl::StatusOr<Profile> profile = ParseProfile(yaml, "mcpgw.yaml");
  if (!profile.ok()) {
    return profile.status();
  }
  TempDir config;
  if (options.config_dir.empty()) {
    options.config_dir = config.path();
  }
  return ResolveProfile(*profile, options);
}

std::string ParseError(const std::string& yaml) {
  absl::StatusOr<Profile> p = ParseProfile(yaml, "mcpgw.yaml");
  if (p.ok()) {
    return "";
  }
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
  return std::string(p.status().message());
}

std::string ResolveError(const std::string& yaml) {
  absl::StatusOr<ResolvedProfile> p = Resolve(yaml);
  return p.ok() ? "" : std::string(p.status().message());
}

const ResolvedServer& Server(const ResolvedProfile& p, const std::string& name) {
  for (const ResolvedServer& s : p.servers) {
    if (s.name == name) {
      return s;
    }
  }
  static const ResolvedServer none;
  ADD_FAILURE() << "no server " << name;
  return none;
}

std::vector<std::string> Names(const ResolvedProfile& p) {
  std::vector<std::string> out;
  for (const ResolvedServer& s : p.servers) {
    out.push_back(s.name);
  }
  return out;
}

// A secret store for tests: counts lookups, NotFound for names it does not hold.
struct FakeSecrets {
  std::map<std::string, std::string> values;
  std::map<std::string, int> lookups;
  absl::StatusOr<std::string> operator()(absl::string_view name) {
    ++lookups[std::string(name)];
    auto it = values.find(std::string(name));
    if (it == values.end()) {
      return absl::NotFoundError(absl::StrCat("no secret ", name));
    }
    return it->second;
  }
};

// The profile sketched in the design brief, with its team catalog.
TEST(Profile, DesignSketchResolves) {
  TempDir dir;
  dir.Write("team-catalog.yaml", R"yaml(
version: 1
servers:
  github:
    image: ghcr.io/github/github-mcp-server
    network: true
    secrets:
      - {name: github.token, env: GITHUB_PERSONAL_ACCESS_TOKEN}
    config:
      type: object
      properties:
        owner: {type: string}
      required: [owner]
    env:
      GITHUB_OWNER: "{{config.owner}}"
    tools:
      - {name: list_issues, inputSchema: {type: object}}
      - {name: get_issue, inputSchema: {type: object}}
      - {name: create_issue, inputSchema: {type: object}}
)yaml");
  std::string path = dir.Write("mcpgw.yaml", R"yaml(
version: 1
name: dev-tools
catalogs: [default, ./team-catalog.yaml]
servers:
  fetch: {}                       # from a catalog, with its defaults
  github:
    tools: [list_issues, get_issue]   # allow-list; others are hidden
    config: {owner: acme}
  notes:                          # defined inline, not from a catalog
    command: [npx, -y, "@modelcontextprotocol/server-memory"]
gateway:
  naming: prefix-on-conflict       # or always-prefix / never
  mode: on-demand                  # or long-lived / per-call
  idle_timeout: 5m
  limits: {cpus: 1, memory: 2g}
  network: none                    # per-server override where a server needs it
)yaml");
  MCPGW_ASSERT_OK_AND_ASSIGN(Profile profile, LoadProfileFile(path));
  EXPECT_EQ(profile.name, "dev-tools");
  EXPECT_EQ(profile.base_dir, dir.path());
  ASSERT_TRUE(profile.catalogs.has_value());
  EXPECT_EQ(profile.catalogs->size(), 2u);
  EXPECT_EQ(profile.gateway.network, "none");
  EXPECT_EQ(profile.gateway.memory_bytes, int64_t{2} << 30);

  TempDir config;
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile resolved,
                             ResolveProfile(profile, {.config_dir = config.path()}));
  EXPECT_EQ(resolved.name, "dev-tools");
  EXPECT_THAT(Names(resolved), ElementsAre("fetch", "github", "notes"));

  const ResolvedServer& fetch = Server(resolved, "fetch");
  EXPECT_EQ(fetch.origin, "catalog 'default'");
  EXPECT_EQ(fetch.definition.image, "mcp/fetch");
  EXPECT_FALSE(fetch.allowed_tools.has_value());
  // The catalog says fetch needs a network; the gateway says none, and it has the last word.
  EXPECT_EQ(fetch.settings.network, "none");
  EXPECT_EQ(fetch.settings.memory_bytes, int64_t{512} << 20);  // the catalog's hint

  const ResolvedServer& github = Server(resolved, "github");
  EXPECT_EQ(github.origin, "catalog 'team-catalog'");
  EXPECT_THAT(github.allowed_tools, Optional(ElementsAre("list_issues", "get_issue")));
  EXPECT_EQ(github.config.Serialize(), R"({"owner":"acme"})");
  EXPECT_EQ(github.settings.memory_bytes, int64_t{2} << 30);  // the gateway's default

  const ResolvedServer& notes = Server(resolved, "notes");
  EXPECT_EQ(notes.origin, path);
  EXPECT_EQ(notes.definition.kind, ServerDefinition::Kind::kCommand);
  EXPECT_THAT(notes.definition.command,
              ElementsAre("npx", "-y", "@modelcontextprotocol/server-memory"));
  EXPECT_EQ(notes.settings.mode, RunMode::kOnDemand);
  EXPECT_EQ(notes.settings.idle_timeout, absl::Minutes(5));
}

TEST(Profile, Defaults) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Profile p, ParseProfile("version: 1\n", "dir/my-profile.yaml"));
  EXPECT_EQ(p.name, "my-profile");
  EXPECT_FALSE(p.catalogs.has_value());
  EXPECT_TRUE(p.servers.empty());
  EXPECT_EQ(p.gateway.naming, NamingPolicy::kPrefixOnConflict);
  EXPECT_EQ(p.gateway.mode, RunMode::kOnDemand);
  EXPECT_EQ(p.gateway.idle_timeout, absl::Minutes(5));
  EXPECT_EQ(p.gateway.per_call_concurrency, 4);
  EXPECT_EQ(p.gateway.cpus, 1);
  EXPECT_EQ(p.gateway.memory_bytes, int64_t{2} << 30);
  EXPECT_EQ(p.gateway.pids_limit, 512);
  EXPECT_EQ(p.gateway.network, "bridge");
}

TEST(Profile, ParseErrorsNameFileLineColumnAndField) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"name: x\n", "mcpgw.yaml:1:1: missing 'version: 1' at the top of the profile"},
      {"version: 3\n",
       "mcpgw.yaml:1:10: version: unsupported version 3; this mcpgw reads profile files of "
       "version 1"},
      {"version: 1\nserver: {}\n", "mcpgw.yaml:2:1: server: unknown key; did you mean 'servers'?"},
      {"version: 1\ncatalogs: default\n",
       "mcpgw.yaml:2:11: catalogs: expected a list of catalogs (default, a user catalog's name, "
       "or a path), got the string 'default'"},
      {"version: 1\ncatalogs: [default, team, default]\n",
       "mcpgw.yaml:2:27: catalogs[2]: catalog 'default' is listed twice"},
      // The example of the brief, to the letter.
      {"version: 1\nservers:\n  github:\n    tools:\n      list_issues: true\n",
       "mcpgw.yaml:5:7: servers.github.tools: expected a list of tool names, got a map"},
      {"version: 1\nservers:\n  github:\n    tools:\n      - name: list_issues\n",
       "mcpgw.yaml:5:9: servers.github.tools[0]: expected a tool name, got a map (full tool "
       "definitions belong in a catalog entry)"},
      {"version: 1\nservers:\n  github:\n    tools: [a, b, a]\n",
       "mcpgw.yaml:4:19: servers.github.tools[2]: tool 'a' is listed twice"},
      {"version: 1\nservers:\n  github:\n    tools: [\"a b\"]\n",
       "mcpgw.yaml:4:13: servers.github.tools[0]: 'a b' is not a valid tool name"},
      {"version: 1\nservers:\n  fetch:\n    tols: [fetch]\n",
       "mcpgw.yaml:4:5: servers.fetch.tols: unknown key; did you mean 'tools'?"},
      {"version: 1\nservers:\n  fetch:\n    volumes: [/a:/b]\n",
       "mcpgw.yaml:4:5: servers.fetch.volumes: only a server defined inline (with image, "
       "command or remote) sets 'volumes'; 'fetch' comes from a catalog"},
      {"version: 1\nservers:\n  notes:\n    from: memory\n    command: notes\n",
       "mcpgw.yaml:4:5: servers.notes.from: a server defined inline (with 'command') does not "
       "come from a catalog"},
      {"version: 1\nservers:\n  notes:\n    command: \"notes --key={{secret.k}}\"\n",
       "mcpgw.yaml:4:14: servers.notes.command: placeholders are not allowed in a command line: "
       "it shows in `ps` and in the container's configuration; pass the value through env "
       "instead"},
      {"version: 1\nservers:\n  notes:\n    command: notes\n    env: {K: \"{{secret.k}}\"}\n",
       "mcpgw.yaml:5:14: servers.notes.env.K: {{secret.k}} names a secret this server does not "
       "declare (it declares none); a server gets only the secrets listed under its "
       "'secrets'"},
      {"version: 1\nservers:\n  fetch:\n    config: [a]\n",
       "mcpgw.yaml:4:13: servers.fetch.config: expected a map of config values, got a list"},
      {"version: 1\nservers:\n  fetch:\n    network: maybe?\n",
       "mcpgw.yaml:4:14: servers.fetch.network: expected true, false or a network name such as "
       "bridge, got the string 'maybe?'"},
      {"version: 1\nservers:\n  fetch:\n    run: {mode: always}\n",
       "mcpgw.yaml:4:17: servers.fetch.run.mode: unknown run mode 'always'; use on-demand, "
       "long-lived or per-call"},
      {"version: 1\nservers:\n  fetch:\n    mode: per-call\n",
       "mcpgw.yaml:4:5: servers.fetch.mode: unknown key; expected one of: from, tools, config, "
       "env, run, network, title, description, image, command, remote, args, builtin, "
       "secrets, volumes"},
      {"version: 1\nservers:\n  fetch: [a]\n",
       "mcpgw.yaml:3:10: servers.fetch: expected a map of server settings ({} for a catalog "
       "server's defaults), got a list"},
      {"version: 1\ngateway:\n  naming: sometimes\n",
       "mcpgw.yaml:3:11: gateway.naming: unknown naming policy 'sometimes'; use "
       "prefix-on-conflict, always-prefix or never"},
      {"version: 1\ngateway:\n  idle-timeout: 5m\n",
       "mcpgw.yaml:3:3: gateway.idle-timeout: unknown key; did you mean 'idle_timeout'?"},
      {"version: 1\ngateway:\n  network: false\n",
       "mcpgw.yaml:3:12: gateway.network: expected a network name such as none or bridge, got "
       "false"},
      {"version: 1\ngateway:\n  limits: {memory: 2 gigs}\n",
       "mcpgw.yaml:3:20: gateway.limits.memory: '2 gigs' is not a size; write bytes or a number "
       "with a unit: 512m, 2g, 1.5g"},
      {"version: 1\ngateway:\n  limits: {cpus: lots}\n",
       "mcpgw.yaml:3:18: gateway.limits.cpus: expected a number of CPU cores such as 1 or 0.5, "
       "got the string 'lots'"},
      {"version: 1\ngateway:\n  per_call_concurrency: -1\n",
       "mcpgw.yaml:3:25: gateway.per_call_concurrency: expected a positive number of concurrent "
       "calls, got -1"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseError(c.yaml), c.error) << "for:\n" << c.yaml;
  }
}

TEST(Profile, ResolveErrorsNameFileLineColumnAndField) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"version: 1\nservers:\n  fetchh: {}\n",
       "mcpgw.yaml:3:3: servers.fetchh: no catalog defines 'fetchh'; did you mean 'fetch'? "
       "(catalogs read: default; servers: mcpgw, fetch, time, filesystem, github)"},
      {"version: 1\nservers:\n  web:\n    from: fech\n",
       "mcpgw.yaml:4:11: servers.web.from: no catalog defines 'fech'; did you mean 'fetch'? "
       "(catalogs read: default; servers: mcpgw, fetch, time, filesystem, github)"},
      {"version: 1\nservers:\n  time:\n    tools: [get_current_time, get_time]\n",
       "mcpgw.yaml:4:31: servers.time.tools[1]: 'time' has no tool 'get_time' (its tools: "
       "get_current_time, convert_time)"},
      {"version: 1\nservers:\n  fetch:\n    config: {a: 1}\n",
       "mcpgw.yaml:4:13: servers.fetch.config: 'fetch' takes no config (its catalog entry "
       "declares no config schema)"},
      {"version: 1\nservers:\n  filesystem: {}\n",
       "mcpgw.yaml:3:3: servers.filesystem.config.path: required property is missing"},
      {"version: 1\nservers:\n  filesystem:\n    config: {path: 7}\n",
       "mcpgw.yaml:4:13: servers.filesystem.config.path: must be a string, got an integer"},
      {"version: 1\nservers:\n  filesystem:\n    config: {path: relative/dir}\n",
       "mcpgw.yaml:4:13: servers.filesystem.config: the volume source for /projects must be an "
       "absolute host path or a volume name, got 'relative/dir'; give it under "
       "servers.filesystem.config in the profile"},
      {"version: 1\nservers:\n  fetch:\n    env: {X: \"{{secret.github.token}}\"}\n",
       "mcpgw.yaml:4:14: servers.fetch.env.X: {{secret.github.token}} names a secret this "
       "server does not declare (it declares none); a server gets only the secrets listed "
       "under its 'secrets'"},
      {"version: 1\nservers:\n  github:\n    env: {GITHUB_PERSONAL_ACCESS_TOKEN: x}\n",
       "mcpgw.yaml:4:41: servers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN: this variable carries "
       "the secret 'github.token'; the profile may not replace it"},
      {"version: 1\nservers:\n  github:\n    env: {X: \"{{config.nope}}\"}\n",
       "mcpgw.yaml:4:14: servers.github.env.X: {{config.nope}} names no property of the config "
       "schema (it has toolsets)"},
      {"version: 1\nservers:\n  notes:\n    command: notes\n    env: {ORG: \"{{config.org}}\"}\n",
       "mcpgw.yaml:5:16: servers.notes.env.ORG: {{config.org}} in env.ORG: config 'org' is not "
       "set; give it under servers.notes.config in the profile"},
      {"version: 1\ncatalogs: [default, ./nowhere.yaml]\n",
       "mcpgw.yaml:2:21: catalogs[1]: no catalog file 'nowhere.yaml' (relative paths start "
       "from the profile's directory)"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ResolveError(c.yaml), c.error) << "for:\n" << c.yaml;
  }
  EXPECT_THAT(Resolve("version: 1\ncatalogs: [teem]\n"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("mcpgw.yaml:2:12: catalogs[0]: no catalog named 'teem'"),
                             HasSubstr("there are no user catalogs in"))));
  EXPECT_THAT(Resolve("version: 1\nservers:\n  nope: {}\n"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(Profile, CatalogErrorsKeepTheirOwnLocation) {
  TempDir dir;
  dir.Write("team.yaml", "version: 1\nservers:\n  x:\n    imgae: a\n");
  std::string path = dir.Write("p.yaml", "version: 1\ncatalogs: [team.yaml]\n");
  MCPGW_ASSERT_OK_AND_ASSIGN(Profile p, LoadProfileFile(path));
  EXPECT_THAT(ResolveProfile(p, {.config_dir = dir.path()}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       dir.path() + "/team.yaml:4:5: servers.x.imgae: unknown key; did you "
                                    "mean 'image'?"));
}

TEST(Profile, UserCatalogsAndLaterCatalogsWin) {
  TempDir config;
  std::filesystem::create_directories(config.path() + "/catalogs");
  std::ofstream(config.path() + "/catalogs/team.yaml")
      << "version: 1\nservers:\n  fetch:\n    image: acme/fetch:2\n  notes:\n"
         "    command: notes-server\n";
  // No `catalogs:`: default plus every user catalog, the user's winning.
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile all,
                             Resolve("version: 1\nservers:\n  fetch: {}\n  notes: {}\n  time: {}\n",
                                     {.config_dir = config.path()}));
  EXPECT_EQ(Server(all, "fetch").definition.image, "acme/fetch:2");
  EXPECT_EQ(Server(all, "fetch").origin, "catalog 'team'");
  EXPECT_EQ(Server(all, "time").origin, "catalog 'default'");
  // Explicit order: the later one wins.
  MCPGW_ASSERT_OK_AND_ASSIGN(
      ResolvedProfile reversed,
      Resolve("version: 1\ncatalogs: [team, default]\nservers:\n  fetch: {}\n",
              {.config_dir = config.path()}));
  EXPECT_EQ(Server(reversed, "fetch").definition.image, "mcp/fetch");
  // Only the named catalogs are read.
  EXPECT_THAT(Resolve("version: 1\ncatalogs: [default]\nservers:\n  notes: {}\n",
                      {.config_dir = config.path()}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no catalog defines 'notes'")));
  // `from:` runs a catalog entry under another name.
  MCPGW_ASSERT_OK_AND_ASSIGN(
      ResolvedProfile renamed,
      Resolve("version: 1\nservers:\n  web:\n    from: fetch\n", {.config_dir = config.path()}));
  EXPECT_EQ(Server(renamed, "web").definition.name, "web");
  EXPECT_EQ(Server(renamed, "web").definition.image, "acme/fetch:2");
}

TEST(Profile, EffectiveSettings) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile p, Resolve(R"yaml(
version: 1
servers:
  fetch: {}                    # catalog: network true, memory 512m
  time: {}                     # catalog: no network, memory 256m
  time2:
    from: time
    network: true              # a grant
    run:
      mode: per-call
      idle_timeout: 1m
      per_call_concurrency: 9
      limits: {cpus: 2, memory: 1g, pids: 100}
  fetch2:
    from: fetch
    network: false             # a denial
  fetch3:
    from: fetch
    network: host              # a named network
gateway:
  mode: long-lived
  idle_timeout: 10m
  per_call_concurrency: 3
  limits: {cpus: 0.5, memory: 4g, pids: 50}
  network: mcpnet
)yaml"));
  const ServerSettings& fetch = Server(p, "fetch").settings;
  EXPECT_EQ(fetch.mode, RunMode::kLongLived);
  EXPECT_EQ(fetch.idle_timeout, absl::Minutes(10));
  EXPECT_EQ(fetch.per_call_concurrency, 3);
  EXPECT_EQ(fetch.cpus, 0.5);
  EXPECT_EQ(fetch.memory_bytes, int64_t{512} << 20);
  EXPECT_EQ(fetch.pids_limit, 50);
  EXPECT_EQ(fetch.network, "mcpnet");
  EXPECT_EQ(Server(p, "time").settings.network, "none");
  EXPECT_EQ(Server(p, "time").settings.memory_bytes, int64_t{256} << 20);

  const ServerSettings& time2 = Server(p, "time2").settings;
  EXPECT_EQ(time2.mode, RunMode::kPerCall);
  EXPECT_EQ(time2.idle_timeout, absl::Minutes(1));
  EXPECT_EQ(time2.per_call_concurrency, 9);
  EXPECT_EQ(time2.cpus, 2);
  EXPECT_EQ(time2.memory_bytes, int64_t{1} << 30);
  EXPECT_EQ(time2.pids_limit, 100);
  EXPECT_EQ(time2.network, "mcpnet");
  EXPECT_EQ(Server(p, "fetch2").settings.network, "none");
  EXPECT_EQ(Server(p, "fetch3").settings.network, "host");

  // With the gateway's network "none", a catalog's need gets nothing, a grant gets bridge.
  MCPGW_ASSERT_OK_AND_ASSIGN(
      ResolvedProfile none,
      Resolve("version: 1\nservers:\n  fetch: {}\n  time:\n    network: true\n"
              "gateway: {network: none}\n"));
  EXPECT_EQ(Server(none, "fetch").settings.network, "none");
  EXPECT_EQ(Server(none, "time").settings.network, "bridge");
  // Built-in defaults: a catalog's need gets bridge.
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile plain,
                             Resolve("version: 1\nservers:\n  fetch: {}\n  time: {}\n"));
  EXPECT_EQ(Server(plain, "fetch").settings.network, "bridge");
  EXPECT_EQ(Server(plain, "time").settings.network, "none");
}

constexpr absl::string_view kNarrowingProfile = R"yaml(
version: 1
servers:
  fetch: {}
  time: {}
  github:
    tools: [get_me, list_issues]
  notes:
    command: notes-server
)yaml";

TEST(Profile, NarrowingByServers) {
  MCPGW_ASSERT_OK_AND_ASSIGN(
      ResolvedProfile p, Resolve(std::string(kNarrowingProfile), {.servers = {"notes", "time"}}));
  EXPECT_THAT(Names(p), ElementsAre("time", "notes"));  // the profile's order
  EXPECT_THAT(Resolve(std::string(kNarrowingProfile), {.servers = {"tme"}}),
              StatusIs(absl::StatusCode::kNotFound,
                       "unknown server 'tme' in --servers; the servers are: fetch, time, "
                       "github, notes; did you mean 'time'?"));
}

TEST(Profile, NarrowingByTools) {
  // --tools alone: only the servers it names, with only the tools it names.
  MCPGW_ASSERT_OK_AND_ASSIGN(
      ResolvedProfile p,
      Resolve(std::string(kNarrowingProfile),
              {.tools = {"time:convert_time", "github:list_issues", "notes:anything"}}));
  EXPECT_THAT(Names(p), ElementsAre("time", "github", "notes"));
  EXPECT_THAT(Server(p, "time").allowed_tools, Optional(ElementsAre("convert_time")));
  EXPECT_THAT(Server(p, "github").allowed_tools, Optional(ElementsAre("list_issues")));
  // A server with no known tool list is checked when it lists them.
  EXPECT_THAT(Server(p, "notes").allowed_tools, Optional(ElementsAre("anything")));

  // With --servers: those servers run; --tools narrows the ones it names.
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile q,
                             Resolve(std::string(kNarrowingProfile),
                                     {.servers = {"fetch", "github"}, .tools = {"github:get_me"}}));
  EXPECT_THAT(Names(q), ElementsAre("fetch", "github"));
  EXPECT_FALSE(Server(q, "fetch").allowed_tools.has_value());
  EXPECT_THAT(Server(q, "github").allowed_tools, Optional(ElementsAre("get_me")));

  // server:* keeps a server whole (its profile allow-list still applies).
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile r,
                             Resolve(std::string(kNarrowingProfile),
                                     {.tools = {"github:*", "time:*", "time:convert_time"}}));
  EXPECT_THAT(Names(r), ElementsAre("time", "github"));
  EXPECT_FALSE(Server(r, "time").allowed_tools.has_value());
  EXPECT_THAT(Server(r, "github").allowed_tools, Optional(ElementsAre("get_me", "list_issues")));

  // Errors name what is wrong and list what exists.
  EXPECT_THAT(Resolve(std::string(kNarrowingProfile), {.tools = {"tiem:convert_time"}}),
              StatusIs(absl::StatusCode::kNotFound,
                       "unknown server 'tiem' in --tools; the servers are: fetch, time, github, "
                       "notes; did you mean 'time'?"));
  EXPECT_THAT(Resolve(std::string(kNarrowingProfile), {.tools = {"time:convert"}}),
              StatusIs(absl::StatusCode::kNotFound,
                       "server 'time' has no tool 'convert' in --tools (its tools: "
                       "get_current_time, convert_time)"));
  EXPECT_THAT(Resolve(std::string(kNarrowingProfile), {.tools = {"github:create_issue"}}),
              StatusIs(absl::StatusCode::kNotFound,
                       "server 'github' has no tool 'create_issue' in --tools (the profile "
                       "allows: get_me, list_issues)"));
  EXPECT_THAT(Resolve(std::string(kNarrowingProfile),
                      {.servers = {"fetch"}, .tools = {"time:convert_time"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--tools names server 'time', which --servers leaves out")));
  for (const char* bad : {"time", ":x", "time:", ""}) {
    EXPECT_THAT(Resolve(std::string(kNarrowingProfile), {.tools = {bad}}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not server:tool")))
        << bad;
  }
}

TEST(Profile, AdHocServers) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto flag,
                             ParseAdHocFlag("mem=npx -y '@modelcontextprotocol/server-memory'"));
  EXPECT_EQ(flag.first, "mem");
  EXPECT_EQ(flag.second, "npx -y '@modelcontextprotocol/server-memory'");
  MCPGW_ASSERT_OK_AND_ASSIGN(auto with_eq, ParseAdHocFlag("x=srv --opt=1"));
  EXPECT_EQ(with_eq.second, "srv --opt=1");
  EXPECT_THAT(ParseAdHocFlag("npx server"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs a name")));
  EXPECT_THAT(ParseAdHocFlag("=npx server"), StatusIs(absl::StatusCode::kInvalidArgument));

  MCPGW_ASSERT_OK_AND_ASSIGN(
      ResolvedServer s,
      AdHocServer("mem", R"(npx -y "@modelcontextprotocol/server-memory" --dir 'my notes')",
                  {{"LOG_LEVEL", "debug"}, {"API_KEY", "{{secret.mem.key}}"}}));
  EXPECT_EQ(s.origin, "--command");
  EXPECT_EQ(s.definition.kind, ServerDefinition::Kind::kCommand);
  EXPECT_THAT(s.definition.command,
              ElementsAre("npx", "-y", "@modelcontextprotocol/server-memory", "--dir", "my notes"));
  ASSERT_EQ(s.definition.secrets.size(), 1u);
  EXPECT_EQ(s.definition.secrets[0].name, "mem.key");

  FakeSecrets secrets{.values = {{"mem.key", "s3cr3t"}}};
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec spec, BuildRunSpec(s, s.config, std::ref(secrets)));
  EXPECT_EQ(spec.command, "npx");
  EXPECT_THAT(spec.args,
              ElementsAre("-y", "@modelcontextprotocol/server-memory", "--dir", "my notes"));
  // PATH, HOME and LANG from the gateway, plus --env; nothing else inherited.
  EXPECT_THAT(spec.pass_env, ElementsAre("PATH", "HOME", "LANG"));
  EXPECT_FALSE(spec.inherit_env);
  EXPECT_THAT(spec.env,
              UnorderedElementsAre(Pair("LOG_LEVEL", "debug"), Pair("API_KEY", "s3cr3t")));
  EXPECT_TRUE(spec.image.empty());
  EXPECT_THAT(spec.labels, UnorderedElementsAre(Pair("io.mcpgw.server", "mem")));

  struct Bad {
    std::string name;
    std::string command;
    std::map<std::string, std::string> env;
    std::string error;
  };
  const std::vector<Bad> bad = {
      {"mem",
       "npx 'unclosed",
       {},
       "--command mem: unterminated single quote at character 5 of the command"},
      {"mem",
       "   ",
       {},
       "--command mem: the command is empty; give the program to run and its "
       "arguments"},
      {"mem", "srv | tee log", {}, "--command mem: unquoted '|' at character 5 of the command"},
      {"my mem", "srv", {}, "--command my mem: 'my mem' is not a valid server name"},
      {"a__b", "srv", {}, "--command a__b: 'a__b' is not a valid server name"},
      {"mem", "srv --key={{secret.k}}", {}, "placeholders are not allowed in a command line"},
      {"mem", "srv", {{"1X", "y"}}, "--command mem: --env '1X' is not an environment variable"},
      {"mem",
       "srv",
       {{"X", "{{config.a}}"}},
       "--command mem: --env X: {{config.a}}: a server given with --command has no config"},
      {"mem", "srv", {{"X", "{{oops}}"}}, "--command mem: --env X: unknown placeholder"},
  };
  for (const Bad& b : bad) {
    EXPECT_THAT(AdHocServer(b.name, b.command, b.env),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(b.error)))
        << b.command;
  }
}

TEST(RunSpec, ImageServerGetsNetworkOnlyWhenDeclaredAndLimits) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile p, Resolve(R"yaml(
version: 1
servers:
  fetch: {}
  time:
    run:
      limits: {cpus: 0.25, memory: 64m, pids: 32}
gateway:
  limits: {cpus: 1.5, memory: 1g, pids: 200}
)yaml"));
  FakeSecrets secrets;
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec fetch,
                             BuildRunSpec(Server(p, "fetch"), mcp::Json(), std::ref(secrets)));
  EXPECT_EQ(fetch.image, "mcp/fetch");
  EXPECT_TRUE(fetch.command.empty());
  EXPECT_TRUE(fetch.args.empty());
  EXPECT_EQ(fetch.network, "bridge");
  EXPECT_EQ(fetch.cpus, 1.5);
  EXPECT_EQ(fetch.memory_bytes, int64_t{512} << 20);  // the catalog's hint beats the gateway's
  EXPECT_EQ(fetch.pids_limit, 200);
  EXPECT_THAT(fetch.labels, UnorderedElementsAre(Pair("io.mcpgw.server", "fetch")));
  EXPECT_TRUE(fetch.env.empty());

  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec time,
                             BuildRunSpec(Server(p, "time"), mcp::Json(), std::ref(secrets)));
  EXPECT_EQ(time.network, "none");
  EXPECT_EQ(time.cpus, 0.25);
  EXPECT_EQ(time.memory_bytes, int64_t{64} << 20);
  EXPECT_EQ(time.pids_limit, 32);
  EXPECT_TRUE(secrets.lookups.empty());
}

TEST(RunSpec, ConfigDefaultsVolumesAndTemplates) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile p, Resolve(R"yaml(
version: 1
servers:
  filesystem:
    config: {path: /home/me/src}
  github: {}
  github2:
    from: github
    config: {toolsets: all}
    env:
      EXTRA: "org={{config.toolsets}} n={{ config.toolsets }}"
)yaml"));
  FakeSecrets secrets{.values = {{"github.token", "ghp_SECRET"}}};
  const ResolvedServer& fs = Server(p, "filesystem");
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec spec,
                             BuildRunSpec(fs, fs.config, std::ref(secrets)));
  EXPECT_EQ(spec.image, "mcp/filesystem");
  EXPECT_THAT(spec.args, ElementsAre("/projects"));
  ASSERT_EQ(spec.mounts.size(), 1u);
  EXPECT_EQ(spec.mounts[0].type, container::Mount::Type::kBind);
  EXPECT_EQ(spec.mounts[0].source, "/home/me/src");
  EXPECT_EQ(spec.mounts[0].target, "/projects");
  EXPECT_FALSE(spec.mounts[0].read_only);
  // Other config values: the caller's, checked against the schema.
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json volume_config, mcp::Json::Parse(R"({"path":"cache"})"));
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec with_volume,
                             BuildRunSpec(fs, volume_config, std::ref(secrets)));
  EXPECT_EQ(with_volume.mounts[0].type, container::Mount::Type::kVolume);
  MCPGW_ASSERT_OK_AND_ASSIGN(mcp::Json wrong_type, mcp::Json::Parse(R"({"path":3})"));
  EXPECT_THAT(BuildRunSpec(fs, wrong_type, std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "server 'filesystem': config.path: must be a string, got an integer"));
  EXPECT_THAT(BuildRunSpec(fs, mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "server 'filesystem': config.path: required property is missing"));

  // The schema's default fills a value the profile does not give.
  const ResolvedServer& gh = Server(p, "github");
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec github,
                             BuildRunSpec(gh, gh.config, std::ref(secrets)));
  EXPECT_THAT(github.env,
              UnorderedElementsAre(Pair("GITHUB_TOOLSETS", "repos,issues,pull_requests"),
                                   Pair("GITHUB_PERSONAL_ACCESS_TOKEN", "ghp_SECRET")));
  const ResolvedServer& gh2 = Server(p, "github2");
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec github2,
                             BuildRunSpec(gh2, gh2.config, std::ref(secrets)));
  EXPECT_EQ(github2.env.at("GITHUB_TOOLSETS"), "all");
  EXPECT_EQ(github2.env.at("EXTRA"), "org=all n=all");
  EXPECT_EQ(github2.labels.at("io.mcpgw.server"), "github2");
}

TEST(RunSpec, ConfigValuesOfEveryKind) {
  ResolvedServer s;
  s.name = "x";
  s.definition.kind = ServerDefinition::Kind::kCommand;
  s.definition.command = {"srv"};
  s.definition.env = {{"S", "{{config.s}}"},
                      {"I", "{{config.i}}"},
                      {"F", "{{config.f}}"},
                      {"B", "{{config.b}}"},
                      {"N", "{{config.o.n}}"}};
  MCPGW_ASSERT_OK_AND_ASSIGN(
      mcp::Json config,
      mcp::Json::Parse(R"({"s":"text","i":42,"f":0.5,"b":false,"o":{"n":"deep"},"a":[1]})"));
  FakeSecrets secrets;
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec spec, BuildRunSpec(s, config, std::ref(secrets)));
  EXPECT_THAT(spec.env, UnorderedElementsAre(Pair("S", "text"), Pair("I", "42"), Pair("F", "0.5"),
                                             Pair("B", "false"), Pair("N", "deep")));
  // The command server gets no container settings.
  EXPECT_EQ(spec.command, "srv");
  EXPECT_EQ(spec.cpus, 0);
  EXPECT_EQ(spec.memory_bytes, 0);
  EXPECT_TRUE(spec.mounts.empty());

  s.definition.env = {{"A", "{{config.a}}"}};
  EXPECT_THAT(BuildRunSpec(s, config, std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "server 'x': env.A: config 'a' is a list; a placeholder takes a string, "
                       "a number or a boolean"));
  s.definition.env = {{"M", "{{config.missing.key}}"}};
  EXPECT_THAT(BuildRunSpec(s, config, std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "server 'x': env.M: config 'missing.key' is not set; give it under "
                       "servers.x.config in the profile"));
  s.definition.env = {{"U", "{{unknown.x}}"}};
  EXPECT_THAT(BuildRunSpec(s, config, std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "server 'x': env.U: unknown placeholder '{{unknown.x}}'; use "
                       "{{config.KEY}} or {{secret.NAME}}"));
}

TEST(RunSpec, SecretsReachOnlyEnvAndOnlyWhenDeclared) {
  ResolvedServer s;
  s.name = "api";
  s.definition.kind = ServerDefinition::Kind::kImage;
  s.definition.image = "acme/api";
  s.definition.args = {"--verbose"};
  s.definition.secrets = {SecretSpec{.name = "api.key", .env = "API_KEY", .how = "from the vault"},
                          SecretSpec{.name = "api.user", .env = "", .how = ""}};
  s.definition.env = {{"AUTH", "{{secret.api.user}}:{{secret.api.key}}"}};
  FakeSecrets secrets{
      .values = {{"api.key", "K-123"}, {"api.user", "U-456"}, {"other", "NOT-MINE"}}};
  MCPGW_ASSERT_OK_AND_ASSIGN(container::RunSpec spec,
                             BuildRunSpec(s, mcp::Json(), std::ref(secrets)));
  EXPECT_THAT(spec.env,
              UnorderedElementsAre(Pair("API_KEY", "K-123"), Pair("AUTH", "U-456:K-123")));
  // Never in the command line or labels, and each secret was looked up once.
  for (const std::string& word : spec.args) {
    EXPECT_THAT(word, AllOf(Not(HasSubstr("K-123")), Not(HasSubstr("U-456"))));
  }
  EXPECT_THAT(spec.command, Not(HasSubstr("K-123")));
  for (const auto& [k, v] : spec.labels) {
    EXPECT_THAT(v, Not(HasSubstr("K-123")));
  }
  EXPECT_THAT(secrets.lookups, UnorderedElementsAre(Pair("api.key", 1), Pair("api.user", 1)));

  // A missing secret: one error naming the server, the secret and how to set it; no value.
  FakeSecrets partial{.values = {{"api.user", "U-456"}}};
  absl::StatusOr<container::RunSpec> missing = BuildRunSpec(s, mcp::Json(), std::ref(partial));
  EXPECT_THAT(missing,
              StatusIs(absl::StatusCode::kNotFound,
                       "server 'api': needs the secret 'api.key' (for env.AUTH), which is "
                       "not set; set it with `mcpgw secret set api.key` (from the vault)"));
  EXPECT_THAT(std::string(missing.status().message()), Not(HasSubstr("U-456")));

  // Another failure of the store keeps its code and names server and secret.
  auto broken = [](absl::string_view) -> absl::StatusOr<std::string> {
    return absl::PermissionDeniedError("the store's mode is 0644; run chmod 600");
  };
  EXPECT_THAT(BuildRunSpec(s, mcp::Json(), broken),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "server 'api': secret 'api.user': the store's mode is 0644; run chmod 600"));

  // A definition made in code cannot smuggle in an undeclared secret, or one in argv.
  s.definition.env = {{"X", "{{secret.other}}"}};
  EXPECT_THAT(BuildRunSpec(s, mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("{{secret.other}} names a secret this server does not declare")));
  s.definition.env.clear();
  s.definition.args = {"--key={{secret.api.key}}"};
  EXPECT_THAT(BuildRunSpec(s, mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("placeholders are not allowed in a command line")));
}

TEST(RunSpec, BuiltinServersDoNotRun) {
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile p, Resolve("version: 1\nservers:\n  mcpgw: {}\n"));
  FakeSecrets secrets;
  EXPECT_THAT(BuildRunSpec(Server(p, "mcpgw"), mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("a built-in server runs inside the gateway")));
}

// --- Remote servers: parsed, resolved and connected to with their secrets. ---

TEST(Remote, InlineAndFromACatalog) {
  TempDir dir;
  dir.Write("team.yaml", R"yaml(version: 1
servers:
  tracker:
    remote:
      url: https://tracker.example/mcp
      headers:
        Authorization: "Bearer {{secret.tracker.token}}"
        X-Team: "{{config.team}}"
    secrets: [{name: tracker.token, how: from the tracker's settings page}]
    config:
      type: object
      properties: {team: {type: string, default: core}}
    run: {mode: long-lived, idle_timeout: 1m}
)yaml");
  std::string path = dir.Write("mcpgw.yaml", R"yaml(version: 1
catalogs: [./team.yaml]
servers:
  tracker:
    config: {team: infra}
    tools: [search]
  docs:
    remote:
      url: "http://127.0.0.1:9/mcp"
      transport: sse
      headers: {X-Api-Key: "{{secret.docs.key}}", X-Space: "{{config.space}}"}
    secrets: [{name: docs.key}]
    config: {space: eng}
  public:
    remote: {url: "http://mcp.example.org/mcp"}
gateway:
  mode: per-call
)yaml");
  MCPGW_ASSERT_OK_AND_ASSIGN(Profile profile, LoadProfileFile(path));
  MCPGW_ASSERT_OK_AND_ASSIGN(ResolvedProfile p,
                             ResolveProfile(profile, {.config_dir = dir.path() + "/none"}));
  ASSERT_EQ(Names(p), (std::vector<std::string>{"tracker", "docs", "public"}));
  const ResolvedServer& tracker = Server(p, "tracker");
  EXPECT_EQ(tracker.definition.kind, ServerDefinition::Kind::kRemote);
  EXPECT_EQ(tracker.origin, "catalog 'team'");
  EXPECT_EQ(tracker.settings.mode, RunMode::kLongLived);
  EXPECT_EQ(tracker.settings.idle_timeout, absl::Minutes(1));
  EXPECT_THAT(tracker.allowed_tools, Optional(ElementsAre("search")));
  // The gateway-wide per-call default means on-demand for a remote server.
  EXPECT_EQ(Server(p, "docs").settings.mode, RunMode::kOnDemand);
  EXPECT_EQ(Server(p, "docs").definition.remote.transport, RemoteTransport::kSse);
  EXPECT_EQ(Server(p, "public").settings.mode, RunMode::kOnDemand);

  FakeSecrets secrets{.values = {{"tracker.token", "T-SECRET"}, {"docs.key", "D-KEY"}}};
  MCPGW_ASSERT_OK_AND_ASSIGN(RemoteConnection t,
                             BuildRemoteConnection(tracker, tracker.config, std::ref(secrets)));
  EXPECT_EQ(t.url, "https://tracker.example/mcp");
  EXPECT_EQ(t.transport, RemoteTransport::kAuto);
  EXPECT_THAT(t.headers,
              ElementsAre(Pair("Authorization", "Bearer T-SECRET"), Pair("X-Team", "infra")));
  const ResolvedServer& docs = Server(p, "docs");
  MCPGW_ASSERT_OK_AND_ASSIGN(RemoteConnection d,
                             BuildRemoteConnection(docs, docs.config, std::ref(secrets)));
  EXPECT_THAT(d.headers, ElementsAre(Pair("X-Api-Key", "D-KEY"), Pair("X-Space", "eng")));
  EXPECT_THAT(secrets.lookups, UnorderedElementsAre(Pair("tracker.token", 1), Pair("docs.key", 1)));
  // Nothing to start: a remote server is connected to, never run.
  EXPECT_THAT(BuildRunSpec(docs, docs.config, std::ref(secrets)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("a remote server runs elsewhere; there is nothing to start")));
}

TEST(Remote, ProfileErrors) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::string remote = "    remote: {url: \"https://x.example/mcp\"}\n";
  const std::vector<Case> parse_cases = {
      {"version: 1\nservers:\n  r:\n" + remote + "    network: true\n",
       "mcpgw.yaml:5:5: servers.r.network: a remote server is reached by the gateway itself; "
       "'network' is a container's"},
      {"version: 1\nservers:\n  r:\n" + remote + "    env: {A: b}\n",
       "mcpgw.yaml:5:5: servers.r.env: a remote server runs elsewhere and has no 'env'; it gets "
       "only the headers under 'remote.headers'"},
      {"version: 1\nservers:\n  r:\n" + remote + "    run: {mode: per-call}\n",
       "mcpgw.yaml:5:17: servers.r.run.mode: a remote server has no instances to start per call: "
       "use on-demand (connect at the first need, disconnect when idle) or long-lived (stay "
       "connected)"},
      {"version: 1\nservers:\n  r:\n    from: x\n" + remote,
       "mcpgw.yaml:4:5: servers.r.from: a server defined inline (with 'remote') does not come "
       "from a catalog"},
      {"version: 1\nservers:\n  r:\n    remote:\n      url: https://x.example/mcp\n"
       "      headers: {X-Key: \"{{secret.k}}\"}\n",
       "mcpgw.yaml:6:24: servers.r.remote.headers.X-Key: {{secret.k}} names a secret this "
       "server does not declare (it declares none); a server gets only the secrets listed under "
       "its 'secrets'"},
  };
  for (const Case& c : parse_cases) {
    EXPECT_EQ(ParseError(c.yaml), c.error) << "for:\n" << c.yaml;
  }

  TempDir dir;
  dir.Write("team.yaml",
            "version: 1\nservers:\n  r:\n    remote: {url: \"https://x.example/mcp\"}\n");
  auto resolve_error = [&](const std::string& servers) {
    std::string path =
        dir.Write("mcpgw.yaml", "version: 1\ncatalogs: [./team.yaml]\nservers:\n" + servers);
    absl::StatusOr<Profile> profile = LoadProfileFile(path);
    if (!profile.ok()) {
      return std::string(profile.status().message());
    }
    absl::Status s = ResolveProfile(*profile, {.config_dir = dir.path() + "/none"}).status();
    return std::string(absl::StripPrefix(s.message(), dir.path() + "/"));
  };
  EXPECT_EQ(resolve_error("  r:\n    env: {A: b}\n"),
            "mcpgw.yaml:5:10: servers.r.env: 'r' is a remote server: it has no environment, only "
            "the headers its catalog entry sends");
  EXPECT_EQ(resolve_error("  r:\n    network: true\n"),
            "mcpgw.yaml:5:14: servers.r.network: a remote server is reached by the gateway "
            "itself; 'network' is a container's");
  EXPECT_EQ(resolve_error("  r:\n    run: {mode: per-call}\n"),
            "mcpgw.yaml:5:10: servers.r.run: a remote server has no instances to start per call: "
            "use on-demand (connect at the first need, disconnect when idle) or long-lived (stay "
            "connected)");
  EXPECT_EQ(resolve_error("  r:\n    config: {a: 1}\n"),
            "mcpgw.yaml:5:13: servers.r.config: 'r' takes no config (its catalog entry declares "
            "no config schema)");
  EXPECT_EQ(resolve_error("  r: {}\n"), "");
}

TEST(Remote, ConnectionSecretsAreLookedUpLikeEnvSecrets) {
  ResolvedServer s;
  s.name = "api";
  s.definition.kind = ServerDefinition::Kind::kRemote;
  s.definition.remote.url = "https://api.example/mcp";
  s.definition.remote.headers = {{"Authorization", "Bearer {{secret.api.key}}"},
                                 {"X-Both", "{{secret.api.user}}:{{secret.api.key}}"}};
  s.definition.secrets = {SecretSpec{.name = "api.key", .env = "", .how = "from the vault"},
                          SecretSpec{.name = "api.user", .env = "", .how = ""}};
  FakeSecrets secrets{.values = {{"api.key", "K-1"}, {"api.user", "U-2"}, {"other", "NO"}}};
  MCPGW_ASSERT_OK_AND_ASSIGN(RemoteConnection c,
                             BuildRemoteConnection(s, mcp::Json(), std::ref(secrets)));
  EXPECT_THAT(c.headers, ElementsAre(Pair("Authorization", "Bearer K-1"), Pair("X-Both", "U-2:K-1")));
  EXPECT_THAT(secrets.lookups, UnorderedElementsAre(Pair("api.key", 1), Pair("api.user", 1)));

  // A missing secret: the same one-line error as for env, naming the header.
  FakeSecrets partial{.values = {{"api.user", "U-2"}}};
  absl::StatusOr<RemoteConnection> missing =
      BuildRemoteConnection(s, mcp::Json(), std::ref(partial));
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound,
                                "server 'api': needs the secret 'api.key' (for header "
                                "Authorization), which is not set; set it with `mcpgw secret set "
                                "api.key` (from the vault)"));
  // A store failure keeps its code.
  auto broken = [](absl::string_view) -> absl::StatusOr<std::string> {
    return absl::PermissionDeniedError("the store's mode is 0644; run chmod 600");
  };
  EXPECT_THAT(BuildRemoteConnection(s, mcp::Json(), broken),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "server 'api': secret 'api.key': the store's mode is 0644; run chmod 600"));
  // A secret with a line break would split the request's headers.
  FakeSecrets newline{.values = {{"api.key", "K\r\nX-Evil: 1"}, {"api.user", "U"}}};
  absl::StatusOr<RemoteConnection> split = BuildRemoteConnection(s, mcp::Json(), std::ref(newline));
  EXPECT_THAT(split, StatusIs(absl::StatusCode::kInvalidArgument,
                              "server 'api': header Authorization: its value holds a line break "
                              "or a control character (check the secrets and config it uses)"));
  // A definition made in code: no undeclared secret, no secret in clear text, a valid URL.
  s.definition.remote.headers = {{"X", "{{secret.other}}"}};
  EXPECT_THAT(BuildRemoteConnection(s, mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("{{secret.other}} names a secret this server does not declare")));
  s.definition.remote.headers = {{"Authorization", "Bearer {{secret.api.key}}"}};
  s.definition.remote.url = "http://api.example/mcp";
  EXPECT_THAT(BuildRemoteConnection(s, mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "server 'api': header Authorization: a secret would travel in clear text "
                       "to http://api.example/mcp; use https://"));
  s.definition.remote.url = "http://localhost:8080/mcp";
  EXPECT_THAT(BuildRemoteConnection(s, mcp::Json(), std::ref(secrets)), IsOk());
  s.definition.remote.url = "file:///etc/passwd";
  EXPECT_THAT(BuildRemoteConnection(s, mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "server 'api': 'file:///etc/passwd' is not an http:// or https:// URL"));
  s.definition.kind = ServerDefinition::Kind::kCommand;
  EXPECT_THAT(BuildRemoteConnection(s, mcp::Json(), std::ref(secrets)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// --- The examples in docs/catalog.md and docs/profile.md are loaded, so they never rot. ---

struct DocExample {
  std::string kind;  // catalog, profile, catalog-error, profile-error
  std::string file;
  std::string yaml;
  std::string expected_error;
};

// Reads the examples of a doc: a line `<!-- example: KIND FILE -->`, then a ```yaml block;
// for the -error kinds, then a ```text block holding the exact message.
std::vector<DocExample> ReadExamples(const std::string& doc) {
  std::ifstream in(std::string(MCPGW_SOURCE_DIR) + "/docs/" + doc);
  EXPECT_TRUE(in.good()) << doc;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  auto block = [&](size_t& i, absl::string_view fence) {
    while (i < lines.size() && lines[i] != fence) {
      ++i;
    }
    std::string text;
    for (++i; i < lines.size() && lines[i] != "```"; ++i) {
      absl::StrAppend(&text, lines[i], "\n");
    }
    return text;
  };
  std::vector<DocExample> out;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (!absl::ConsumePrefix(&line, "<!-- example: ") || !absl::ConsumeSuffix(&line, " -->")) {
      continue;
    }
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    EXPECT_EQ(parts.size(), 2u) << lines[i];
    DocExample e{.kind = parts[0],
                 .file = parts.size() > 1 ? parts[1] : "",
                 .yaml = "",
                 .expected_error = ""};
    e.yaml = block(i, "```yaml");
    if (absl::EndsWith(e.kind, "-error")) {
      e.expected_error = std::string(absl::StripTrailingAsciiWhitespace(block(i, "```text")));
    }
    out.push_back(std::move(e));
  }
  return out;
}

TEST(Docs, ExamplesLoad) {
  std::vector<DocExample> examples = ReadExamples("catalog.md");
  std::vector<DocExample> profile_examples = ReadExamples("profile.md");
  examples.insert(examples.end(), profile_examples.begin(), profile_examples.end());
  ASSERT_GE(examples.size(), 6u);

  TempDir dir;
  TempDir config;  // no user catalogs
  // Catalog files first: the profiles refer to them by path.
  for (const DocExample& e : examples) {
    if (e.kind == "catalog") {
      std::string path = dir.Write(e.file, e.yaml);
      EXPECT_THAT(LoadCatalogFile(path), IsOk()) << e.file;
    }
  }
  FakeSecrets secrets{.values = {{"github.token", "t"},
                                 {"notes.token", "n"},
                                 {"wiki.token", "w"},
                                 {"tracker.token", "r"}}};
  int checked = 0;
  for (const DocExample& e : examples) {
    std::string path = dir.Write(e.file, e.yaml);
    if (e.kind == "profile") {
      absl::StatusOr<Profile> profile = LoadProfileFile(path);
      ASSERT_THAT(profile, IsOk()) << e.file;
      absl::StatusOr<ResolvedProfile> resolved =
          ResolveProfile(*profile, {.config_dir = config.path()});
      ASSERT_THAT(resolved, IsOk()) << e.file;
      for (const ResolvedServer& s : resolved->servers) {
        if (s.definition.kind == ServerDefinition::Kind::kRemote) {
          EXPECT_THAT(BuildRemoteConnection(s, s.config, std::ref(secrets)), IsOk())
              << e.file << ": " << s.name;
        } else if (s.definition.kind != ServerDefinition::Kind::kBuiltin) {
          EXPECT_THAT(BuildRunSpec(s, s.config, std::ref(secrets)), IsOk())
              << e.file << ": " << s.name;
        }
      }
      ++checked;
    } else if (e.kind == "catalog-error" || e.kind == "profile-error") {
      absl::Status status;
      if (e.kind == "catalog-error") {
        status = LoadCatalogFile(path).status();
      } else {
        absl::StatusOr<Profile> profile = LoadProfileFile(path);
        status = profile.ok() ? ResolveProfile(*profile, {.config_dir = config.path()}).status()
                              : profile.status();
      }
      std::string message(absl::StripPrefix(status.message(), dir.path() + "/"));
      EXPECT_EQ(message, e.expected_error) << e.file;
      ++checked;
    } else if (e.kind != "catalog") {
      ADD_FAILURE() << "unknown example kind " << e.kind;
    }
  }
  EXPECT_GE(checked, 3);
}

TEST(Docs, TheDefaultProfileIsTheOneDocumented) {
  bool found = false;
  for (const DocExample& e : ReadExamples("profile.md")) {
    if (e.file == "default.yaml") {
      found = true;
      EXPECT_EQ(absl::StripAsciiWhitespace(e.yaml),
                absl::StripAsciiWhitespace(DefaultProfileYaml()));
    }
  }
  EXPECT_TRUE(found) << "docs/profile.md shows the default profile as default.yaml";
}

}  // namespace
}  // namespace mcpgw::gateway
