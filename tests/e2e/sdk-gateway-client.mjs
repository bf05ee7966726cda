// Usage: node sdk-gateway-client.mjs <mcpgw> <profile> <node_modules dir> [stdio|streamable|sse]
// The acceptance scenario of issue 6: the official TypeScript SDK client (declaring sampling and
// elicitation, answering both) drives `mcpgw run --profile <profile>` over stdio, with three
// upstreams (tests/e2e/three-upstreams.yaml): server-everything as a local process
// (`everything`), the same server in its container image (`everything-image`; the two clash on
// every name and URI) and mcp-fixture-server in its container (`fixture`).
//
// With `streamable` or `sse` the same scenario runs over HTTP: this script starts
// `mcpgw run --transport http --port 0`, reads the URL it prints, and connects with the SDK's
// StreamableHTTPClientTransport (to /mcp) or its legacy SSEClientTransport (to /sse); at the
// end it closes the session and stops mcpgw with SIGTERM.
//
// mcpgw runs with its working directory at the parent of <node_modules dir> (the profile names
// server-everything relatively) and `node` from <node_modules dir>/.bin first on PATH. Its
// stderr goes to this script's stderr, untouched, for the test to search.
//
// The secrets come from this process's environment (MCPGW_SECRET_ACCEPT_EVERYTHING_TOKEN,
// MCPGW_SECRET_ACCEPT_FIXTURE_TOKEN); this script never prints a secret value, only whether it
// was seen where expected. Prints one JSON line with what it saw; exits non-zero when
// something it needs fails outright.
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [mcpgw, profile, modules, mode = "stdio"] = process.argv.slice(2);
const everythingSecret = process.env.MCPGW_SECRET_ACCEPT_EVERYTHING_TOKEN ?? "";
const fixtureSecret = process.env.MCPGW_SECRET_ACCEPT_FIXTURE_TOKEN ?? "";
if (!mcpgw || !profile || !modules || everythingSecret.length < 8 || fixtureSecret.length < 8
    || !["stdio", "streamable", "sse"].includes(mode)) {
  console.error("usage: sdk-gateway-client.mjs <mcpgw> <profile> <node_modules dir>, with "
    + "MCPGW_SECRET_ACCEPT_EVERYTHING_TOKEN and MCPGW_SECRET_ACCEPT_FIXTURE_TOKEN set");
  process.exit(2);
}
const startedAt = Date.now();
// The containers of everything-image that exist before mcpgw starts are not ours (none, unless
// another run shares the engine); the one that appears is the one this script kills.
// With MCPGW_ACCEPT_PROFILE_NAME (the profile's name), only that profile's containers count:
// runs of other transports may share the engine at the same time.
const profileName = process.env.MCPGW_ACCEPT_PROFILE_NAME ?? "";
const everythingImageContainers = () =>
  execFileSync("docker", ["ps", "-q", "--no-trunc", "--filter", "label=io.mcpgw.managed=true",
                          "--filter", "label=io.mcpgw.server=everything-image",
                          ...(profileName ? ["--filter", `label=io.mcpgw.profile=${profileName}`] : [])],
               { encoding: "utf8" }).split("\n").filter((id) => id !== "");
const containersBefore = new Set(everythingImageContainers());
const gatewayCwd = path.dirname(path.resolve(modules));
const gatewayEnv = { ...process.env, PATH: `${path.resolve(modules)}/.bin:${process.env.PATH ?? ""}` };
// Over HTTP: mcpgw runs as a child of this script; its stderr is passed on as it comes.
let httpGateway = null;
async function startHttpGateway() {
  httpGateway = spawn(mcpgw, ["run", "--transport", "http", "--port", "0", "--profile", profile],
                      { cwd: gatewayCwd, env: gatewayEnv, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let seen = "";
    httpGateway.stderr.on("data", (chunk) => {
      process.stderr.write(chunk);
      seen += chunk;
      const m = seen.match(/mcpgw: listening on (\S+)/);
      if (m) resolve(m[1]);
    });
    httpGateway.once("exit", (code) => reject(new Error(`mcpgw exited (${code}) before listening`)));
    setTimeout(() => reject(new Error("mcpgw did not listen within 60 s")), 60000);
  });
}
let transport;
if (mode === "stdio") {
  transport = new StdioClientTransport({
    command: mcpgw,
    args: ["run", "--profile", profile],
    cwd: gatewayCwd,
    env: gatewayEnv,
    stderr: "inherit",
  });
} else {
  const url = await startHttpGateway();
  transport = mode === "sse" ? new SSEClientTransport(new URL(url.replace(/\/mcp$/, "/sse")))
                             : new StreamableHTTPClientTransport(new URL(url));
}

