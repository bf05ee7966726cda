// Usage (by the conformance suite): MCPGW_BINARY=<mcpgw> node conformance-gateway-client.mjs <url>
//
// Grades mcpgw as an MCP *client*: `conformance client --command "node THIS" --scenario S`
// starts the scenario's server and runs this script with its URL (and MCP_CONFORMANCE_SCENARIO
// in the environment). The script writes a profile whose only server is that URL as a remote
// upstream, runs `mcpgw run --profile` over stdio, and drives it from the downstream side
// with the official TypeScript SDK client: initialize, tools/list, then every tool called once.
// Elicitation requests the scenario server sends through the gateway are accepted with the
// defaults of the requested schema (what elicitation-sep1034-client-defaults expects).
// mcpgw's stderr passes through to this script's stderr.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const url = process.argv[process.argv.length - 1];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? "?";
const mcpgw = process.env.MCPGW_BINARY;
if (!mcpgw || !url || !/^https?:\/\//.test(url)) {
  console.error("usage: MCPGW_BINARY=<mcpgw> conformance-gateway-client.mjs <server url>");
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcpgw-conformance-"));
fs.mkdirSync(path.join(dir, "run"), { mode: 0o700 });
const profile = path.join(dir, "mcpgw.yaml");
fs.writeFileSync(profile, [
  "version: 1",
  "servers:",
  "  scenario:",
  `    remote: {url: ${JSON.stringify(url)}}`,
  "",
].join("\n"));

// A value for every property of a tool's input schema (numbers for numbers, else a string).
function argumentsFor(tool) {
  const args = {};
  let n = 2;
  for (const [k, s] of Object.entries(tool.inputSchema?.properties ?? {})) {
    args[k] = s.type === "number" || s.type === "integer" ? n++ : s.type === "boolean" ? true : "x";
  }
  return args;
}

// Accept, with every default the requested schema gives.
function acceptWithDefaults(request) {
  const content = {};
  for (const [k, s] of Object.entries(request.params.requestedSchema?.properties ?? {})) {
    if (s.default !== undefined) content[k] = s.default;
  }
  return { action: "accept", content };
}

let code = 0;
const client = new Client({ name: "mcpgw-conformance-driver", version: "1.0.0" },
                          { capabilities: { elicitation: { form: {} } } });
client.setRequestHandler(ElicitRequestSchema, async (request) => acceptWithDefaults(request));
const transport = new StdioClientTransport({
  command: mcpgw,
  args: ["run", "--profile", profile],
  env: {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dir,
    XDG_CONFIG_HOME: path.join(dir, "config"),
    XDG_RUNTIME_DIR: path.join(dir, "run"),
    DOCKER_HOST: "unix:///nonexistent/docker.sock",
  },
  stderr: "inherit",
});
try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  console.error(`[${scenario}] tools through mcpgw: ${tools.map((t) => t.name).join(", ")}`);
  for (const tool of tools) {
    const result = await client.callTool({ name: tool.name, arguments: argumentsFor(tool) });
    console.error(`[${scenario}] ${tool.name} -> ${JSON.stringify(result)}`);
    if (result.isError) code = 1;
  }
} catch (error) {
  console.error(`[${scenario}] failed: ${error?.stack ?? error}`);
  code = 1;
} finally {
  await client.close().catch(() => {});
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
