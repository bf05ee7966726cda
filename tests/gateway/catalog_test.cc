#include "mcpgw/gateway/catalog.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace mcpgw::gateway {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

// A directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mcpgw-catalog-XXXXXX");
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  void Write(const std::string& relative, const std::string& text) const {
    std::filesystem::path p = std::filesystem::path(path_) / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }

 private:
  std::string path_;
};

// The error message of parsing `text` as team.yaml (empty when it parses).
std::string Error(const std::string& text) {
  absl::StatusOr<Catalog> c = ParseCatalog(text, "team.yaml");
  if (c.ok()) {
    return "";
  }
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  return std::string(c.status().message());
}

TEST(Catalog, ParsesEveryField) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog c, ParseCatalog(R"yaml(
version: 1
description: Team servers
servers:
  notes:
    title: Notes
    description: Our notes server
    command: npx -y "@acme/notes server" --verbose
    args: [--root, /srv/notes]
    env:
      NOTES_ORG: "{{config.org}}"
      AUTH: "Bearer {{secret.notes.token}}"
      PLAIN: 42
    secrets:
      - name: notes.token
        how: ask the platform team
      - name: notes.key
        env: NOTES_KEY
    config:
      type: object
      properties:
        org: {type: string, default: acme}
    run:
      mode: per-call
      idle_timeout: 90s
      per_call_concurrency: 2
      limits: {cpus: 0.5, memory: 512m, pids: 64}
  web:
    image: ghcr.io/acme/web:1.2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    network: true
    config:
      type: object
      properties:
        dir: {type: string}
    volumes:
      - "{{config.dir}}:/data:ro"
      - cache:/cache
    tools:
      - name: get
        title: Get a page
        description: Fetch a page
        inputSchema:
          type: object
          properties:
            url: {type: string}
          required: [url]
        annotations: {readOnlyHint: true}
)yaml",
                                                     "catalogs/team.yaml"));
  EXPECT_EQ(c.name, "team");
  EXPECT_EQ(c.description, "Team servers");
  EXPECT_THAT(c.Names(), ElementsAre("notes", "web"));

  const ServerDefinition& notes = *c.Find("notes");
  EXPECT_EQ(notes.kind, ServerDefinition::Kind::kCommand);
  EXPECT_EQ(notes.title, "Notes");
  EXPECT_THAT(notes.command, ElementsAre("npx", "-y", "@acme/notes server", "--verbose"));
  EXPECT_THAT(notes.args, ElementsAre("--root", "/srv/notes"));
  EXPECT_EQ(notes.env.at("NOTES_ORG"), "{{config.org}}");
  EXPECT_EQ(notes.env.at("PLAIN"), "42");
  ASSERT_EQ(notes.secrets.size(), 2u);
  EXPECT_EQ(notes.secrets[0],
            (SecretSpec{.name = "notes.token", .env = "", .how = "ask the platform team"}));
  EXPECT_EQ(notes.secrets[1], (SecretSpec{.name = "notes.key", .env = "NOTES_KEY", .how = ""}));
  EXPECT_EQ(notes.config_schema,
            R"({"type":"object","properties":{"org":{"type":"string","default":"acme"}}})");
  EXPECT_FALSE(notes.network);
  EXPECT_EQ(notes.run.mode, RunMode::kPerCall);
  EXPECT_EQ(notes.run.idle_timeout, absl::Seconds(90));
  EXPECT_EQ(notes.run.per_call_concurrency, 2);
  EXPECT_EQ(notes.run.cpus, 0.5);
  EXPECT_EQ(notes.run.memory_bytes, 512 << 20);
  EXPECT_EQ(notes.run.pids_limit, 64);
  EXPECT_FALSE(notes.tools.has_value());
  EXPECT_EQ(notes.location.ToString(), "catalogs/team.yaml:5:3");

  const ServerDefinition& web = *c.Find("web");
  EXPECT_EQ(web.kind, ServerDefinition::Kind::kImage);
  EXPECT_TRUE(web.network);
  EXPECT_THAT(
      web.volumes,
      ElementsAre(VolumeSpec{.source = "{{config.dir}}", .target = "/data", .read_only = true},
                  VolumeSpec{.source = "cache", .target = "/cache", .read_only = false}));
  ASSERT_TRUE(web.tools.has_value());
  ASSERT_EQ(web.tools->size(), 1u);
  EXPECT_EQ((*web.tools)[0].name, "get");
  EXPECT_EQ((*web.tools)[0].title, "Get a page");
  EXPECT_EQ((*web.tools)[0].input_schema.Serialize(),
            R"({"type":"object","properties":{"url":{"type":"string"}},"required":["url"]})");
  ASSERT_TRUE((*web.tools)[0].annotations.has_value());
  EXPECT_EQ(web.run, RunSettings{});
  EXPECT_EQ(c.Find("nope"), nullptr);
}

