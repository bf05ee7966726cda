// The built-in catalog, `default`. It is compiled in so that a fresh install knows a few
// servers without any file; tests parse it (a mistake here fails the build's tests, not a
// user's run). The images come from Docker Hub's `mcp/` namespace and GitHub's registry: they
// need a registry to pull from, so they cannot start on a machine that is offline.
#include "mcpgw/gateway/catalog.h"

namespace mcpgw::gateway {

absl::string_view BuiltinCatalogYaml() {
  static constexpr absl::string_view kYaml = R"yaml(
version: 1
description: Servers mcpgw knows out of the box.
servers:
  mcpgw:
    title: mcpgw
    description: >-
      The gateway's own tools: list the profile's servers with their state, enable or disable
      a server while the gateway runs, search the catalogs.
    builtin: mcpgw

  fetch:
    title: Fetch
    description: Fetches a URL and returns its content, simplified to Markdown.
    image: mcp/fetch
    network: true
    run:
      limits: {memory: 512m}
    tools:
      - name: fetch
        description: >-
          Fetches a URL from the internet and optionally extracts its contents as markdown.
        inputSchema:
          type: object
          properties:
            url: {type: string, format: uri, description: URL to fetch}
            max_length:
              type: integer
              default: 5000
              exclusiveMinimum: 0
              exclusiveMaximum: 1000000
              description: Maximum number of characters to return.
            start_index:
              type: integer
              default: 0
              minimum: 0
              description: >-
                Return output starting at this character index, useful if a previous fetch
                was truncated and more context is required.
            raw:
              type: boolean
              default: false
              description: >-
                Get the actual HTML content of the requested page, without simplification.
          required: [url]

  time:
    title: Time
    description: Current time and time zone conversions (IANA time zone names).
    image: mcp/time
    run:
      limits: {memory: 256m}
    tools:
      - name: get_current_time
        description: Get the current time in a specific time zone.
        inputSchema:
          type: object
          properties:
            timezone:
              type: string
              description: IANA time zone name, such as America/New_York or Europe/London.
          required: [timezone]
      - name: convert_time
        description: Convert a time between time zones.
        inputSchema:
          type: object
          properties:
            source_timezone:
              type: string
              description: IANA time zone name of the source time.
            time:
              type: string
              description: The time to convert, in 24-hour format (HH:MM).
            target_timezone:
              type: string
              description: IANA time zone name to convert to.
          required: [source_timezone, time, target_timezone]

  filesystem:
    title: Filesystem
    description: >-
      Reads, writes and searches files in one host directory, mounted at /projects in the
      container.
    image: mcp/filesystem
    args: [/projects]
    config:
      type: object
      properties:
        path:
          type: string
          description: Absolute path of the host directory the server may use.
      required: [path]
    volumes:
      - "{{config.path}}:/projects"

  github:
    title: GitHub
    description: "GitHub's official server: repositories, issues, pull requests and more."
    image: ghcr.io/github/github-mcp-server
    network: true
    secrets:
      - name: github.token
        env: GITHUB_PERSONAL_ACCESS_TOKEN
        how: >-
          A personal access token from https://github.com/settings/personal-access-tokens,
          with access to the repositories the agent should see.
    config:
      type: object
      properties:
        toolsets:
          type: string
          description: Comma-separated toolsets to enable (see the server's README), or "all".
          default: repos,issues,pull_requests
    env:
      GITHUB_TOOLSETS: "{{config.toolsets}}"
)yaml";
  return kYaml;
}

}  // namespace mcpgw::gateway