// Off the wire (the SDK runs notification handlers in a later microtask, and drops responses
// to requests it gave up): the id of each tools/call by key, the cancellations sent, every
// response id received, the server's requests by method, progress and resources/updated.
const wire = {
  callIds: {},
  cancelledSent: [],
  responseIds: [],
  serverRequests: {},
  progress: [],
  updated: [],
  listChanged: 0,
  negotiated: null,
};
let nextCallKey = null;
const send = transport.send.bind(transport);
transport.send = (message, options) => {
  if (message.method === "tools/call") {
    wire.callIds[nextCallKey ?? message.params.name] = message.id;
    nextCallKey = null;  // calls are made one at a time: the key is this call's
  }
  if (message.method === "notifications/cancelled") wire.cancelledSent.push(message.params.requestId);
  return send(message, options);
};
let onmessage;
Object.defineProperty(transport, "onmessage", {
  get: () => onmessage,
  set: (fn) => {
    onmessage = (message, extra) => {
      if (message.result?.protocolVersion) wire.negotiated = message.result.protocolVersion;
      if (message.method === undefined && message.id !== undefined) wire.responseIds.push(message.id);
      if (message.method === "notifications/progress") wire.progress.push(message.params);
      if (message.method === "notifications/resources/updated") wire.updated.push(message.params.uri);
      if (message.method === "notifications/tools/list_changed") wire.listChanged++;
      if (message.method && message.id !== undefined) {
        wire.serverRequests[message.method] = (wire.serverRequests[message.method] ?? 0) + 1;
      }
      return fn(message, extra);
    };
  },
});

const client = new Client(
  { name: "mcpgw-acceptance", version: "0.0.1" },
  { capabilities: { sampling: {}, elicitation: {} } },
);
const sampling = [];
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  sampling.push({ texts: request.params.messages.map((m) => m.content?.text ?? null),
                  maxTokens: request.params.maxTokens });
  return {
    role: "assistant",
    content: { type: "text", text: "canned answer from the acceptance client" },
    model: "acceptance-model",
    stopReason: "endTurn",
  };
});
const elicitation = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  elicitation.push({
    message: request.params.message,
    properties: Object.keys(request.params.requestedSchema?.properties ?? {}),
  });
  return { action: "accept", content: { name: "Acceptance User", check: true } };
});
const logs = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Polls `probe` until it returns a truthy value or `ms` pass; returns the last value.
async function waitFor(probe, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value || Date.now() >= deadline) return value;
    await sleep(100);
  }
}

function describe(result) {
  return {
    isError: result.isError === true,
    types: result.content.map((c) => c.type),
    texts: result.content.filter((c) => c.type === "text").map((c) => c.text),
    links: result.content.filter((c) => c.type === "resource_link").map((c) => c.uri),
    structuredContent: result.structuredContent ?? null,
  };
}
function errorOf(e) {
  return { error: e?.message ?? String(e), code: e?.code ?? null };
}
const calls = {};
async function call(name, args = {}, options = undefined, key = name) {
  nextCallKey = key;
  try {
    const result = await client.callTool({ name, arguments: args }, undefined, options);
    calls[key] = describe(result);
    return result;
  } catch (e) {
    calls[key] = errorOf(e);
    return null;
  }
}
async function read(uri) {
  try {
    const { contents } = await client.readResource({ uri });
    return contents.map((c) => ({
      uri: c.uri,
      mimeType: c.mimeType ?? null,
      text: c.text === undefined ? null : c.text.slice(0, 80),
      blob: c.blob === undefined ? null : Buffer.from(c.blob, "base64").toString("utf8").slice(0, 80),
    }));
  } catch (e) {
    return errorOf(e);
  }
}