TEST(Catalog, EmptyServersAndNamesFromFiles) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog a, ParseCatalog("version: 1\n", "/x/y/empty.yaml"));
  EXPECT_EQ(a.name, "empty");
  EXPECT_TRUE(a.servers.empty());
  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog b, ParseCatalog("version: 1\nservers:\n", "b.yaml", "bee"));
  EXPECT_EQ(b.name, "bee");
}

// Each mistake, with its exact file, line, column and field path.
TEST(Catalog, ErrorsNameFileLineColumnAndField) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "team.yaml:1:1: the file is empty; a catalog starts with 'version: 1'"},
      {"servers: {}\n", "team.yaml:1:1: missing 'version: 1' at the top of the catalog"},
      {"version: 2\n",
       "team.yaml:1:10: version: unsupported version 2; this mcpgw reads catalog files of "
       "version 1"},
      {"version: one\n", "team.yaml:1:10: version: expected the integer 1, got the string 'one'"},
      {"- a\n- b\n", "team.yaml:1:1: expected a map (version, servers) at the top, got a list"},
      {"version: 1\nserver: {}\n", "team.yaml:2:1: server: unknown key; did you mean 'servers'?"},
      {"version: 1\nservers:\n  a: {image: x}\n  a: {image: y}\n",
       "team.yaml:4:3: servers.a: duplicate key (first given on line 3)"},
      {"version: 1\nservers: [a, b]\n",
       "team.yaml:2:10: servers: expected a map of server names to definitions, got a list"},
      {"version: 1\nservers:\n  fetch:\n",
       "team.yaml:3:3: servers.fetch: expected a server definition (a map), got nothing"},
      {"version: 1\nservers:\n  my server: {image: x}\n",
       "team.yaml:3:3: servers.my server: 'my server' is not a valid server name: use 1-128 of "
       "A-Z a-z 0-9 _ . - (it prefixes tool names)"},
      {"version: 1\nservers:\n  a__b: {image: x}\n",
       "team.yaml:3:3: servers.a__b: 'a__b' holds '__', which separates a server's name from "
       "its tools' names"},
      {"version: 1\nservers:\n  fetch:\n    image: mcp/fetch\n    netwrok: true\n",
       "team.yaml:5:5: servers.fetch.netwrok: unknown key; did you mean 'network'?"},
      {"version: 1\nservers:\n  fetch:\n    image: mcp/fetch\n    colour: red\n",
       "team.yaml:5:5: servers.fetch.colour: unknown key; expected one of: title, description, "
       "image, command, remote, args, builtin, env, secrets, config, network, volumes, tools, "
       "run"},
      {"version: 1\nservers:\n  x:\n    title: X\n",
       "team.yaml:3:3: servers.x: needs 'image' (a container image), 'command' (a local "
       "program and its arguments) or 'remote' (a server reached over HTTP)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    command: [a]\n",
       "team.yaml:5:5: servers.x.command: 'image' is already given on line 4; a server runs "
       "either an image or a command"},
      {"version: 1\nservers:\n  x:\n    builtin: mcpgw\n",
       "team.yaml:4:5: servers.x.builtin: only the built-in catalog defines built-in servers; "
       "use 'image' or 'command'"},
      {"version: 1\nservers:\n  x:\n    image: MCP/Fetch\n",
       "team.yaml:4:12: servers.x.image: 'MCP/Fetch' is not an image reference: the name part "
       "'MCP' must be lower-case letters and digits, separated by . _ or -"},
      {"version: 1\nservers:\n  x:\n    image: mcp/fetch@sha256:abc\n",
       "team.yaml:4:12: servers.x.image: 'mcp/fetch@sha256:abc' is not an image reference: a "
       "digest is @sha256: and 64 lower-case hex digits"},
      {"version: 1\nservers:\n  x:\n    command: []\n",
       "team.yaml:4:14: servers.x.command: the command is empty; give the program to run"},
      {"version: 1\nservers:\n  x:\n    command: run 'it\n",
       "team.yaml:4:14: servers.x.command: unterminated single quote at character 5 of the "
       "command"},
      {"version: 1\nservers:\n  x:\n    command: [srv, {a: 1}]\n",
       "team.yaml:4:20: servers.x.command[1]: expected a command (a list of words, or one "
       "string), got a list holding a map"},
      // Placeholders in a command line: it shows in `ps`.
      {"version: 1\nservers:\n  x:\n    command: server --key {{config.k}}\n",
       "team.yaml:4:14: servers.x.command: placeholders are not allowed in a command line: it "
       "shows in `ps` and in the container's configuration; pass the value through env "
       "instead"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    args: [\"--token\", \"{{secret.t}}\"]\n",
       "team.yaml:5:23: servers.x.args[1]: placeholders are not allowed in a command line: it "
       "shows in `ps` and in the container's configuration; pass the value through env "
       "instead"},
      // Secrets: declared, and only then usable.
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    env:\n      TOKEN: "
       "\"{{secret.token}}\"\n",
       "team.yaml:6:14: servers.x.env.TOKEN: {{secret.token}} names a secret this server does "
       "not declare (it declares none); a server gets only the secrets listed under its "
       "'secrets'"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    env:\n      A: \"{{nope.x}}\"\n",
       "team.yaml:6:10: servers.x.env.A: unknown placeholder '{{nope.x}}'; use {{config.KEY}} "
       "or {{secret.NAME}}"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    env:\n      A:\n",
       "team.yaml:6:7: servers.x.env.A: expected a string value, got nothing (write \"\" for "
       "empty)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    env:\n      1A: b\n",
       "team.yaml:6:7: servers.x.env.1A: not an environment variable name "
       "([A-Za-z_][A-Za-z0-9_]*)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    secrets:\n      - name: t\n"
       "        env: TOKEN\n    env:\n      TOKEN: x\n",
       "team.yaml:9:14: servers.x.env.TOKEN: also set by secret 't'; remove one (use "
       "{{secret.t}} here to build a value from it)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    secrets:\n      - env: TOKEN\n",
       "team.yaml:6:9: servers.x.secrets[0]: a secret needs a 'name' (its name in the secret "
       "store)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    secrets:\n      - name: t\n"
       "        envv: TOKEN\n",
       "team.yaml:7:9: servers.x.secrets[0].envv: unknown key; did you mean 'env'?"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    secrets:\n      - name: t\n"
       "      - name: t\n",
       "team.yaml:7:15: servers.x.secrets[1].name: secret 't' is declared twice"},
      // Config: a usable schema, and placeholders that name its properties.
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    env:\n      A: \"{{config.a}}\"\n",
       "team.yaml:6:10: servers.x.env.A: {{config.a}} needs a config, but the server declares "
       "no 'config' schema"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    config:\n      properties: {a: {}}\n"
       "    env:\n      B: \"{{config.b}}\"\n",
       "team.yaml:8:10: servers.x.env.B: {{config.b}} names no property of the config schema (it "
       "has a)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    config: {type: objekt}\n",
       "team.yaml:5:13: servers.x.config: invalid JSON Schema at #/type: unknown type 'objekt'; "
       "expected string, number, integer, boolean, object, array or null"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    config: [a]\n",
       "team.yaml:5:13: servers.x.config: expected a JSON Schema (a map), got a list"},
      // Network, volumes.
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    network: yes\n",
       "team.yaml:5:14: servers.x.network: expected true or false, got 'yes' (YAML 1.1 "
       "spellings are not booleans here)"},
      {"version: 1\nservers:\n  x:\n    command: srv\n    volumes: [/a:/b]\n",
       "team.yaml:5:14: servers.x.volumes: volumes apply to container images only; a local "
       "command sees the host's files"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    volumes: [data]\n",
       "team.yaml:5:15: servers.x.volumes[0]: 'data' is not \"source:target\" or "
       "\"source:target:ro\""},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    volumes: [./data:/data]\n",
       "team.yaml:5:15: servers.x.volumes[0]: the source './data' must be an absolute host path "
       "or a volume name"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    volumes: [/a:data]\n",
       "team.yaml:5:15: servers.x.volumes[0]: the target 'data' must be an absolute path inside "
       "the container"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    volumes: [/a:/b:rx]\n",
       "team.yaml:5:15: servers.x.volumes[0]: unknown volume option 'rx'; use ro or rw"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    volumes: [\"{{secret.s}}:/b\"]\n",
       "team.yaml:5:15: servers.x.volumes[0]: {{secret.s}}: secrets reach only env values; a "
       "volume source is visible to anyone who can inspect the container"},
      // Tools.
      {"version: 1\nservers:\n  github:\n    image: ghcr.io/github/github-mcp-server\n"
       "    tools:\n      list_issues: {}\n",
       "team.yaml:6:7: servers.github.tools: expected a list of tool definitions, got a map"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    tools:\n      - name: t\n",
       "team.yaml:6:9: servers.x.tools[0]: a tool definition needs an 'inputSchema' (a JSON "
       "Schema object)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    tools:\n      - name: t\n"
       "        input_schema: {}\n",
       "team.yaml:7:9: servers.x.tools[0].input_schema: unknown key; did you mean "
       "'inputSchema'?"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    tools:\n      - name: t\n"
       "        inputSchema: []\n",
       "team.yaml:6:9: servers.x.tools[0]: inputSchema: must be a JSON Schema object"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    tools:\n      - name: t\n"
       "        inputSchema: {type: object, properties: {a: {minimum: x}}}\n",
       "team.yaml:7:22: servers.x.tools[0].inputSchema: invalid JSON Schema at "
       "#/properties/a/minimum: must be a number"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    tools:\n"
       "      - {name: t, inputSchema: {}}\n      - {name: t, inputSchema: {}}\n",
       "team.yaml:7:16: servers.x.tools[1].name: tool 't' is defined twice"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    tools:\n"
       "      - {name: \"bad name\", inputSchema: {}}\n",
       "team.yaml:6:16: servers.x.tools[0].name: 'bad name' is not a valid tool name (1-128 of "
       "A-Z a-z 0-9 _ . -)"},
      // Run hints.
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    run: {mode: sometimes}\n",
       "team.yaml:5:17: servers.x.run.mode: unknown run mode 'sometimes'; use on-demand, "
       "long-lived or per-call"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    run:\n      idle_timeout: 300\n",
       "team.yaml:6:21: servers.x.run.idle_timeout: '300' is not a duration; write it with a "
       "unit, such as 90s, 5m or 1h30m"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    run:\n      limits:\n"
       "        memory: 12q\n",
       "team.yaml:7:17: servers.x.run.limits.memory: '12q' is not a size; write bytes or a "
       "number with a unit: 512m, 2g, 1.5g"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    run:\n      limits:\n"
       "        memory: 1m\n",
       "team.yaml:7:17: servers.x.run.limits.memory: '1m' is below Docker's minimum memory "
       "limit of 6m (use 0 for none)"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    run:\n      limits: {cpu: 1}\n",
       "team.yaml:6:16: servers.x.run.limits.cpu: unknown key; did you mean 'cpus'?"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    run:\n      per_call_concurrency: 0\n",
       "team.yaml:6:29: servers.x.run.per_call_concurrency: expected a positive number of "
       "concurrent calls, got 0"},
      // YAML itself.
      {"version: 1\nservers:\n  a: [1, 2\n",
       "team.yaml:4:1: invalid YAML: end of sequence flow not found"},
      {"version: 1\n---\nversion: 1\n",
       "team.yaml:3:1: the file holds more than one YAML document; keep only one"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    description: !!binary aGVsbG8=\n",
       "team.yaml:5:18: servers.x.description: unsupported tag '!!binary'"},
      {"version: 1\nservers:\n  x:\n    image: mcp/x\n    config:\n      properties:\n"
       "        a: {}\n        a: {}\n",
       "team.yaml:8:9: servers.x.config.properties.a: duplicate key (first given on line 7)"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Error(c.yaml), c.error) << "for:\n" << c.yaml;
  }
}

