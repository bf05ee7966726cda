// `mcpgw run --transport http` end to end: the official conformance suite's server scenarios
// through the gateway (one stdio upstream, mcp-fixture-server), and the bearer token.
#include <signal.h>

#include <curl/curl.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"

namespace mcpgw {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kListening[] = "mcpgw: listening on ";

// A gateway serving HTTP on a free loopback port; its URL once it listens.
struct Gateway {
  std::unique_ptr<testing::BackgroundProgram> program;
  std::string url;
};

Gateway StartGateway(std::vector<std::string> flags, std::vector<std::string> env = {}) {
  std::vector<std::string> argv = {MCPGW_BINARY, "run", "--transport", "http", "--port", "0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  env.push_back("XDG_CONFIG_HOME=" + ::testing::TempDir() + "/http-gateway-config");
  Gateway g;
  std::string why;
  g.program = testing::BackgroundProgram::Start(argv, env, &why);
  if (g.program == nullptr) {
    ADD_FAILURE() << why;
    return g;
  }
  g.url = g.program->WaitForStderr(kListening, absl::Seconds(20)).value_or("");
  EXPECT_FALSE(g.url.empty()) << g.program->err();
  return g;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// Posts an initialize to `url` with the given extra headers; the HTTP status.
long PostInitialize(const std::string& url, const std::vector<std::string>& headers,
                    std::string* body) {
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  list = curl_slist_append(list, "Content-Type: application/json");
  list = curl_slist_append(list, "Accept: application/json, text/event-stream");
  for (const std::string& h : headers) {
    list = curl_slist_append(list, h.c_str());
  }
  std::string payload =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return status;
}

// GETs `url`; the HTTP status.
long Get(const std::string& url, std::string* body) {
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_easy_cleanup(curl);
  return status;
}

// The server scenarios of the 2025-11-25 requirements, every one of them, through the gateway:
// tools, prompts, resources, subscriptions, completion, logging, progress, sampling and
// elicitation forwarded from the upstream to the calling session, SSE streams, session
// lifecycle and DNS rebinding protection.
TEST(HttpGateway, PassesTheConformanceServerScenarios) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  Gateway gateway = StartGateway({"--command", std::string("fx=") + MCPGW_FIXTURE_SERVER});
  ASSERT_FALSE(gateway.url.empty());
  // The suite's DNS rebinding scenario wants a localhost URL.
  std::string url = absl::StrReplaceAll(gateway.url, {{"127.0.0.1", "localhost"}});
  testing::ChildResult suite = testing::RunProgram(
      {modules + "/.bin/node", modules + "/.bin/conformance", "server", "--url", url,
       "--requirements", "2025-11-25"},
      "", {"PATH=" + modules + "/.bin:" + std::string(getenv("PATH"))});
  std::cout << suite.out.substr(suite.out.rfind("Total:") == std::string::npos
                                    ? 0
                                    : suite.out.rfind("Total:"))
            << "\n";
  EXPECT_EQ(suite.exit_code, 0) << suite.out << suite.err;
  EXPECT_THAT(suite.out, MatchesRegex("(.|\n)*Total: [0-9]+ passed, 0 failed(.|\n)*"));
  EXPECT_THAT(suite.out, HasSubstr("tools-call-sampling"));
  EXPECT_THAT(suite.out, HasSubstr("dns-rebinding-protection"));

  testing::ChildResult ended = gateway.program->Stop(SIGTERM);
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  EXPECT_THAT(ended.err, HasSubstr("mcpgw: stopping"));
  EXPECT_THAT(ended.err, Not(HasSubstr("killing it"))) << ended.err;
}

// The same scenarios with the fixture as a remote Streamable HTTP upstream
// (`mcp-fixture-server --http`): the gateway's HTTP client side carries every one of them,
// sampling and elicitation included, to the right session.
TEST(HttpGateway, PassesTheConformanceServerScenariosWithARemoteUpstream) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  std::string why;
  std::unique_ptr<testing::BackgroundProgram> fixture =
      testing::BackgroundProgram::Start({MCPGW_FIXTURE_SERVER, "--http", "0"}, {}, &why);
  ASSERT_NE(fixture, nullptr) << why;
  std::string remote_url =
      fixture->WaitForStderr("mcp-fixture-server: listening on ", absl::Seconds(20))
          .value_or("");
  ASSERT_FALSE(remote_url.empty()) << fixture->err();
  std::string profile = ::testing::TempDir() + "/remote-fixture-profile.yaml";
  {
    std::ofstream out(profile);
    out << "version: 1\nservers:\n  fx:\n    remote:\n      url: " << remote_url
        << "\n      transport: streamable\n";
  }
  Gateway gateway = StartGateway({"--profile", profile});
  ASSERT_FALSE(gateway.url.empty());
  std::string url = absl::StrReplaceAll(gateway.url, {{"127.0.0.1", "localhost"}});
  testing::ChildResult suite = testing::RunProgram(
      {modules + "/.bin/node", modules + "/.bin/conformance", "server", "--url", url,
       "--requirements", "2025-11-25"},
      "", {"PATH=" + modules + "/.bin:" + std::string(getenv("PATH"))});
  std::cout << suite.out.substr(suite.out.rfind("Total:") == std::string::npos
                                    ? 0
                                    : suite.out.rfind("Total:"))
            << "\n";
  EXPECT_EQ(suite.exit_code, 0) << suite.out << suite.err;
  EXPECT_THAT(suite.out, MatchesRegex("(.|\n)*Total: [0-9]+ passed, 0 failed(.|\n)*"));
  testing::ChildResult ended = gateway.program->Stop(SIGTERM);
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  EXPECT_EQ(fixture->Stop(SIGTERM).exit_code, 0);
}

// Two sessions call the same sampling tool at once through one gateway: each client gets
// exactly its own sampling request (each has its own upstream connection, see docs/http.md),
// and its own answer back.
TEST(HttpGateway, TwoSessionsSamplingAtOnceEachGetOnlyTheirOwnRequest) {
  std::string modules = testing::E2eNodeModules();
  MCPGW_REQUIRE_OR_SKIP(!modules.empty(), "MCPGW_REQUIRE_NPM",
                        "the npm test kit is not installed (run scripts/setup.sh --tests)");
  Gateway gateway = StartGateway({"--command", std::string("fx=") + MCPGW_FIXTURE_SERVER});
  ASSERT_FALSE(gateway.url.empty());
  testing::ChildResult r = testing::RunProgram(
      {modules + "/.bin/node", std::string(MCPGW_E2E_DIR) + "/sdk-two-sessions-sampling.mjs",
       gateway.url});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr(R"({"name":"alice","prompts":["prompt of alice"],)"
                               R"("answer":"LLM response: answer for alice"})"));
  EXPECT_THAT(r.out, HasSubstr(R"({"name":"bob","prompts":["prompt of bob"],)"
                               R"("answer":"LLM response: answer for bob"})"));
  EXPECT_EQ(gateway.program->Stop(SIGTERM).exit_code, 0);
}

