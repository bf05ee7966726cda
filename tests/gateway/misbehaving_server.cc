// misbehaving-server: an MCP server on stdio that misbehaves on purpose, for the gateway's
// containment tests (tests/gateway/misbehaving_test.cc). Written on raw stdio (blocking writes
// of whole lines under one lock), not on libmcp's Server, so that it can break the protocol in
// ways a well-behaved library never would.
//
// Modes (flags, combinable):
//   --hang-initialize          reads every line but never answers initialize
//   --hang-initialize-if PATH  the same, when PATH exists at start (so a test can let a first
//                              instance list its tools and make the restarted one hang)
//   --garbage                  prints lines that are not JSON before the initialize answer,
//                              after it, and before every answer; answers stay valid
//   --oversized                lists the tool `big`, answered with one line of
//                              --oversized-bytes (default 17 MiB, over the 16 MiB frame limit),
//                              the id first as libmcp writes it, and `big_anonymous`, the
//                              same with the id where it cannot be read; lines end with "\n"
//   --notification-flood       after notifications/initialized, sends notifications/message
//                              as fast as the pipe takes them, forever
//   --stderr-flood             writes to stderr as fast as it can, forever
// Tools, always: `echo` ({message} -> "Echo: <message>"), `counters` (JSON text with
// "stderr_bytes" and "notifications" sent so far), `truncated` (answers with a response cut in
// the middle of its JSON), `exit` (exits with status 3 at once).
// Exits 0 when stdin ends.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "mcpgw/mcp/json.h"
#include "mcpgw/mcp/json_rpc.h"

namespace {

using mcpgw::mcp::DecodeMessage;
using mcpgw::mcp::FindMember;
using mcpgw::mcp::JsonValue;
using mcpgw::mcp::Message;

struct Flags {
  bool hang_initialize = false;
  bool garbage = false;
  bool oversized = false;
  size_t oversized_bytes = size_t{17} << 20;
  bool notification_flood = false;
  bool stderr_flood = false;
};

std::mutex out_mu;
std::atomic<uint64_t> stderr_bytes{0};
std::atomic<uint64_t> notifications{0};

// WriteAll writes all of `s` to fd 1 (blocking). Returns false once stdout is gone.
bool WriteAll(const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(1, s.data() + done, s.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

// Answers waiting for out_mu: the flood lets them in first (std::mutex is not fair, and a
// flooding thread that relocks at once would starve them).
std::atomic<int> answers_waiting{0};

bool WriteLine(const std::string& line) {
  answers_waiting.fetch_add(1);
  std::lock_guard<std::mutex> lock(out_mu);
  answers_waiting.fetch_sub(1);
  return WriteAll(line + "\n");
}

std::string Result(const std::string& id, const std::string& result) {
  return absl::StrCat(R"({"jsonrpc":"2.0","id":)", id, R"(,"result":)", result, "}");
}

std::string TextResult(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      escaped.push_back('\\');
    }
    escaped.push_back(c);
  }
  return absl::StrCat(R"({"content":[{"type":"text","text":")", escaped, R"("}]})");
}

void Garbage(const Flags& flags, absl::string_view where) {
  if (flags.garbage) {
    WriteLine(absl::StrCat("this is not JSON (", where, ") {{{"));
  }
}

std::string StringArg(const JsonValue* params, const char* name) {
  const JsonValue* args = params != nullptr ? FindMember(*params, "arguments") : nullptr;
  const JsonValue* v = args != nullptr ? FindMember(*args, name) : nullptr;
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : "";
}

void FloodNotifications() {
  std::string line =
      R"({"jsonrpc":"2.0","method":"notifications/message",)"
      R"("params":{"level":"info","logger":"flood","data":")" +
      std::string(200, 'n') + R"("}})" + "\n";
  while (true) {
    while (answers_waiting.load() > 0) {
      std::this_thread::yield();
    }
    {
      std::lock_guard<std::mutex> lock(out_mu);
      if (!WriteAll(line)) {
        return;
      }
    }
    notifications.fetch_add(1);
  }
}

void FloodStderr() {
  std::string chunk(4096, 'e');
  chunk.back() = '\n';
  while (true) {
    ssize_t n = write(2, chunk.data(), chunk.size());
    if (n < 0 && errno != EINTR) {
      return;
    }
    if (n > 0) {
      stderr_bytes.fetch_add(static_cast<uint64_t>(n));
    }
  }
}

