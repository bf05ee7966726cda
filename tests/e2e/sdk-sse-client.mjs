// Usage: node sdk-sse-client.mjs <url-of-/sse>
// The TypeScript SDK's legacy HTTP+SSE client (SSEClientTransport, protocol 2024-11-05) against
// libmcp's HttpServer (tests/mcp/http_server_test.cc): lists tools, calls a plain tool, a tool
// with progress and logs, and a tool that asks for sampling; prints one JSON line with what it
// saw, then closes the event stream (which ends the session).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const transport = new SSEClientTransport(new URL(process.argv[2]));
const client = new Client({ name: "sdk-sse-client", version: "0.0.1" }, { capabilities: { sampling: {} } });
client.setRequestHandler(CreateMessageRequestSchema, async () => ({
  model: "canned", role: "assistant", content: { type: "text", text: "Paris" } }));
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params.data));
await client.connect(transport);
// Progress as seen on the wire. (The SDK's own onprogress misses progress that arrives in the
// same read as the answer over SSEClientTransport: it handles notifications a microtask later
// than responses, and the answer removes the progress handler first.)
const progress = [];
const onmessage = transport.onmessage;
transport.onmessage = (m) => {
  if (m.method === "notifications/progress") progress.push(m.params.progress);
  onmessage(m);
};
const text = (r) => r.content.map((c) => c.text).join("");
const tools = (await client.listTools()).tools.map((t) => t.name);
const echo = text(await client.callTool({ name: "echo", arguments: {} }));
const slow = text(await client.callTool({ name: "progress", arguments: {} }, undefined,
  { onprogress: () => {} }));
const sampled = text(await client.callTool({ name: "sample", arguments: {} }));
const version = client.getServerVersion()?.name;
await client.close();
console.log(JSON.stringify({ server: version, tools, echo, slow, progress, logs, sampled }));