TEST(Catalog, RemoteServers) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog c, ParseCatalog(R"yaml(
version: 1
servers:
  linear:
    title: Linear
    remote:
      url: https://mcp.linear.example/mcp
      transport: streamable
      headers:
        Authorization: "Bearer {{secret.linear.token}}"
        X-Workspace: "{{config.workspace}}"
        X-Client: mcpgw
    secrets:
      - name: linear.token
        how: a personal API key from the settings page
    config:
      type: object
      properties:
        workspace: {type: string, default: eng}
    tools:
      - {name: list_issues, inputSchema: {type: object}}
    run: {mode: long-lived}
  local:
    remote: {url: "http://127.0.0.1:8080/mcp", headers: {Authorization: "Bearer {{secret.t}}"}}
    secrets: [{name: t}]
  legacy:
    remote: {url: "http://intranet.example/sse", transport: sse}
  plain:
    remote: {url: "HTTPS://[::1]:8443/mcp?x=1", transport: http}
)yaml",
                                                     "team.yaml"));
  const ServerDefinition& linear = *c.Find("linear");
  EXPECT_EQ(linear.kind, ServerDefinition::Kind::kRemote);
  EXPECT_EQ(linear.remote.url, "https://mcp.linear.example/mcp");
  EXPECT_EQ(linear.remote.transport, RemoteTransport::kStreamable);
  EXPECT_THAT(linear.remote.headers,
              ElementsAre(Pair("Authorization", "Bearer {{secret.linear.token}}"),
                          Pair("X-Workspace", "{{config.workspace}}"), Pair("X-Client", "mcpgw")));
  EXPECT_TRUE(linear.image.empty());
  EXPECT_TRUE(linear.command.empty());
  EXPECT_TRUE(linear.env.empty());
  ASSERT_TRUE(linear.tools.has_value());
  EXPECT_EQ(linear.run.mode, RunMode::kLongLived);
  EXPECT_EQ(c.Find("local")->remote.transport, RemoteTransport::kAuto);
  EXPECT_EQ(c.Find("legacy")->remote.transport, RemoteTransport::kSse);
  EXPECT_TRUE(c.Find("legacy")->remote.headers.empty());
  EXPECT_EQ(c.Find("plain")->remote.transport, RemoteTransport::kStreamable);

  EXPECT_TRUE(IsLoopbackUrl("http://127.0.0.1:8080/mcp"));
  EXPECT_TRUE(IsLoopbackUrl("http://127.1.2.3/mcp"));
  EXPECT_TRUE(IsLoopbackUrl("http://LOCALHOST:1/"));
  EXPECT_TRUE(IsLoopbackUrl("http://api.localhost/"));
  EXPECT_TRUE(IsLoopbackUrl("http://[::1]:9/mcp"));
  EXPECT_FALSE(IsLoopbackUrl("http://128.0.0.1/mcp"));
  EXPECT_FALSE(IsLoopbackUrl("http://localhost.example.com/"));
  EXPECT_FALSE(IsLoopbackUrl("http://[::2]/"));
  EXPECT_FALSE(IsLoopbackUrl("http://10.0.0.1/"));

  const std::string head = "version: 1\nservers:\n  r:\n";
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {head + "    remote: https://x.example/mcp\n",
       "team.yaml:4:13: servers.r.remote: expected a map with the server's url (and transport, "
       "headers), got the string 'https://x.example/mcp'"},
      {head + "    remote: {transport: sse}\n",
       "team.yaml:4:13: servers.r.remote: needs a 'url' (https://host/path of the MCP "
       "endpoint)"},
      {head + "    remote: {url: https://x.example/mcp, header: {}}\n",
       "team.yaml:4:42: servers.r.remote.header: unknown key; did you mean 'headers'?"},
      {head + "    remote: {url: ftp://x.example/mcp}\n",
       "team.yaml:4:19: servers.r.remote.url: 'ftp://x.example/mcp' is not an http:// or "
       "https:// URL"},
      {head + "    remote: {url: x.example/mcp}\n",
       "team.yaml:4:19: servers.r.remote.url: 'x.example/mcp' is not an http:// or https:// "
       "URL"},
      {head + "    remote: {url: \"https://user:pw@x.example/mcp\"}\n",
       "team.yaml:4:19: servers.r.remote.url: 'https://user:pw@x.example/mcp' holds a user name "
       "or password, which would show in logs and errors; send credentials in a header instead "
       "(headers may use {{secret.NAME}})"},
      {head + "    remote: {url: \"https://x.example:0/mcp\"}\n",
       "team.yaml:4:19: servers.r.remote.url: 'https://x.example:0/mcp' has the port '0'; a port "
       "is 1 to 65535"},
      {head + "    remote: {url: \"https:///mcp\"}\n",
       "team.yaml:4:19: servers.r.remote.url: 'https:///mcp' names no host"},
      {head + "    remote: {url: \"https://x.example/mcp#top\"}\n",
       "team.yaml:4:19: servers.r.remote.url: 'https://x.example/mcp#top' has a #fragment, "
       "which means nothing to a server; remove it"},
      {head + "    remote: {url: \"https://{{config.host}}/mcp\"}\n",
       "team.yaml:4:19: servers.r.remote.url: placeholders are not allowed in the url (it shows "
       "in logs and errors); send credentials in a header, whose value may use "
       "{{secret.NAME}}"},
      {head + "    remote: {url: https://x.example/mcp, transport: websocket}\n",
       "team.yaml:4:53: servers.r.remote.transport: unknown transport 'websocket'; use auto "
       "(Streamable HTTP, falling back to SSE), streamable (or http) or sse"},
      {head + "    remote:\n      url: https://x.example/mcp\n      headers: {\"X Key\": v}\n",
       "team.yaml:6:17: servers.r.remote.headers.X Key: not an HTTP header name (letters, digits "
       "and !#$%&'*+-.^_`|~, such as X-Api-Key)"},
      {head + "    remote:\n      url: https://x.example/mcp\n      headers: {mcp-session-id: v}\n",
       "team.yaml:6:17: servers.r.remote.headers.mcp-session-id: the HTTP transport sets "
       "'mcp-session-id' itself; a configuration may not"},
      {head + "    remote:\n      url: https://x.example/mcp\n"
              "      headers: {X-Key: a, x-key: b}\n",
       "team.yaml:6:27: servers.r.remote.headers.x-key: header 'x-key' is given twice (header "
       "names are case-insensitive)"},
      {head + "    remote:\n      url: https://x.example/mcp\n      headers: {X-Key: \"a\\nb\"}\n",
       "team.yaml:6:24: servers.r.remote.headers.X-Key: a header value may not hold line breaks "
       "or control characters"},
      {head + "    remote:\n      url: https://x.example/mcp\n      headers: {X-Key: }\n",
       "team.yaml:6:17: servers.r.remote.headers.X-Key: expected a header value, got nothing"},
      // Secrets: declared, never for an environment, never in clear text to another host.
      {head + "    remote:\n      url: https://x.example/mcp\n"
              "      headers: {Authorization: \"Bearer {{secret.tok}}\"}\n",
       "team.yaml:6:32: servers.r.remote.headers.Authorization: {{secret.tok}} names a secret "
       "this server does not declare (it declares none); a server gets only the secrets listed "
       "under its 'secrets'"},
      {head + "    remote:\n      url: https://x.example/mcp\n"
              "      headers: {X-Org: \"{{config.org}}\"}\n",
       "team.yaml:6:24: servers.r.remote.headers.X-Org: {{config.org}} needs a config, but the "
       "server declares no 'config' schema"},
      {head + "    remote:\n      url: https://x.example/mcp\n    secrets:\n"
              "      - {name: tok, env: TOKEN}\n",
       "team.yaml:7:7: servers.r.secrets: secret 'tok' has an 'env', but a remote server has no "
       "environment; use {{secret.tok}} in a header value under 'remote.headers'"},
      {head + "    remote:\n      url: http://mcp.example.com/mcp\n"
              "      headers: {Authorization: \"Bearer {{secret.tok}}\"}\n"
              "    secrets: [{name: tok}]\n",
       "team.yaml:6:32: servers.r.remote.headers.Authorization: {{secret.tok}} would travel in "
       "clear text to http://mcp.example.com/mcp: use https:// (plain http:// may carry secrets "
       "only to a loopback host such as 127.0.0.1 or localhost)"},
      // What only a program or a container has; what it conflicts with.
      {head + "    remote: {url: https://x.example/mcp}\n    image: mcp/x\n",
       "team.yaml:5:5: servers.r.image: 'remote' is already given on line 4; a server is either "
       "remote or run here (with an image or a command)"},
      {head + "    command: srv\n    remote: {url: https://x.example/mcp}\n",
       "team.yaml:5:5: servers.r.remote: 'command' is already given on line 4; a server is "
       "either remote or run here (with an image or a command)"},
      {head + "    remote: {url: https://x.example/mcp}\n    env: {A: b}\n",
       "team.yaml:5:5: servers.r.env: a remote server runs elsewhere and has no 'env'; it gets "
       "only the headers under 'remote.headers'"},
      {head + "    remote: {url: https://x.example/mcp}\n    args: [a]\n",
       "team.yaml:5:5: servers.r.args: a remote server runs elsewhere and has no 'args'; it gets "
       "only the headers under 'remote.headers'"},
      {head + "    remote: {url: https://x.example/mcp}\n    network: true\n",
       "team.yaml:5:5: servers.r.network: a remote server is reached by the gateway itself; "
       "'network' is a container's"},
      {head + "    remote: {url: https://x.example/mcp}\n    run: {mode: per-call}\n",
       "team.yaml:5:17: servers.r.run.mode: a remote server has no instances to start per call: "
       "use on-demand (connect at the first need, disconnect when idle) or long-lived (stay "
       "connected)"},
  };
  for (const Case& k : cases) {
    EXPECT_EQ(Error(k.yaml), k.error) << "for:\n" << k.yaml;
  }
}