void HandleCall(const Flags& flags, const std::string& id, const JsonValue* params) {
  const JsonValue* name_value = params != nullptr ? FindMember(*params, "name") : nullptr;
  std::string name = name_value != nullptr && name_value->IsString()
                         ? std::string(name_value->GetString(), name_value->GetStringLength())
                         : "";
  if (name == "echo") {
    WriteLine(Result(id, TextResult("Echo: " + StringArg(params, "message"))));
  } else if (name == "counters") {
    WriteLine(Result(id, TextResult(absl::StrCat(R"({"stderr_bytes":)", stderr_bytes.load(),
                                                 R"(,"notifications":)", notifications.load(),
                                                 "}"))));
  } else if (name == "truncated") {
    WriteLine(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id,
                           R"(,"result":{"content":[{"type":"text","text":"cut off)"));
  } else if (name == "big" && flags.oversized) {
    std::string head = absl::StrCat(R"({"jsonrpc":"2.0","id":)", id,
                                    R"(,"result":{"content":[{"type":"text","text":")");
    std::string tail = R"("}]}})";
    std::string line = head;
    line.append(flags.oversized_bytes - head.size() - tail.size(), 'x');
    line += tail;
    WriteLine(line);
  } else if (name == "big_anonymous" && flags.oversized) {
    // The id after the result and before another member: neither end of the line shows it.
    std::string head = R"({"jsonrpc":"2.0","result":{"content":[{"type":"text","text":")";
    std::string tail = absl::StrCat(R"("}]},"id":)", id, R"(,"extra":true})");
    std::string line = head;
    line.append(flags.oversized_bytes - head.size() - tail.size(), 'x');
    line += tail;
    WriteLine(line);
  } else if (name == "exit") {
    _exit(3);
  } else {
    WriteLine(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id,
                           R"(,"error":{"code":-32602,"message":"unknown tool '")", name,
                           R"('"}})"));
  }
}

constexpr const char* kTools =
    R"({"tools":[)"
    R"({"name":"echo","inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}},)"
    R"({"name":"counters","inputSchema":{"type":"object"}},)"
    R"({"name":"truncated","inputSchema":{"type":"object"}},)"
    R"({"name":"exit","inputSchema":{"type":"object"}})";

int Serve(const Flags& flags) {
  std::string line;
  while (std::getline(std::cin, line)) {
    absl::StatusOr<Message> message = DecodeMessage(line);
    if (!message.ok() || message->is_response()) {
      continue;  // the gateway's answers to our garbage, and anything else not for us
    }
    if (message->is_notification()) {
      if (message->method() == "notifications/initialized" && flags.notification_flood) {
        std::thread(FloodNotifications).detach();
      }
      continue;
    }
    std::string id = message->id()->ToString();
    absl::string_view method = message->method();
    if (method == "initialize") {
      if (flags.hang_initialize) {
        continue;
      }
      Garbage(flags, "before the initialize answer");
      WriteLine(Result(id, R"({"protocolVersion":"2025-11-25","capabilities":{"tools":{},)"
                           R"("logging":{}},"serverInfo":{"name":"misbehaving","version":"1"}})"));
      Garbage(flags, "after the initialize answer");
      continue;
    }
    Garbage(flags, "before an answer");
    if (method == "tools/list") {
      const char* oversized_tools = R"(,{"name":"big","inputSchema":{"type":"object"}},)"
                                    R"({"name":"big_anonymous","inputSchema":{"type":"object"}})";
      WriteLine(Result(id, absl::StrCat(kTools, flags.oversized ? oversized_tools : "", "]}")));
    } else if (method == "tools/call") {
      HandleCall(flags, id, message->params());
    } else if (method == "ping" || method == "logging/setLevel") {
      WriteLine(Result(id, "{}"));
    } else {
      WriteLine(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id,
                             R"(,"error":{"code":-32601,"message":"Method not found"}})"));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--hang-initialize") {
      flags.hang_initialize = true;
    } else if (arg == "--hang-initialize-if" && i + 1 < argc) {
      flags.hang_initialize = access(argv[++i], F_OK) == 0;
    } else if (arg == "--garbage") {
      flags.garbage = true;
    } else if (arg == "--oversized") {
      flags.oversized = true;
    } else if (arg == "--oversized-bytes" && i + 1 < argc) {
      flags.oversized_bytes = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--notification-flood") {
      flags.notification_flood = true;
    } else if (arg == "--stderr-flood") {
      flags.stderr_flood = true;
    } else {
      std::cerr << "misbehaving-server: unknown flag '" << arg << "'\n";
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);  // a gone gateway is a failed write, then the end
  if (flags.stderr_flood) {
    std::thread(FloodStderr).detach();
  }
  Garbage(flags, "at start");
  int rc = Serve(flags);
  _exit(rc);  // the flood threads may still be writing
}
