// Usage: node sdk-fixture-client.mjs <fixture-command> [fixture args...]
// Drives mcp-fixture-server over stdio with the official TypeScript SDK client (declaring
// sampling and elicitation, answering both): lists and calls every tool, reads every resource
// and the template, subscribes and unsubscribes, gets every prompt, completes arg1, collects
// progress and log notifications, cancels a `slow` call and asks get_cancelled_requests, and
// calls `crash` last (the connection must then fail). Prints one JSON line with what it saw;
// exits non-zero (with the fixture's stderr) when something it needs fails outright.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [cmd, ...args] = process.argv.slice(2);
const startedAt = Date.now();
const transport = new StdioClientTransport({ command: cmd, args, stderr: "pipe" });
let fixtureStderr = "";
transport.stderr.on("data", (chunk) => (fixtureStderr += chunk));

// What went over the wire: the id of each tools/call (by tool name), the cancellations sent,
// the methods of the server's requests, and the revision the server answered initialize with.
// Progress is recorded here too: the SDK runs notification handlers in a later microtask, so a
// progress notification that arrives in the same read as its response reaches a handler the
// response has already removed (and onprogress never sees it).
const wire = { callIds: {}, cancelledSent: [], serverRequests: {}, negotiated: null, progress: [] };
const progressFor = (name) =>
  wire.progress
    .filter((p) => p.progressToken === wire.callIds[name])
    .map(({ progressToken, ...rest }) => rest);
const send = transport.send.bind(transport);
transport.send = (message, options) => {
  if (message.method === "tools/call") wire.callIds[message.params.name] = message.id;
  if (message.method === "notifications/cancelled") wire.cancelledSent.push(message.params.requestId);
  return send(message, options);
};
let onmessage;
Object.defineProperty(transport, "onmessage", {
  get: () => onmessage,
  set: (fn) => {
    onmessage = (message, extra) => {
      if (message.result?.protocolVersion) wire.negotiated = message.result.protocolVersion;
      if (message.method === "notifications/progress") wire.progress.push(message.params);
      if (message.method && message.id !== undefined) {
        wire.serverRequests[message.method] = (wire.serverRequests[message.method] ?? 0) + 1;
      }
      return fn(message, extra);
    };
  },
});

const client = new Client(
  { name: "mcpgw-fixture-e2e", version: "0.0.1" },
  { capabilities: { sampling: {}, elicitation: {} } },
);
const sampling = [];
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  sampling.push(request.params);
  return {
    role: "assistant",
    content: { type: "text", text: "canned answer from the e2e client" },
    model: "e2e-model",
    stopReason: "endTurn",
  };
});
// Accepts every form with values that match the schemas the fixture sends.
const elicitation = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  const properties = request.params.requestedSchema?.properties ?? {};
  elicitation.push({
    message: request.params.message,
    properties: Object.keys(properties),
    required: request.params.requestedSchema?.required ?? [],
    defaults: Object.fromEntries(
      Object.entries(properties).filter(([, p]) => "default" in p).map(([k, p]) => [k, p.default]),
    ),
  });
  let content;
  if ("username" in properties) {
    content = { username: "e2e-user", email: "e2e@example.com" };
  } else if ("verified" in properties) {
    content = { name: "Jane Smith", age: 25, score: 88, status: "inactive", verified: false };
  } else {
    content = {
      untitledSingle: "option1",
      titledSingle: "value1",
      legacyEnum: "opt1",
      untitledMulti: ["option1", "option2"],
      titledMulti: ["value1", "value2"],
    };
  }
  return { action: "accept", content };
});
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));

function describe(result) {
  return {
    isError: result.isError === true,
    types: result.content.map((c) => c.type),
    texts: result.content.filter((c) => c.type === "text").map((c) => c.text),
    mimeTypes: result.content.map((c) => c.mimeType ?? c.resource?.mimeType ?? null),
    resources: result.content.filter((c) => c.type === "resource").map((c) => c.resource),
    dataLengths: result.content.map((c) => (c.data ?? "").length),
    structuredContent: result.structuredContent ?? null,
  };
}
function errorOf(e) {
  return { error: e?.message ?? String(e), code: e?.code ?? null };
}
const calls = {};
async function call(name, args = {}, options = undefined, key = name) {
  try {
    const result = await client.callTool({ name, arguments: args }, undefined, options);
    calls[key] = describe(result);
    return result;
  } catch (e) {
    calls[key] = errorOf(e);
    return null;
  }
}