TEST(Catalog, AliasExpansionIsBounded) {
  // A "billion laughs": small as YAML (aliases are shared), enormous as JSON.
  std::string yaml = "version: 1\nservers:\n  x:\n    image: mcp/x\n    config:\n";
  yaml += "      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    yaml += "      a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) {
      yaml += (j ? ", *a" : "*a") + std::to_string(i - 1);
    }
    yaml += "]\n";
  }
  EXPECT_THAT(Error(yaml), HasSubstr("expands to more than 100000 items"));
}

// Truncated and corrupted catalogs give errors, never a crash or an exception.
TEST(Catalog, MalformedInputNeverCrashes) {
  const std::string text(BuiltinCatalogYaml());
  int errors = 0;
  for (size_t cut = 0; cut < text.size(); cut += 5) {
    absl::StatusOr<Catalog> c = ParseCatalog(text.substr(0, cut), "cut.yaml");
    errors += c.ok() ? 0 : 1;
  }
  const std::string noise = "{}[]:-'\"&*!|>%@`#,?\n\t ";
  for (size_t i = 0; i < text.size(); i += 3) {
    std::string corrupted = text;
    corrupted[i] = noise[i % noise.size()];
    absl::StatusOr<Catalog> c = ParseCatalog(corrupted, "noise.yaml");
    if (!c.ok()) {
      ++errors;
      EXPECT_THAT(std::string(c.status().message()), StartsWith("noise.yaml")) << c.status();
    }
  }
  EXPECT_GT(errors, 100);
}

