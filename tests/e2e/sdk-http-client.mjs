// Usage: node sdk-http-client.mjs <url>
// The TypeScript SDK's Streamable HTTP client against libmcp's HttpServer (tests/mcp/
// http_server_test.cc): lists tools, calls a plain tool, a tool with progress and logs, and a
// tool that asks for sampling; prints one JSON line with what it saw, then ends the session.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const transport = new StreamableHTTPClientTransport(new URL(process.argv[2]));
const client = new Client({ name: "sdk-http-client", version: "0.0.1" }, { capabilities: { sampling: {} } });
client.setRequestHandler(CreateMessageRequestSchema, async () => ({
  model: "canned", role: "assistant", content: { type: "text", text: "Paris" } }));
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params.data));
await client.connect(transport);
const sessionId = transport.sessionId;
const text = (r) => r.content.map((c) => c.text).join("");
const tools = (await client.listTools()).tools.map((t) => t.name);
const echo = text(await client.callTool({ name: "echo", arguments: {} }));
const progress = [];
const slow = text(await client.callTool({ name: "progress", arguments: {} }, undefined,
  { onprogress: (p) => progress.push(p.progress) }));
const sampled = text(await client.callTool({ name: "sample", arguments: {} }));
await transport.terminateSession();
await client.close();
console.log(JSON.stringify({ sessionId, version: transport.protocolVersion, tools, echo, slow, progress, logs, sampled }));