const summary = {};
try {
  await client.connect(transport);
  summary.negotiated = wire.negotiated;
  summary.server = client.getServerVersion();
  summary.capabilities = client.getServerCapabilities();
  summary.setLevel = await client.setLoggingLevel("debug");

  // Listings. server-everything registers its sampling/elicitation tools once initialized
  // (and says so with list_changed), so the listing is polled until they show (bounded).
  let tools = [];
  await waitFor(async () => {
    tools = (await client.listTools()).tools.map((t) => t.name);
    return ["everything__trigger-sampling-request", "everything-image__trigger-elicitation-request"]
      .every((n) => tools.includes(n));
  }, 15000);
  summary.tools = tools;
  summary.prompts = (await client.listPrompts()).prompts.map((p) => p.name);
  summary.resources = (await client.listResources()).resources.map((r) => r.uri);
  summary.templates = (await client.listResourceTemplates()).resourceTemplates.map(
    (t) => t.uriTemplate);

  // A tool call on each of the three servers.
  await call("everything__echo", { message: "to the local process" });
  await call("everything-image__echo", { message: "to the container" });
  await call("fixture__echo", { message: "to the fixture" });

  // Prompts of both clashing servers (and one of the fixture's, unprefixed).
  summary.promptResults = {};
  for (const [name, args] of [
    ["everything__simple-prompt", {}],
    ["everything-image__args-prompt", { city: "Paris" }],
    ["test_simple_prompt", {}],
  ]) {
    try {
      const { messages } = await client.getPrompt({ name, arguments: args });
      summary.promptResults[name] = messages.map((m) => m.content?.text ?? m.content?.type);
    } catch (e) {
      summary.promptResults[name] = errorOf(e);
    }
  }

  // Reads of both clashing servers: a static document and a resource made from a template,
  // and the resource links of get-resource-links (each followed).
  summary.reads = {};
  summary.links = {};
  for (const server of ["everything", "everything-image"]) {
    const prefix = `mcpgw://${server}/`;
    const doc = summary.resources.find((u) => u.startsWith(`${prefix}demo://resource/static/`));
    summary.reads[server] = {
      static: doc ? { uri: doc, contents: await read(doc) } : null,
      template: await read(`${prefix}demo://resource/dynamic/text/7`),
    };
    const links = await call(`${server}__get-resource-links`, { count: 2 }, undefined,
                             `${server}__get-resource-links`);
    summary.links[server] = [];
    for (const uri of (links?.content ?? []).filter((c) => c.type === "resource_link")
      .map((c) => c.uri)) {
      summary.links[server].push({ uri, contents: await read(uri) });
    }
  }
  summary.fixtureRead = await read("test://static-text");

  // Subscriptions on both clashing servers; toggle-subscriber-updates makes each send
  // resources/updated for its subscriptions at once and every 5 s.
  const watched = ["everything", "everything-image"].map((server) =>
    summary.resources.find((u) => u.startsWith(`mcpgw://${server}/demo://resource/static/`)));
  summary.subscribed = watched;
  summary.subscribe = [];
  for (const uri of watched) {
    summary.subscribe.push(await client.subscribeResource({ uri }).catch(errorOf));
  }
  await call("everything__toggle-subscriber-updates", {}, undefined, "toggle_on_everything");
  await call("everything-image__toggle-subscriber-updates", {}, undefined,
             "toggle_on_everything-image");
  await waitFor(() => watched.every((u) => wire.updated.includes(u)), 15000);
  await call("everything__toggle-subscriber-updates", {}, undefined, "toggle_off_everything");
  await call("everything-image__toggle-subscriber-updates", {}, undefined,
             "toggle_off_everything-image");
  summary.updated = [...new Set(wire.updated)];
  summary.unsubscribe = [];
  for (const uri of watched) {
    summary.unsubscribe.push(await client.unsubscribeResource({ uri }).catch(errorOf));
  }

  // Progress, forwarded with this client's token, from the container.
  const sdkProgress = [];
  await call("everything-image__trigger-long-running-operation", { duration: 0.6, steps: 3 },
             { onprogress: (p) => sdkProgress.push(p) }, "long_running");
  summary.progress = wire.progress
    .filter((p) => p.progressToken === wire.callIds.long_running)
    .map(({ progressToken, ...rest }) => rest);
  summary.progressToken = wire.callIds.long_running ?? null;

  // Logs, tagged with the server's name.
  const logsBefore = logs.length;
  await call("test_tool_with_logging");
  summary.fixtureLogs = logs.slice(logsBefore);
  summary.loggers = [...new Set(logs.map((l) => l.logger ?? null))];

  // Sampling and elicitation from an everything instance, through the gateway, answered here.
  await call("everything__trigger-sampling-request", { prompt: "What is 2+2?", maxTokens: 50 },
             undefined, "sampling");
  await call("everything-image__trigger-elicitation-request", {}, undefined, "elicitation");
  summary.sampling = sampling;
  summary.elicitation = elicitation;

  // Cancel a slow call on the fixture at its first progress; the record must show it.
  const abort = new AbortController();
  await call("slow", { seconds: 60, steps: 600 }, {
    signal: abort.signal,
    onprogress: () => {
      if (!abort.signal.aborted) abort.abort("acceptance cancels slow");
    },
  }, "slow_cancelled");
  await call("get_cancelled_requests");
  // A response to the cancelled call would have come before get_cancelled_requests' own.
  summary.cancel = {
    requestId: wire.callIds.slow_cancelled ?? null,
    cancelledSent: wire.cancelledSent,
    answered: wire.responseIds.includes(wire.callIds.slow_cancelled),
  };

  // Secrets: only the container that declares one gets it.
  const envOf = async (server) => {
    const result = await call(`${server}__get-env`, {}, undefined, `${server}__get-env`);
    const text = result?.content?.[0]?.text;
    if (!text) return null;
    calls[`${server}__get-env`] = { isError: result.isError === true };  // never the values
    const env = JSON.parse(text);
    const values = Object.values(env);
    return {
      everythingTokenVar: env.EVERYTHING_TOKEN === everythingSecret,
      everythingSecretAnywhere: values.includes(everythingSecret),
      fixtureSecretAnywhere: values.includes(fixtureSecret),
      mcpgwSecretVars: Object.keys(env).filter((k) => k.startsWith("MCPGW_SECRET")).length,
    };
  };
  summary.env = { everything: await envOf("everything"),
                  "everything-image": await envOf("everything-image") };

  // Kill mid-call: the fixture writes its secret to stderr (and shows that the other secret
  // and the gateway's own variables did not reach it) and exits without answering.
  const crashStart = Date.now();
  await call("crash", {
    exit_code: 3,
    print_env: "FIXTURE_TOKEN,EVERYTHING_TOKEN,MCPGW_SECRET_ACCEPT_FIXTURE_TOKEN,"
      + "MCPGW_SECRET_ACCEPT_EVERYTHING_TOKEN",
  });
  summary.crash = { ...calls.crash, ms: Date.now() - crashStart };
  // The next call restarts it (a fresh instance: no cancellations on record); the others
  // were not disturbed.
  await call("fixture__echo", { message: "after the crash" }, undefined, "echo_after_crash");
  await call("get_cancelled_requests", {}, undefined, "cancelled_after_crash");
  await call("everything__echo", { message: "after the crash" }, undefined,
             "everything_after_crash");
  await call("everything-image__echo", { message: "after the crash" }, undefined,
             "everything-image_after_crash");

  // Killed from outside mid-call: `docker kill` on everything-image's container at the first
  // progress of a long operation; the error must follow within a second of the kill (timed
  // from before the docker CLI runs: generous).
  let killedAt = 0;
  summary.kill = { containers: 0 };
  await call("everything-image__trigger-long-running-operation", { duration: 30, steps: 30 }, {
    onprogress: () => {
      if (killedAt !== 0) return;
      const ours = everythingImageContainers().filter((id) => !containersBefore.has(id));
      summary.kill.containers = ours.length;
      if (ours.length === 1) {
        killedAt = Date.now();
        execFileSync("docker", ["kill", ours[0]], { stdio: "ignore" });
      }
    },
  }, "killed_mid_call");
  summary.kill.ms = killedAt === 0 ? null : Date.now() - killedAt;
  await call("everything-image__echo", { message: "after the kill" }, undefined,
             "everything-image_after_kill");
  await call("everything__echo", { message: "after the kill" }, undefined,
             "everything_after_kill");
  await call("fixture__echo", { message: "after the kill" }, undefined, "fixture_after_kill");
} catch (e) {
  console.error(`sdk-gateway-client: ${e?.stack ?? e}\nsummary so far: ${JSON.stringify(summary)}`);
  await client.close().catch(() => {});
  httpGateway?.kill("SIGTERM");
  process.exit(1);
}

summary.calls = calls;
summary.serverRequests = wire.serverRequests;
summary.listChanged = wire.listChanged;
summary.elapsedMs = Date.now() - startedAt;

// The end of the session. On stdio: stdin closes and mcpgw stops its servers and exits by
// itself (bounded; the SDK's close would send SIGTERM after 2 s; `_process` is the SDK's handle
// of the child: private, pinned SDK version). Over HTTP: the session is closed (Streamable
// HTTP: DELETE), then mcpgw is asked to stop with SIGTERM.
const child = httpGateway ?? transport._process;
const exited = new Promise((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
const closeStart = Date.now();
if (httpGateway) {
  await client.close().catch(() => {});
  httpGateway.kill("SIGTERM");
} else {
  child.stdin.end();
}
summary.gatewayExit = await Promise.race([exited, sleep(30000).then(() => null)]);
summary.gatewayExitMs = Date.now() - closeStart;
console.log(JSON.stringify(summary));
await client.close().catch(() => {});
process.exit(0);
