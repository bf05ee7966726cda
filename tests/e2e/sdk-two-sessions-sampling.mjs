// Usage: node sdk-two-sessions-sampling.mjs <gateway URL>
// Two TypeScript SDK clients, each its own Streamable HTTP session of the gateway, call the
// same sampling tool (`test_sampling`) at the same moment. Each answers sampling with its own
// name; prints one JSON line: per client, the sampling requests it received and the tool's
// answer. Each must see exactly its own request, and its own answer come back.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const url = process.argv[2];
if (!url) {
  console.error("usage: sdk-two-sessions-sampling.mjs <gateway URL>");
  process.exit(2);
}

async function open(name) {
  const client = new Client({ name, version: "0.0.1" }, { capabilities: { sampling: {} } });
  const seen = { name, prompts: [], answer: null };
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    seen.prompts.push(request.params.messages.map((m) => m.content?.text ?? "").join(" "));
    // Answer slowly, so that both requests are outstanding at once.
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { role: "assistant", content: { type: "text", text: `answer for ${name}` },
             model: name, stopReason: "endTurn" };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return { client, seen };
}

const sessions = await Promise.all([open("alice"), open("bob")]);
await Promise.all(sessions.map(async ({ client, seen }) => {
  const result = await client.callTool({ name: "test_sampling",
                                         arguments: { prompt: `prompt of ${seen.name}` } });
  seen.answer = result.content.map((c) => c.text ?? "").join("");
}));
console.log(JSON.stringify(sessions.map(({ seen }) => seen)));
await Promise.all(sessions.map(({ client }) => client.close()));
process.exit(0);
