#include "mcpgw/gateway/self_check.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "mcpgw/base/status_macros.h"
#include "mcpgw/mcp/json_rpc.h"
#include "mcpgw/mcp/line_transport.h"
#include "mcpgw/mcp/protocol_version.h"
#include "mcpgw/mcp/session.h"
#include "mcpgw/mcp/types.h"

namespace mcpgw::gateway {
namespace {

using mcp::Json;
using mcp::Message;

// Sends one request and waits for its outcome (the CLI's blocking use only).
absl::StatusOr<Message> Call(mcp::Session& session, absl::string_view method, Json params,
                             absl::Duration timeout) {
  absl::Notification done;
  absl::StatusOr<Message> outcome = absl::UnknownError("no answer");
  session.SendRequest(method, std::move(params), mcp::RequestOptions{.timeout = timeout},
                      [&](absl::StatusOr<Message> r) {
                        outcome = std::move(r);
                        done.Notify();
                      });
  if (!done.WaitForNotificationWithTimeout(timeout + absl::Seconds(1))) {
    return absl::DeadlineExceededError(absl::StrCat("no answer to '", method, "'"));
  }
  if (outcome.ok() && outcome->kind() == mcp::MessageKind::kErrorResponse) {
    return mcp::ErrorObjectToStatus(outcome->error());
  }
  return outcome;
}

// A server session that answers initialize with the negotiated revision.
void ServeInitialize(mcp::Session& server) {
  server.SetRequestHandler(
      "initialize",
      [&server](mcp::IncomingRequest request) {
        const mcp::JsonValue* params = request.params();
        absl::StatusOr<mcp::InitializeParams> init =
            params != nullptr ? mcp::FromJson<mcp::InitializeParams>(*params)
                              : absl::InvalidArgumentError("initialize needs params");
        if (!init.ok()) {
          request.Respond(init.status());
          return;
        }
        mcp::ProtocolVersion v = mcp::NegotiateVersion(init->protocol_version);
        server.SetProtocolVersion(v);
        mcp::InitializeResult result;
        result.protocol_version = std::string(mcp::ToString(v));
        result.server_info = mcp::Implementation{.name = "mcpgw-selftest", .version = "0.1.0"};
        request.Respond(mcp::ToJson(result));
      },
      mcp::HandlerMode::kInline);
}

}  // namespace

absl::StatusOr<SelfCheckReport> RunSelfCheck(const SelfCheckOptions& options) {
  int c2s[2];
  int s2c[2];
  if (pipe2(c2s, O_CLOEXEC) != 0 || pipe2(s2c, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  MCPGW_ASSIGN_OR_RETURN(mcp::TransportPtr server_end,
                         mcp::CreateStdioTransport(
                             {.read_fd = c2s[0], .write_fd = s2c[1], .owns_fds = true}));
  MCPGW_ASSIGN_OR_RETURN(mcp::TransportPtr client_end,
                         mcp::CreateStdioTransport(
                             {.read_fd = s2c[0], .write_fd = c2s[1], .owns_fds = true}));
  auto server = mcp::Session::Create(std::move(server_end), {.name = "selftest server"});
  auto client = mcp::Session::Create(std::move(client_end), {.name = "selftest client"});
  absl::Cleanup close = [&] {
    client->Close();
    server->Close();
  };
  ServeInitialize(*server);
  MCPGW_RETURN_IF_ERROR(server->Start());
  MCPGW_RETURN_IF_ERROR(client->Start());

  SelfCheckReport report;
  std::vector<std::string> offers;
  for (mcp::ProtocolVersion v : mcp::kSupportedProtocolVersions) {
    offers.emplace_back(mcp::ToString(v));
  }
  offers.emplace_back("2099-01-01");
  for (const std::string& offered : offers) {
    mcp::InitializeParams params;
    params.protocol_version = offered;
    params.client_info = mcp::Implementation{.name = "mcpgw-selftest", .version = "0.1.0"};
    MCPGW_ASSIGN_OR_RETURN(Message answer,
                           Call(*client, "initialize", mcp::ToJson(params), options.timeout));
    MCPGW_ASSIGN_OR_RETURN(mcp::InitializeResult result,
                           mcp::FromJson<mcp::InitializeResult>(*answer.result()));
    std::string expected(mcp::ToString(mcp::NegotiateVersion(offered)));
    if (result.protocol_version != expected) {
      return absl::InternalError(absl::StrCat("offered ", offered, ", the server answered ",
                                              result.protocol_version, " instead of ", expected));
    }
    report.negotiations.emplace_back(offered, result.protocol_version);
  }

  std::vector<absl::Duration> times;
  times.reserve(static_cast<size_t>(std::max(options.pings, 0)));
  for (int i = 0; i < options.pings; ++i) {
    absl::Time start = absl::Now();
    MCPGW_RETURN_IF_ERROR(Call(*client, "ping", Json(), options.timeout).status());
    times.push_back(absl::Now() - start);
  }
  if (!times.empty()) {
    std::sort(times.begin(), times.end());
    report.pings = static_cast<int>(times.size());
    report.p50 = times[times.size() / 2];
    report.p99 = times[std::min(times.size() - 1, times.size() * 99 / 100)];
    report.max = times.back();
  }
  return report;
}

}  // namespace mcpgw::gateway