const summary = {};
try {
  await client.connect(transport);
  summary.negotiated = wire.negotiated;
  summary.server = client.getServerVersion();
  summary.capabilities = client.getServerCapabilities();
  summary.instructions = client.getInstructions() ?? null;
  summary.ping = await client.ping();
  summary.setLevel = await client.setLoggingLevel("debug");

  const { tools } = await client.listTools();
  summary.tools = tools.map((t) => t.name);
  summary.toolsWithoutDescription = tools.filter((t) => !t.description).map((t) => t.name);
  summary.jsonSchemaTool = tools.find((t) => t.name === "json_schema_2020_12_tool")?.inputSchema ?? null;
  summary.echoOutputSchema = tools.find((t) => t.name === "echo")?.outputSchema ?? null;

  // The conformance tools.
  for (const name of [
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_error_handling",
  ]) {
    await call(name);
  }
  const logsBefore = logs.length;
  await call("test_tool_with_logging");
  summary.logs = logs.slice(logsBefore);
  const sdkProgress = [];
  await call("test_tool_with_progress", {}, { onprogress: (p) => sdkProgress.push(p) });
  summary.progress = progressFor("test_tool_with_progress");
  summary.sdkProgressSeen = sdkProgress.length;
  await call("test_sampling", { prompt: "What is 2+2?" });
  await call("test_elicitation", { message: "Who are you?" });
  await call("test_elicitation_sep1034_defaults");
  await call("test_elicitation_sep1330_enums");
  summary.sampling = sampling;
  summary.elicitation = elicitation;
  await call("json_schema_2020_12_tool", { name: "Ada", contactMethod: "email", email: "ada@example.com" });

  // Our own tools.
  await call("echo", { message: "hello fixture" });
  await call("echo", {}, undefined, "echo_without_message");
  const PATTERN = "0123456789abcdefghijklmnopqrstuvwxyz";
  const large = await call("large_result", { bytes: 1048576 });
  if (large) {
    const text = large.content[0].text;
    let patternOk = true;
    for (let i = 0; i < text.length && patternOk; i += 4096) {
      patternOk = text[i] === PATTERN[i % PATTERN.length];
    }
    summary.large = {
      length: text.length,
      bytes: Buffer.byteLength(text, "utf8"),
      patternOk: patternOk && text.endsWith(PATTERN[(text.length - 1) % PATTERN.length]),
    };
    calls.large_result.texts = [];  // not the megabyte in the summary
  }
  await call("large_result", { bytes: 64 * 1024 * 1024 + 1 }, undefined, "large_result_too_big");

  await call("slow", { seconds: 0.2, steps: 4 }, { onprogress: () => {} });
  summary.slowProgress = progressFor("slow");

  // Cancel a long `slow` call at its first progress notification (so its handler is running).
  const abort = new AbortController();
  let abortedAt = 0;
  const cancelledProgress = [];
  const slowStart = Date.now();
  await call("slow", { seconds: 60, steps: 600 }, {
    signal: abort.signal,
    onprogress: (p) => {
      cancelledProgress.push(p);
      if (!abort.signal.aborted) {
        abortedAt = Date.now();
        abort.abort("e2e cancels slow");
      }
    },
  }, "slow_cancelled");
  summary.cancel = {
    requestId: wire.callIds.slow,
    cancelledSent: wire.cancelledSent,
    progressBeforeAbort: cancelledProgress.length,
    msToAbort: abortedAt - slowStart,
    msToReject: Date.now() - abortedAt,
  };
  // It waits (up to 2 s) for cancelled handlers to stop, so its duration bounds how long the
  // cancelled `slow` kept running.
  const askedAt = Date.now();
  await call("get_cancelled_requests");
  summary.cancel.msGetCancelled = Date.now() - askedAt;

  for (const name of summary.tools.filter((n) => n.startsWith("extra_"))) {
    await call(name, { n: name, list: [1, 2.5, null] });
  }
  try {
    await client.callTool({ name: "no_such_tool", arguments: {} });
    summary.unknownTool = { error: null };
  } catch (e) {
    summary.unknownTool = errorOf(e);
  }

  // Resources, the template, subscriptions.
  const { resources } = await client.listResources();
  summary.resources = resources.map((r) => ({ uri: r.uri, name: r.name, mimeType: r.mimeType ?? null, description: r.description ?? null }));
  const { resourceTemplates } = await client.listResourceTemplates();
  summary.templates = resourceTemplates.map((t) => ({ uriTemplate: t.uriTemplate, mimeType: t.mimeType ?? null }));
  summary.reads = {};
  for (const uri of [...resources.map((r) => r.uri), "test://template/123/data"]) {
    const { contents } = await client.readResource({ uri });
    summary.reads[uri] = contents.map((c) => ({
      uri: c.uri,
      mimeType: c.mimeType ?? null,
      text: c.text ?? null,
      blobLength: c.blob?.length ?? null,
    }));
  }
  try {
    await client.readResource({ uri: "test://no-such-resource" });
    summary.unknownResource = { error: null };
  } catch (e) {
    summary.unknownResource = errorOf(e);
  }
  summary.subscribe = await client.subscribeResource({ uri: "test://watched-resource" });
  summary.unsubscribe = await client.unsubscribeResource({ uri: "test://watched-resource" });

  // Prompts and completion.
  const { prompts } = await client.listPrompts();
  summary.prompts = prompts.map((p) => ({
    name: p.name,
    description: p.description ?? null,
    arguments: (p.arguments ?? []).map((a) => ({ name: a.name, required: a.required ?? false })),
  }));
  const promptArgs = {
    test_prompt_with_arguments: { arg1: "hello", arg2: "world" },
    test_prompt_with_embedded_resource: { resourceUri: "test://example-resource" },
  };
  summary.promptResults = {};
  for (const p of prompts) {
    const result = await client.getPrompt({ name: p.name, arguments: promptArgs[p.name] ?? {} });
    summary.promptResults[p.name] = result.messages.map((m) => ({
      role: m.role,
      type: m.content.type,
      text: m.content.text ?? null,
      mimeType: m.content.mimeType ?? m.content.resource?.mimeType ?? null,
      uri: m.content.resource?.uri ?? null,
      resourceText: m.content.resource?.text ?? null,
      dataLength: m.content.data?.length ?? null,
    }));
  }
  try {
    await client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "only" } });
    summary.promptMissingArgument = { error: null };
  } catch (e) {
    summary.promptMissingArgument = errorOf(e);
  }
  summary.completion = (await client.complete({
    ref: { type: "ref/prompt", name: "test_prompt_with_arguments" },
    argument: { name: "arg1", value: "par" },
  })).completion;
  summary.templateCompletion = (await client.complete({
    ref: { type: "ref/resource", uri: "test://template/{id}/data" },
    argument: { name: "id", value: "1" },
  })).completion;

  // Last: crash. The server exits without answering, so the call must fail.
  let closed = false;
  const previousOnclose = transport.onclose;
  transport.onclose = () => {
    closed = true;
    previousOnclose?.();
  };
  const crashStart = Date.now();
  try {
    await client.callTool({ name: "crash", arguments: { exit_code: 3 } });
    summary.crash = { error: null };
  } catch (e) {
    summary.crash = { ...errorOf(e), ms: Date.now() - crashStart };
  }
  summary.crash.closed = closed;
} catch (e) {
  console.error(`sdk-fixture-client: ${e?.stack ?? e}\nsummary so far: ${JSON.stringify(summary)}\nfixture stderr:\n${fixtureStderr}`);
  process.exit(1);
}

summary.calls = calls;
summary.serverRequests = wire.serverRequests;
summary.elapsedMs = Date.now() - startedAt;
console.log(JSON.stringify(summary));
await client.close().catch(() => {});
process.exit(0);