TEST(HttpGateway, RequireTokenMakesOneAndPrintsItOnce) {
  Gateway gateway = StartGateway({"--require-token"});
  ASSERT_FALSE(gateway.url.empty());
  std::string line = gateway.program
                         ->WaitForStderr("clients must send `Authorization: Bearer ",
                                         absl::Seconds(5))
                         .value_or("");
  std::string token = line.substr(0, line.find('`'));
  ASSERT_EQ(token.size(), 64u) << gateway.program->err();

  std::string body;
  EXPECT_EQ(PostInitialize(gateway.url, {}, &body), 401);
  EXPECT_EQ(PostInitialize(gateway.url, {"Authorization: Bearer wrong"}, &body), 401);
  body.clear();
  EXPECT_EQ(PostInitialize(gateway.url, {"Authorization: Bearer " + token}, &body), 200);
  EXPECT_THAT(body, HasSubstr(R"("protocolVersion":"2025-11-25")"));
  // The health check answers without a token (it tells nothing but the session count).
  body.clear();
  std::string base = gateway.url.substr(0, gateway.url.rfind("/mcp"));
  EXPECT_EQ(Get(base + "/healthz", &body), 200);
  EXPECT_EQ(body, R"({"status":"ok","sessions":1})");

  testing::ChildResult ended = gateway.program->Stop(SIGTERM);
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
}

TEST(HttpGateway, RequireTokenTakesTheStoredOneAndNeverPrintsIt) {
  const std::string stored = "stored-gateway-token-1234567890";
  Gateway gateway =
      StartGateway({"--require-token"}, {"MCPGW_SECRET_GATEWAY_TOKEN=" + stored});
  ASSERT_FALSE(gateway.url.empty());
  std::string body;
  EXPECT_EQ(PostInitialize(gateway.url, {"Authorization: Bearer " + stored}, &body), 200);
  EXPECT_EQ(PostInitialize(gateway.url, {}, &body), 401);
  testing::ChildResult ended = gateway.program->Stop(SIGTERM);
  EXPECT_EQ(ended.exit_code, 0) << ended.err;
  EXPECT_THAT(ended.err, Not(HasSubstr(stored)));
  EXPECT_THAT(ended.err, Not(HasSubstr("clients must send")));
}

TEST(HttpGateway, WrongFlagsAreRefusedInOneLine) {
  testing::ChildResult r =
      testing::RunProgram({MCPGW_BINARY, "run", "--transport", "carrier-pigeon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--transport must be stdio or http"));
  r = testing::RunProgram({MCPGW_BINARY, "run", "--port", "9000"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--port is for --transport http"));
  r = testing::RunProgram({MCPGW_BINARY, "run", "--transport", "http", "--port", "70000"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--port must be 0 to 65535"));
}

}  // namespace
}  // namespace mcpgw