TEST(Catalog, DefaultCatalogLoads) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog c, DefaultCatalog());
  EXPECT_EQ(c.name, "default");
  EXPECT_EQ(c.source, "<built-in catalog>");
  EXPECT_THAT(c.Names(), ElementsAre("mcpgw", "fetch", "time", "filesystem", "github"));

  const ServerDefinition& self = *c.Find("mcpgw");
  EXPECT_EQ(self.kind, ServerDefinition::Kind::kBuiltin);
  EXPECT_EQ(self.builtin, "mcpgw");

  const ServerDefinition& fetch = *c.Find("fetch");
  EXPECT_EQ(fetch.image, "mcp/fetch");
  EXPECT_TRUE(fetch.network);
  ASSERT_TRUE(fetch.tools.has_value());
  EXPECT_EQ(fetch.tools->front().name, "fetch");

  const ServerDefinition& time = *c.Find("time");
  EXPECT_FALSE(time.network);  // no network unless declared
  ASSERT_TRUE(time.tools.has_value());
  EXPECT_EQ(time.tools->size(), 2u);

  const ServerDefinition& github = *c.Find("github");
  ASSERT_EQ(github.secrets.size(), 1u);
  EXPECT_EQ(github.secrets[0].env, "GITHUB_PERSONAL_ACCESS_TOKEN");
  EXPECT_FALSE(github.secrets[0].how.empty());

  // A user catalog may not define built-in servers, even by copying the built-in text.
  EXPECT_THAT(ParseCatalog(BuiltinCatalogYaml(), "copy.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only the built-in catalog defines built-in servers")));
}

