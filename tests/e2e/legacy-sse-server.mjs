// Usage: node legacy-sse-server.mjs
// A legacy (2024-11-05) HTTP+SSE MCP server on the TypeScript SDK's SSEServerTransport, for
// libmcp's HTTP client tests (tests/mcp/http_client_test.cc). GET /sse opens the event stream
// (its `endpoint` event names /messages?sessionId=...); POST /messages carries the client's
// messages; anything else (a Streamable HTTP POST to /sse included) gets 404. Listens on
// 127.0.0.1, port chosen by the system, printed as the first line of stdout; ends when stdin
// closes.
import http from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { z } from "zod";

const transports = new Map();

function newServer() {
  const server = new McpServer({ name: "legacy-sse", version: "1.0.0" });
  server.tool("echo", { message: z.string() }, async ({ message }) => ({
    content: [{ type: "text", text: `legacy: ${message}` }],
  }));
  server.tool("progress", {}, async (_args, extra) => {
    const token = extra._meta?.progressToken;
    for (const p of [1, 2]) {
      if (token !== undefined) {
        await extra.sendNotification({ method: "notifications/progress",
                                       params: { progressToken: token, progress: p, total: 2 } });
      }
    }
    return { content: [{ type: "text", text: "done" }] };
  });
  return server;
}

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (req.method === "GET" && url.pathname === "/sse") {
    const transport = new SSEServerTransport("/messages", res);
    transports.set(transport.sessionId, transport);
    res.on("close", () => transports.delete(transport.sessionId));
    await newServer().connect(transport);
    return;
  }
  if (req.method === "POST" && url.pathname === "/messages") {
    const transport = transports.get(url.searchParams.get("sessionId"));
    if (transport === undefined) {
      res.writeHead(404).end("unknown session");
      return;
    }
    await transport.handlePostMessage(req, res);
    return;
  }
  res.writeHead(404).end("not found");
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${httpServer.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
