// Usage: node sdk-core-client.mjs <protocolVersion|latest> <command> [args...]
// Drives an MCP server over stdio with the official TypeScript SDK client: initialize (at the
// given revision, or the SDK's latest), ping, a custom request whose params carry members no
// revision defines, then close. Prints one JSON line with what it saw; exits non-zero on error.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { z } from "zod";

const [version, cmd, ...args] = process.argv.slice(2);
const transport = new StdioClientTransport({ command: cmd, args, stderr: "pipe" });
if (version !== "latest") {
  // Offer an older revision: rewrite the initialize request on its way out.
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (message.method === "initialize") message.params.protocolVersion = version;
    return send(message, options);
  };
}
// Record the revision the server answers initialize with.
let negotiated = null;
let onmessage;
Object.defineProperty(transport, "onmessage", {
  get: () => onmessage,
  set: (fn) => {
    onmessage = (message, extra) => {
      if (message.result?.protocolVersion) negotiated = message.result.protocolVersion;
      return fn(message, extra);
    };
  },
});
const client = new Client({ name: "mcpgw-e2e", version: "0.0.1" }, { capabilities: {} });
await client.connect(transport);
await client.ping();
const echoed = await client.request(
  { method: "test/echo", params: { text: "hé", nested: { future: [1, 2.5, null] }, _meta: { "x.y/z": 1 } } },
  z.object({}).passthrough(),
);
console.log(JSON.stringify({
  server: client.getServerVersion(),
  instructions: client.getInstructions(),
  negotiated,
  echoed,
}));
await client.close();