TEST(Catalog, Files) {
  TempDir dir;
  EXPECT_THAT(LoadCatalogFile(dir.path() + "/missing.yaml"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.yaml: no such file")));
  EXPECT_THAT(LoadCatalogFile(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
  dir.Write("bad.yaml", "version: 1\nservers:\n  x: {imag: y}\n");
  EXPECT_THAT(LoadCatalogFile(dir.path() + "/bad.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       dir.path() + "/bad.yaml:3:7: servers.x.imag: unknown key; did you mean "
                                    "'image'?"));
}

TEST(Catalog, UserCatalogs) {
  TempDir dir;
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<std::string> none, ListUserCatalogs(dir.path()));
  EXPECT_TRUE(none.empty());

  dir.Write("catalogs/team.yaml", "version: 1\nservers:\n  notes: {command: notes-server}\n");
  dir.Write("catalogs/alpha.yaml", "version: 1\n");
  dir.Write("catalogs/readme.txt", "not a catalog");
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, ListUserCatalogs(dir.path()));
  EXPECT_THAT(names, ElementsAre("alpha", "team"));

  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog team, LoadUserCatalog(dir.path(), "team"));
  EXPECT_EQ(team.name, "team");
  EXPECT_THAT(team.Names(), ElementsAre("notes"));
  EXPECT_THAT(LoadUserCatalog(dir.path(), "tema"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("no catalog named 'tema' (" + dir.path() +
                                 "/catalogs/tema.yaml does not exist); the user catalogs are: "
                                 "alpha, team, and 'default' is built in")));

  dir.Write("catalogs/default.yaml", "version: 1\n");
  EXPECT_THAT(ListUserCatalogs(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'default' is the built-in catalog's name")));
}

TEST(Catalog, DefaultConfigDirFollowsXdg) {
  const char* old_xdg = getenv("XDG_CONFIG_HOME");
  std::string saved = old_xdg ? old_xdg : "";
  setenv("XDG_CONFIG_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(DefaultConfigDir(), "/tmp/xdg/mcpgw");
  setenv("XDG_CONFIG_HOME", "relative/ignored", 1);  // the XDG spec says to ignore it
  setenv("HOME", getenv("HOME") ? getenv("HOME") : "/root", 1);
  EXPECT_EQ(DefaultConfigDir(), std::string(getenv("HOME")) + "/.config/mcpgw");
  if (old_xdg) {
    setenv("XDG_CONFIG_HOME", saved.c_str(), 1);
  } else {
    unsetenv("XDG_CONFIG_HOME");
  }
}

TEST(Catalog, MemorySizes) {
  struct Case {
    std::string text;
    int64_t bytes;
  };
  const std::vector<Case> good = {
      {"0", 0},
      {"6291456", 6291456},
      {"512m", int64_t{512} << 20},
      {"512M", int64_t{512} << 20},
      {"512mb", int64_t{512} << 20},
      {"512MiB", int64_t{512} << 20},
      {"2g", int64_t{2} << 30},
      {"1.5g", int64_t{3} << 29},
      {"8192k", int64_t{8} << 20},
      {"1t", int64_t{1} << 40},
  };
  for (const Case& c : good) {
    EXPECT_EQ(ParseMemorySize(c.text).value_or(-1), c.bytes) << c.text;
  }
  for (const char* bad : {"", "m", "12q", "1.5", "-1g", "2 gigs", "1e3m", "6m1"}) {
    EXPECT_THAT(ParseMemorySize(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(ParseMemorySize("5m"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("minimum")));
}

TEST(Catalog, IdleTimeouts) {
  EXPECT_EQ(ParseIdleTimeout("5m").value_or(absl::ZeroDuration()), absl::Minutes(5));
  EXPECT_EQ(ParseIdleTimeout("1h30m").value_or(absl::ZeroDuration()), absl::Minutes(90));
  EXPECT_EQ(ParseIdleTimeout("500ms").value_or(absl::ZeroDuration()), absl::Milliseconds(500));
  for (const char* bad : {"", "5", "300", "5 minutes", "inf", "0s", "-5m"}) {
    EXPECT_THAT(ParseIdleTimeout(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(ParseIdleTimeout("0s"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("long-lived")));
}

TEST(Catalog, ImageReferences) {
  const std::string digest =
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  for (const std::string& good :
       {std::string("mcp/fetch"), std::string("mcp/fetch:latest"), std::string("busybox"),
        std::string("ghcr.io/github/github-mcp-server:v1.2.3"),
        std::string("localhost:5000/team/server"), std::string("registry.example.com:443/a/b:c"),
        "mcp/fetch@" + digest, "mcp/fetch:1.0@" + digest, std::string("my_org/my-server.v2")}) {
    EXPECT_THAT(ValidateImageReference(good), IsOk()) << good;
  }
  for (const std::string& bad :
       {std::string(""), std::string("Mcp/fetch"), std::string("mcp/fetch:"),
        std::string("mcp/fetch:-x"), std::string("mcp//fetch"), std::string("mcp/fetch@sha256:12"),
        std::string("mcp/fetch@md5:0123"), std::string("mcp fetch"), std::string("-mcp/fetch"),
        "mcp/fetch@" + std::string("sha256:") + std::string(64, 'G')}) {
    EXPECT_THAT(ValidateImageReference(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(Catalog, RunModesAndLocations) {
  for (RunMode m : {RunMode::kOnDemand, RunMode::kLongLived, RunMode::kPerCall}) {
    EXPECT_EQ(*ParseRunMode(ToString(m)), m);
  }
  EXPECT_THAT(ParseRunMode("daily"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ((SourceLocation{.file = "a.yaml", .line = 3, .column = 7}).ToString(), "a.yaml:3:7");
  EXPECT_EQ((SourceLocation{.file = "a.yaml"}).ToString(), "a.yaml");
  EXPECT_EQ(SourceLocation{}.ToString(), "");
}

TEST(Catalog, ScalarsKeepTheirYamlMeaningInSchemas) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Catalog c, ParseCatalog(R"yaml(
version: 1
servers:
  x:
    image: mcp/x
    config:
      type: object
      properties:
        a: {default: 12}
        b: {default: "12"}
        c: {default: 1.5}
        d: {default: true}
        e: {default: ~}
        f: {default: 0x1F}
        g: {default: 'true'}
        h: {default: !!str 7}
        i: {default: [1, two]}
        j:
          default: |
            two lines
            here
)yaml",
                                                     "s.yaml"));
  EXPECT_EQ(c.servers[0].config_schema,
            R"({"type":"object","properties":{"a":{"default":12},"b":{"default":"12"},)"
            R"("c":{"default":1.5},"d":{"default":true},"e":{"default":null},)"
            R"("f":{"default":31},"g":{"default":"true"},"h":{"default":"7"},)"
            R"("i":{"default":[1,"two"]},"j":{"default":"two lines\nhere\n"}}})");
}

}  // namespace
}  // namespace mcpgw::gateway
