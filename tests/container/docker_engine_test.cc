// DockerEngine: unit tests of its pieces (JSON reader, DOCKER_HOST parsing, frame demuxer) and
// tests against the real engine. Those need a running dockerd: they skip when there is none,
// except when CI=true or MCPGW_REQUIRE_DOCKER=1, where they fail. The test images are built
// locally by tests/docker/build-test-images.sh.
#include "mcpgw/container/docker_engine.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "docker_http.h"
#include "docker_stream.h"
#include "rapidjson/document.h"
#include "rapidjson/pointer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace mcpgw::container {
namespace {

using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::StatusIs;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Frame demuxer

std::string Frame(int stream, absl::string_view payload) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  auto n = static_cast<uint32_t>(payload.size());
  out[4] = static_cast<char>(n >> 24);
  out[5] = static_cast<char>(n >> 16);
  out[6] = static_cast<char>(n >> 8);
  out[7] = static_cast<char>(n);
  return out + std::string(payload);
}

struct Demuxed {
  std::string out;
  std::string err;
};

absl::Status FeedAll(internal::FrameDemuxer& d, const std::vector<absl::string_view>& pieces,
                     Demuxed& got) {
  for (absl::string_view piece : pieces) {
    absl::Status s = d.Feed(piece, [&](int stream, absl::string_view payload) {
      (stream == 2 ? got.err : got.out).append(payload.data(), payload.size());
    });
    if (!s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

TEST(DockerFrameDemuxer, SplitsFramesAtEveryByteBoundary) {
  std::string binary;
  for (int i = 0; i < 300; ++i) {
    binary.push_back(static_cast<char>(i));  // includes NUL and a 0x01/0x02 that look like headers
  }
  std::string stream = Frame(1, "hello\n") + Frame(2, "oops\n") + Frame(1, "") + Frame(1, binary) +
                       Frame(2, std::string("\0\1", 2)) + Frame(1, "end");
  std::string want_out = "hello\n" + binary + "end";
  std::string want_err = "oops\n" + std::string("\0\1", 2);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    internal::FrameDemuxer d;
    Demuxed got;
    absl::string_view s = stream;
    ASSERT_THAT(FeedAll(d, {s.substr(0, cut), s.substr(cut)}, got), IsOk()) << cut;
    EXPECT_EQ(got.out, want_out) << "cut at " << cut;
    EXPECT_EQ(got.err, want_err) << "cut at " << cut;
    EXPECT_FALSE(d.mid_frame());
  }
  // One byte at a time.
  internal::FrameDemuxer d;
  Demuxed got;
  std::vector<absl::string_view> bytes;
  for (size_t i = 0; i < stream.size(); ++i) {
    bytes.push_back(absl::string_view(stream).substr(i, 1));
  }
  ASSERT_THAT(FeedAll(d, bytes, got), IsOk());
  EXPECT_EQ(got.out, want_out);
  EXPECT_EQ(got.err, want_err);
}

TEST(DockerFrameDemuxer, ReportsAnIncompleteFrame) {
  internal::FrameDemuxer d;
  Demuxed got;
  std::string f = Frame(1, "abcdef");
  ASSERT_THAT(FeedAll(d, {absl::string_view(f).substr(0, 10)}, got), IsOk());
  EXPECT_TRUE(d.mid_frame());
  EXPECT_EQ(got.out, "ab");
}

TEST(DockerFrameDemuxer, RefusesAnUnknownStream) {
  internal::FrameDemuxer d;
  Demuxed got;
  std::string f = Frame(7, "x");
  EXPECT_THAT(FeedAll(d, {f}, got), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(FeedAll(d, {Frame(1, "y")}, got), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(got.out, "");
}

// ---------------------------------------------------------------------------------------------
// JSON reader and DOCKER_HOST

TEST(DockerHost, ParsesUnixAndTcp) {
  MCPGW_ASSERT_OK_AND_ASSIGN(auto unix_ep, internal::ParseDockerHost("unix:///run/d.sock"));
  EXPECT_TRUE(unix_ep.is_unix);
  EXPECT_EQ(unix_ep.path, "/run/d.sock");
  MCPGW_ASSERT_OK_AND_ASSIGN(auto tcp_ep, internal::ParseDockerHost("tcp://127.0.0.1:2375"));
  EXPECT_FALSE(tcp_ep.is_unix);
  EXPECT_EQ(tcp_ep.host, "127.0.0.1");
  EXPECT_EQ(tcp_ep.port, "2375");
  for (const char* bad :
       {"", "npipe:////./pipe/docker", "tcp://host", "tcp://host:0", "tcp://:2375", "unix://"}) {
    EXPECT_THAT(internal::ParseDockerHost(bad), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(DockerEngineNoEngine, SaysWhatToDoWhenNothingListens) {
  EXPECT_THAT(DockerEngine::Create({.host = "unix:///nonexistent/docker.sock"}),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("cannot reach the Docker engine at "
                                 "unix:///nonexistent/docker.sock: is dockerd running? "
                                 "(start it, or set DOCKER_HOST)")));
  EXPECT_THAT(DockerEngine::Create({.host = "tcp://127.0.0.1:1"}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("is dockerd running?")));
  EXPECT_THAT(DockerEngine::Create({.host = "ssh://somewhere"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DockerEngineNoEngine, SaysSoWhenTheSocketMayNotBeUsed) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "root may connect to any socket";
  }
  std::string path = ::testing::TempDir() + "/mcpgw-docker-eacces.sock";
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(addr.sun_path));
  std::memcpy(addr.sun_path, path.data(), path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  EXPECT_THAT(DockerEngine::Create({.host = "unix://" + path}),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("permission denied")));
  close(fd);
  unlink(path.c_str());
}

// ---------------------------------------------------------------------------------------------
// Against the real engine

constexpr absl::string_view kCatImage = "mcpgw-test/cat:latest";
constexpr absl::string_view kFixtureImage = "mcpgw-test/fixture:latest";
constexpr absl::string_view kSuiteLabel = "io.mcpgw.test-suite";

// Collects what a stdio channel reads.
struct Collector {
  absl::Mutex mu;
  std::string out ABSL_GUARDED_BY(mu);
  absl::Status closed_with ABSL_GUARDED_BY(mu);
  absl::Notification closed;

  base::ByteChannel::Callbacks Callbacks() {
    return {.on_data =
                [this](absl::string_view bytes) {
                  absl::MutexLock lock(&mu);
                  out.append(bytes.data(), bytes.size());
                },
            .on_closed =
                [this](absl::Status why) {
                  {
                    absl::MutexLock lock(&mu);
                    closed_with = std::move(why);
                  }
                  closed.Notify();
                }};
  }
  std::string Out() {
    absl::MutexLock lock(&mu);
    return out;
  }
  // WaitFor waits (bounded) until the output contains `needle`.
  bool WaitFor(absl::string_view needle, absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return out.find(needle.data(), 0, needle.size()) != std::string::npos;
    };
    return mu.AwaitWithTimeout(absl::Condition(&has), timeout);
  }
};

class DockerEngineTest : public ::testing::Test {
 protected:
  // With MCPGW_TEST_ENGINE=podman the same tests run against podman's Docker-compatible API
  // (tests/docker/start-podman.sh), with the images built in dockerd and copied over.
  static bool OnPodman() {
    const char* engine = getenv("MCPGW_TEST_ENGINE");
    return engine != nullptr && absl::string_view(engine) == "podman";
  }

  static void SetUpTestSuite() {
    const std::string scripts = std::string(MCPGW_SOURCE_DIR) + "/tests/docker/";
    DockerOptions options;
    if (OnPodman()) {
      testing::ChildResult podman = testing::RunProgram({scripts + "start-podman.sh"});
      if (podman.exit_code != 0 || podman.out.empty()) {
        *why_ = absl::StrCat("podman's API service did not start: ", podman.err);
        return;
      }
      options.host = std::string(absl::StripAsciiWhitespace(podman.out));
      *engine_host_ = options.host;
    }
    absl::StatusOr<std::unique_ptr<DockerEngine>> engine = DockerEngine::Create(options);
    if (!engine.ok()) {
      *why_ = std::string(engine.status().message());
      return;
    }
    testing::ChildResult built =
        testing::RunProgram({scripts + "build-test-images.sh", MCPGW_FIXTURE_SERVER});
    if (built.exit_code != 0) {
      *why_ = absl::StrCat("building the test images failed: ", built.err);
      return;
    }
    if (OnPodman()) {
      testing::ChildResult loaded = testing::RunProgram({scripts + "load-into-podman.sh"});
      if (loaded.exit_code != 0) {
        *why_ = absl::StrCat("copying the test images into podman failed: ", loaded.err);
        return;
      }
    }
    engine_ = engine->release();
  }

  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }

  void SetUp() override {
    MCPGW_REQUIRE_OR_SKIP(engine_ != nullptr, "MCPGW_REQUIRE_DOCKER",
                          "no usable Docker engine: " + *why_);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    case_label_ = absl::StrCat(info->name(), "-", absl::ToUnixNanos(absl::Now()));
  }

  void TearDown() override {
    if (engine_ == nullptr) {
      return;
    }
    // Nothing with this test's labels is left behind (AutoRemove takes a moment).
    absl::Time deadline = absl::Now() + absl::Seconds(15);
    std::vector<InstanceInfo> left;
    while (true) {
      absl::StatusOr<std::vector<InstanceInfo>> listed = engine_->List(Selector());
      ASSERT_THAT(listed.status(), IsOk());
      left = *listed;
      if (left.empty() || absl::Now() > deadline) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    EXPECT_TRUE(left.empty()) << left.size() << " container(s) left, first " << left[0].id;
    for (const InstanceInfo& c : left) {
      engine_->Remove(c.id).IgnoreError();
    }
  }

  Labels Selector() const {
    return {{std::string(kSuiteLabel), "docker_engine_test"}, {"io.mcpgw.test-case", case_label_}};
  }

  RunSpec Spec(absl::string_view image) const {
    RunSpec spec;
    spec.image = std::string(image);
    spec.labels = Selector();
    return spec;
  }

  static DockerEngine* engine_;
  static std::string* why_;
  // The engine under test when it is not dockerd ("unix:///run/mcpgw-podman/podman.sock").
  static std::string* engine_host_;
  std::string case_label_;
};

DockerEngine* DockerEngineTest::engine_ = nullptr;
std::string* DockerEngineTest::why_ = new std::string;
std::string* DockerEngineTest::engine_host_ = new std::string;

TEST_F(DockerEngineTest, NegotiatesTheApiVersion) {
  EXPECT_FALSE(engine_->engine_api_version().empty());
  const std::string& v = engine_->api_version();
  EXPECT_GE(v, std::string(DockerEngine::kMinApiVersion));
  EXPECT_LE(v, std::string(DockerEngine::kMaxApiVersion));
  if (engine_->engine_api_version() < std::string(DockerEngine::kMaxApiVersion)) {
    EXPECT_EQ(v, engine_->engine_api_version());
  }
}

TEST_F(DockerEngineTest, RoundTripsOneMebibyteThroughCat) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(Spec(kCatImage)));
  EXPECT_EQ(cat->id().size(), 64u);
  base::ByteChannelPtr stdio = cat->TakeStdio();
  ASSERT_NE(stdio, nullptr);
  EXPECT_EQ(cat->TakeStdio(), nullptr);
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  std::string data((size_t{1} << 20) + 1, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 7919) >> 3);
  }
  ASSERT_THAT(stdio->Write({data}), IsOk());
  stdio->CloseWrite();
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::string out = got.Out();
  EXPECT_EQ(out.size(), data.size());
  EXPECT_TRUE(out == data) << "the bytes differ";
  absl::StatusOr<ExitStatus> end = cat->WaitForExit(absl::Seconds(20));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(*end, ExitStatus::Exited(0));
  EXPECT_EQ(cat->StderrTail(10), "");
  stdio->Close();
}

TEST_F(DockerEngineTest, AContainerThatExitsAtOnceReportsItsCodeAndStderr) {
  RunSpec spec = Spec(kCatImage);
  spec.args = {"/nonexistent"};
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(spec));
  base::ByteChannelPtr stdio = cat->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  absl::Notification exited;
  ExitStatus reported;
  std::string tail_at_exit;
  Instance* raw = cat.get();
  cat->OnExit([&](ExitStatus status) {
    reported = status;
    tail_at_exit = raw->StderrTail(5);
    exited.Notify();
  });
  ASSERT_TRUE(exited.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(reported, ExitStatus::Exited(1));
  EXPECT_THAT(tail_at_exit, HasSubstr("/nonexistent"));
  EXPECT_THAT(tail_at_exit, HasSubstr("No such file or directory"));
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(got.Out(), "");  // stderr is kept apart from stdout
  // A late OnExit runs at once.
  bool late = false;
  cat->OnExit([&](ExitStatus status) { late = status == ExitStatus::Exited(1); });
  EXPECT_TRUE(late);
  stdio->Close();
}

TEST_F(DockerEngineTest, KeepsStdoutAndStderrApartWithTheFixture) {
  RunSpec spec = Spec(kFixtureImage);
  spec.args = {"--no-such-flag"};
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr server, engine_->Run(spec));
  base::ByteChannelPtr stdio = server->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  absl::StatusOr<ExitStatus> end = server->WaitForExit(absl::Seconds(30));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_FALSE(end->success());
  EXPECT_NE(server->StderrTail(10), "");
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(got.Out(), "");
  stdio->Close();
}

TEST_F(DockerEngineTest, SpeaksToTheFixtureServer) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr server, engine_->Run(Spec(kFixtureImage)));
  base::ByteChannelPtr stdio = server->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  ASSERT_THAT(stdio->Write({R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{)"
                            R"("protocolVersion":"2025-06-18","capabilities":{},)"
                            R"("clientInfo":{"name":"t","version":"1"}}})",
                            "\n"}),
              IsOk());
  EXPECT_TRUE(got.WaitFor("\"protocolVersion\"", absl::Seconds(30))) << got.Out();
  stdio->CloseWrite();
  absl::StatusOr<ExitStatus> end = server->WaitForExit(absl::Seconds(30));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(*end, ExitStatus::Exited(0)) << server->StderrTail(10);
  stdio->Close();
}

TEST_F(DockerEngineTest, SetsTheEntrypointArgsAndWorkingDirectory) {
  RunSpec spec = Spec(kCatImage);
  spec.command = "/bin/cat";
  spec.args = {"./cat"};  // relative to the working directory
  spec.working_dir = "/bin";
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(spec));
  base::ByteChannelPtr stdio = cat->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::ifstream in("/bin/cat", std::ios::binary);
  std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got.Out().size(), want.size());
  EXPECT_TRUE(got.Out() == want);
  absl::StatusOr<ExitStatus> end = cat->WaitForExit(absl::Seconds(30));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(*end, ExitStatus::Exited(0)) << cat->StderrTail(5);
  stdio->Close();
}

TEST_F(DockerEngineTest, RunsContainersConcurrently) {
  constexpr int kContainers = 4;
  std::vector<std::string> outs(kContainers);
  std::vector<absl::Status> errors(kContainers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kContainers; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<InstancePtr> cat = engine_->Run(Spec(kCatImage));
      if (!cat.ok()) {
        errors[i] = cat.status();
        return;
      }
      base::ByteChannelPtr stdio = (*cat)->TakeStdio();
      Collector got;
      errors[i] = stdio->Start(got.Callbacks());
      if (errors[i].ok()) {
        errors[i] = stdio->Write({absl::StrCat("hello ", i, "\n")});
      }
      stdio->CloseWrite();
      if (!got.closed.WaitForNotificationWithTimeout(absl::Seconds(30))) {
        errors[i] = absl::DeadlineExceededError("no end of stream");
      }
      outs[i] = got.Out();
      absl::StatusOr<ExitStatus> end = (*cat)->WaitForExit(absl::Seconds(30));
      if (errors[i].ok() && !end.ok()) {
        errors[i] = end.status();
      }
      stdio->Close();
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (int i = 0; i < kContainers; ++i) {
    EXPECT_THAT(errors[i], IsOk()) << i;
    EXPECT_EQ(outs[i], absl::StrCat("hello ", i, "\n"));
  }
}

TEST_F(DockerEngineTest, IsolatesTheContainer) {
  RunSpec spec = Spec(kCatImage);
  spec.labels["io.mcpgw.extra"] = "a \"quoted\" value";
  spec.env["GREETING"] = "hello world";
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(spec));
  MCPGW_ASSERT_OK_AND_ASSIGN(std::string inspect, engine_->InspectJson(cat->id()));
  rapidjson::Document doc;
  doc.Parse(inspect.c_str());
  ASSERT_TRUE(doc.IsObject()) << inspect;
  auto at = [&](const char* pointer) -> const rapidjson::Value& {
    static const rapidjson::Value* null_value = new rapidjson::Value();
    const rapidjson::Value* v = rapidjson::Pointer(pointer).Get(doc);
    return v != nullptr ? *v : *null_value;
  };
  ASSERT_TRUE(at("/HostConfig/NetworkMode").IsString());
  EXPECT_STREQ(at("/HostConfig/NetworkMode").GetString(), "none");
  ASSERT_TRUE(at("/HostConfig/SecurityOpt").IsArray());
  bool no_new_privileges = false;
  for (const rapidjson::Value& o : at("/HostConfig/SecurityOpt").GetArray()) {
    no_new_privileges = no_new_privileges || std::string(o.GetString()) == "no-new-privileges";
  }
  EXPECT_TRUE(no_new_privileges) << inspect;
  // Docker reports CapDrop as ["ALL"], podman as the list of every capability: what the
  // process really has is checked below.
  ASSERT_TRUE(at("/HostConfig/CapDrop").IsArray());
  EXPECT_FALSE(at("/HostConfig/CapDrop").Empty());
  EXPECT_TRUE(at("/HostConfig/AutoRemove").GetBool());
  EXPECT_TRUE(at("/HostConfig/Init").GetBool());
  EXPECT_STREQ(at("/Config/Labels/io.mcpgw.managed").GetString(), "true");
  EXPECT_STREQ(at("/Config/Labels/io.mcpgw.extra").GetString(), "a \"quoted\" value");
  bool greeting = false;
  for (const rapidjson::Value& e : at("/Config/Env").GetArray()) {
    greeting = greeting || std::string(e.GetString()) == "GREETING=hello world";
  }
  EXPECT_TRUE(greeting) << inspect;
  EXPECT_TRUE(at("/State/Running").GetBool());
  cat->Stop(absl::ZeroDuration());
  absl::StatusOr<ExitStatus> end = cat->WaitForExit(absl::Seconds(30));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(*end, ExitStatus::Killed(9));

  // Inside: no capability at all, no-new-privileges set (the kernel's own account).
  spec.args = {"/proc/self/status"};
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr status, engine_->Run(spec));
  base::ByteChannelPtr stdio = status->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::string text = got.Out();
  EXPECT_THAT(text, HasSubstr("CapEff:\t0000000000000000"));
  EXPECT_THAT(text, HasSubstr("CapPrm:\t0000000000000000"));
  EXPECT_THAT(text, HasSubstr("CapBnd:\t0000000000000000"));
  EXPECT_THAT(text, HasSubstr("NoNewPrivs:\t1"));
  ASSERT_THAT(status->WaitForExit(absl::Seconds(20)).status(), IsOk());
  stdio->Close();
}

TEST_F(DockerEngineTest, StopEndsARunningContainerGracefully) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(Spec(kCatImage)));
  EXPECT_THAT(cat->WaitForExit(absl::ZeroDuration()).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  // cat echoes a line first: its init (docker-init, podman's catatonit) runs and handles
  // signals by then. A SIGTERM that came before that would be lost (PID 1 without a handler
  // ignores it) and the stop would take the whole grace: a slow start under load did that.
  base::ByteChannelPtr stdio = cat->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  ASSERT_THAT(stdio->Write({"up\n"}), IsOk());
  ASSERT_TRUE(got.WaitFor("up\n", absl::Seconds(30))) << got.Out();
  absl::Time start = absl::Now();
  cat->Stop(absl::Seconds(20));
  cat->Stop(absl::Seconds(30));  // a later call may only shorten the grace
  absl::StatusOr<ExitStatus> end = cat->WaitForExit(absl::Seconds(30));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(*end, ExitStatus::Killed(15));  // cat dies of SIGTERM, long before the grace ends
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  cat->Stop(absl::ZeroDuration());  // after the end: nothing
  stdio->Close();
}

TEST_F(DockerEngineTest, ListFindsContainersByLabel) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(Spec(kCatImage)));
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<InstanceInfo> mine, engine_->List(Selector()));
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].id, cat->id());
  EXPECT_EQ(mine[0].labels.at("io.mcpgw.test-case"), case_label_);
  EXPECT_EQ(mine[0].labels.at("io.mcpgw.managed"), "true");
  EXPECT_FALSE(mine[0].exit_status.has_value());
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<InstanceInfo> managed, engine_->List({}));
  bool found = false;
  for (const auto& c : managed) {
    found = found || c.id == cat->id();
  }
  EXPECT_TRUE(found);
  MCPGW_ASSERT_OK_AND_ASSIGN(std::vector<InstanceInfo> none,
                             engine_->List({{"io.mcpgw.test-case", "no-such-case"}}));
  EXPECT_TRUE(none.empty());
  cat->Stop(absl::ZeroDuration());
  ASSERT_THAT(cat->WaitForExit(absl::Seconds(30)).status(), IsOk());
}

TEST_F(DockerEngineTest, DestroyingARunningInstanceStopsItsContainer) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(Spec(kCatImage)));
  cat.reset();  // TearDown checks that nothing is left
}

TEST_F(DockerEngineTest, RefusesAMissingImageAndABadSpec) {
  EXPECT_THAT(engine_->Run(Spec("mcpgw-test/does-not-exist:latest")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("image mcpgw-test/does-not-exist:latest is not present locally")));
  EXPECT_THAT(engine_->Run(Spec("")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(engine_->Run(Spec("../containers/json")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a valid image")));
  EXPECT_THAT(engine_->Run(Spec("cat latest")), StatusIs(absl::StatusCode::kInvalidArgument));
  RunSpec bad_env = Spec(kCatImage);
  bad_env.env["A=B"] = "c";
  EXPECT_THAT(engine_->Run(bad_env), StatusIs(absl::StatusCode::kInvalidArgument));
  // Each mistake in the container-only fields is named; nothing is created.
  auto refused = [&](auto edit, absl::string_view says) {
    RunSpec spec = Spec(kCatImage);
    edit(spec);
    EXPECT_THAT(engine_->Run(spec),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(std::string(says))));
  };
  refused([](RunSpec& s) { s.memory_bytes = 1024; }, "at least 6 MiB");
  refused([](RunSpec& s) { s.cpus = -1; }, "CPU limit");
  refused([](RunSpec& s) { s.network = "bad net"; }, "not a network");
  refused([](RunSpec& s) { s.ulimits = {{.name = "files", .soft = 1, .hard = 1}}; },
          "'files' is not a resource limit");
  refused([](RunSpec& s) { s.ulimits = {{.name = "nofile", .soft = 2, .hard = 1}}; },
          "0 <= soft <= hard");
  refused([](RunSpec& s) { s.mounts = {{.source = "relative", .target = "/data"}}; },
          "absolute path on the host");
  refused([](RunSpec& s) { s.mounts = {{.source = "/tmp", .target = "data"}}; },
          "absolute path in the container");
  refused([](RunSpec& s) { s.mounts = {{.type = Mount::Type::kTmpfs, .source = "/x",
                                        .target = "/t"}}; },
          "tmpfs mount has no source");
  refused([](RunSpec& s) { s.user = "root; rm"; }, "not a user");
  refused([](RunSpec& s) { s.working_dir = "relative"; }, "absolute path");
}

// Inspect returns the engine's description of a container, parsed.
rapidjson::Document Inspect(DockerEngine& engine, const std::string& id) {
  rapidjson::Document doc;
  absl::StatusOr<std::string> json = engine.InspectJson(id);
  EXPECT_THAT(json.status(), IsOk());
  if (json.ok()) {
    doc.Parse(json->c_str());
  }
  return doc;
}

const rapidjson::Value& At(const rapidjson::Document& doc, const char* pointer) {
  static const rapidjson::Value* null_value = new rapidjson::Value();
  const rapidjson::Value* v = rapidjson::Pointer(pointer).Get(doc);
  return v != nullptr ? *v : *null_value;
}

TEST_F(DockerEngineTest, AppliesLimitsUserMountsAndAReadOnlyRoot) {
  std::string dir = ::testing::TempDir() + "/mcpgw-bind-" + case_label_;
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  {
    std::ofstream(dir + "/hello.txt") << "hello from the host\n";
  }
  RunSpec spec = Spec(kCatImage);
  spec.args = {"/data/hello.txt", "/proc/self/mounts"};
  spec.mounts = {{.type = Mount::Type::kBind, .source = dir, .target = "/data", .read_only = true},
                 {.type = Mount::Type::kTmpfs, .source = "", .target = "/scratch"}};
  spec.cpus = 0.5;
  spec.memory_bytes = int64_t{64} << 20;
  spec.pids_limit = 32;
  spec.read_only_rootfs = true;
  spec.user = "65534:65534";
  // Both: podman, given any ulimit, sets the ones not given to values this machine refuses.
  spec.ulimits = {{.name = "nofile", .soft = 256, .hard = 512},
                  {.name = "nproc", .soft = 1000, .hard = 1000}};
  // cat reads the file and exits: the container is gone by the time we could inspect it, so
  // a second container (stdin open, kept running) shows the spec in the engine's inspect output.
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr reader, engine_->Run(spec));
  base::ByteChannelPtr stdio = reader->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // Read as user 65534 through the bind mount; then the mount table, as the kernel has it.
  std::string out = got.Out();
  EXPECT_THAT(out, ::testing::StartsWith("hello from the host\n"));
  bool bind_ro = false;
  bool tmpfs = false;
  bool root_ro = false;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() < 4) {
      continue;
    }
    bool ro = absl::StartsWith(f[3], "ro,") || f[3] == "ro";
    bind_ro = bind_ro || (f[1] == "/data" && ro);
    tmpfs = tmpfs || (f[1] == "/scratch" && f[2] == "tmpfs");
    root_ro = root_ro || (f[1] == "/" && ro);
  }
  EXPECT_TRUE(bind_ro) << "the bind mount is missing or writable:\n" << out;
  EXPECT_TRUE(tmpfs) << "the tmpfs mount is missing:\n" << out;
  EXPECT_TRUE(root_ro) << "the root filesystem is writable:\n" << out;
  absl::StatusOr<ExitStatus> end = reader->WaitForExit(absl::Seconds(20));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_EQ(*end, ExitStatus::Exited(0)) << reader->StderrTail(5);
  stdio->Close();

  spec.args.clear();
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(spec));
  rapidjson::Document doc = Inspect(*engine_, cat->id());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(At(doc, "/HostConfig/NanoCpus").GetInt64(), 500000000);
  EXPECT_EQ(At(doc, "/HostConfig/Memory").GetInt64(), int64_t{64} << 20);
  EXPECT_EQ(At(doc, "/HostConfig/MemorySwap").GetInt64(), int64_t{64} << 20);
  EXPECT_EQ(At(doc, "/HostConfig/PidsLimit").GetInt64(), 32);
  EXPECT_TRUE(At(doc, "/HostConfig/ReadonlyRootfs").GetBool());
  EXPECT_STREQ(At(doc, "/Config/User").GetString(), "65534:65534");
  // Docker reports "nofile", podman "RLIMIT_NOFILE".
  std::string ulimit_name =
      absl::AsciiStrToLower(At(doc, "/HostConfig/Ulimits/0/Name").GetString());
  EXPECT_EQ(absl::StripPrefix(ulimit_name, "rlimit_"), "nofile");
  EXPECT_EQ(At(doc, "/HostConfig/Ulimits/0/Soft").GetInt64(), 256);
  EXPECT_EQ(At(doc, "/HostConfig/Ulimits/0/Hard").GetInt64(), 512);
  EXPECT_STREQ(At(doc, "/HostConfig/NetworkMode").GetString(), "none");
  cat->Stop(absl::ZeroDuration());
  ASSERT_THAT(cat->WaitForExit(absl::Seconds(30)).status(), IsOk());
  std::remove((dir + "/hello.txt").c_str());
  rmdir(dir.c_str());
}

TEST_F(DockerEngineTest, RemoveEndsAContainerAtOnce) {
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(Spec(kCatImage)));
  ASSERT_THAT(engine_->Remove(cat->id()), IsOk());
  absl::StatusOr<ExitStatus> end = cat->WaitForExit(absl::Seconds(20));
  ASSERT_THAT(end.status(), IsOk());
  EXPECT_FALSE(end->success());
  EXPECT_THAT(engine_->InspectJson(cat->id()), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(engine_->Remove(cat->id()), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(engine_->Remove("../images"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(DockerEngineTest, PrepareReportsAPresentImage) {
  MCPGW_ASSERT_OK_AND_ASSIGN(Prepared prepared, engine_->Prepare(Spec(kCatImage)));
  EXPECT_FALSE(prepared.pulled);
  EXPECT_THAT(prepared.image_id, ::testing::StartsWith("sha256:"));
  // Built locally and never pushed, Docker has no repository digest: the local id is the
  // content address. Podman gives every local image a repository digest.
  if (prepared.digest != prepared.image_id) {
    EXPECT_THAT(prepared.digest, HasSubstr("mcpgw-test/cat@sha256:"));
  }
}

TEST_F(DockerEngineTest, PrepareSaysWhenAnImageCannotBePulled) {
  // Nothing listens on port 9 of the loopback: the registry is unreachable.
  int events = 0;
  absl::StatusOr<Prepared> prepared = engine_->Prepare(
      Spec("127.0.0.1:9/mcpgw-test/nowhere:latest"), [&](const PullProgress&) { ++events; });
  EXPECT_THAT(prepared.status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("pulling image 127.0.0.1:9/")));
  EXPECT_THAT(engine_->Prepare(Spec("bad image")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Pulls from a real registry: Debian's docker-registry on the loopback, started by
// tests/docker/start-registry.sh. The test pushes the cat image there with the docker CLI,
// removes it locally, and pulls it back through DockerEngine, by tag and by digest.
class DockerPullTest : public DockerEngineTest {
 protected:
  void SetUp() override {
    DockerEngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    testing::ChildResult started = testing::RunProgram(
        {std::string(MCPGW_SOURCE_DIR) + "/tests/docker/start-registry.sh"});
    MCPGW_REQUIRE_OR_SKIP(started.exit_code == 0 && !started.out.empty(), "MCPGW_REQUIRE_DOCKER",
                          "no local registry: " + started.err);
    registry_ = std::string(absl::StripAsciiWhitespace(started.out));
    repo_ = absl::StrCat(registry_, "/mcpgw-test/pull-", absl::ToUnixNanos(absl::Now()));
    // An image with a layer of its own (1 MiB of random bytes) on top of the cat image, so the
    // pull downloads something (layers present locally are only reported "Already exists").
    std::string dir = absl::StrCat(::testing::TempDir(), "/mcpgw-pull-", case_label_);
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    {
      std::ifstream random("/dev/urandom", std::ios::binary);
      std::string bytes(size_t{1} << 20, '\0');
      random.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      std::ofstream(dir + "/payload.bin", std::ios::binary) << bytes;
      std::ofstream(dir + "/Dockerfile")
          << "FROM " << kCatImage << "\nCOPY payload.bin /payload.bin\n";
    }
    int built = Docker({"build", "-q", "-t", repo_ + ":v1", dir});
    std::filesystem::remove_all(dir);
    ASSERT_EQ(built, 0);
    ASSERT_EQ(Docker({"push", repo_ + ":v1"}), 0);
    ASSERT_EQ(Docker({"rmi", repo_ + ":v1"}), 0);
  }

  void TearDown() override {
    DockerEngineTest::TearDown();  // first: the containers of the pulled image are gone
    if (!repo_.empty()) {
      // Whatever is left of the pulled references in the engine under test (the cat image
      // itself stays).
      RemoveFromEngineUnderTest(repo_ + ":v1");
      if (!digest_.empty()) {
        RemoveFromEngineUnderTest(digest_);
      }
    }
  }

  // RemoveFromEngineUnderTest removes an image from the engine the tests run against (with the
  // docker CLI, which speaks to podman's API as well); returns the CLI's exit code.
  static int RemoveFromEngineUnderTest(const std::string& image) {
    std::vector<std::string> env;
    if (!engine_host_->empty()) {
      env.push_back("DOCKER_HOST=" + *engine_host_);
    }
    return testing::RunProgram({"docker", "rmi", image}, "", env).exit_code;
  }

  // Docker runs the docker CLI against dockerd (which builds and pushes the test image).
  static int Docker(std::vector<std::string> args) {
    args.insert(args.begin(), "docker");
    testing::ChildResult r = testing::RunProgram(args);
    if (r.exit_code != 0) {
      ADD_FAILURE() << absl::StrJoin(args, " ") << ": " << r.err;
    }
    return r.exit_code;
  }

  std::string registry_;
  std::string repo_;
  std::string digest_;
};

TEST_F(DockerPullTest, PullsByTagAndByDigestWithProgress) {
  ASSERT_THAT(engine_->InspectImageJson(repo_ + ":v1"), StatusIs(absl::StatusCode::kNotFound));
  std::vector<PullProgress> events;
  MCPGW_ASSERT_OK_AND_ASSIGN(
      Prepared by_tag, engine_->Prepare(Spec(repo_ + ":v1"),
                                        [&](const PullProgress& p) { events.push_back(p); }));
  EXPECT_TRUE(by_tag.pulled);
  EXPECT_THAT(by_tag.digest, ::testing::StartsWith(repo_ + "@sha256:"));
  ASSERT_FALSE(events.empty());
  bool layer_done = false;
  for (const PullProgress& p : events) {
    layer_done = layer_done || (!p.layer.empty() && (p.status == "Pull complete" ||
                                                     p.status == "Download complete"));
    EXPECT_LE(p.downloaded, p.to_download) << p.status;
  }
  EXPECT_TRUE(layer_done) << "no layer reported its download complete";
  if (!OnPodman()) {  // podman sends no byte counts
    EXPECT_GT(events.back().to_download, 0);
  }
  EXPECT_EQ(events.back().downloaded, events.back().to_download);
  // Present now: nothing to pull, same digest.
  MCPGW_ASSERT_OK_AND_ASSIGN(Prepared again, engine_->Prepare(Spec(repo_ + ":v1")));
  EXPECT_FALSE(again.pulled);
  EXPECT_EQ(again.digest, by_tag.digest);

  // By digest, after removing it again.
  digest_ = by_tag.digest;
  ASSERT_EQ(RemoveFromEngineUnderTest(repo_ + ":v1"), 0);
  int digest_events = 0;
  MCPGW_ASSERT_OK_AND_ASSIGN(
      Prepared by_digest,
      engine_->Prepare(Spec(digest_), [&](const PullProgress&) { ++digest_events; }));
  EXPECT_TRUE(by_digest.pulled);
  EXPECT_EQ(by_digest.digest, digest_);
  EXPECT_EQ(by_digest.image_id, by_tag.image_id);
  EXPECT_GT(digest_events, 0);

  // What was pulled runs.
  MCPGW_ASSERT_OK_AND_ASSIGN(InstancePtr cat, engine_->Run(Spec(digest_)));
  base::ByteChannelPtr stdio = cat->TakeStdio();
  Collector got;
  ASSERT_THAT(stdio->Start(got.Callbacks()), IsOk());
  ASSERT_THAT(stdio->Write({"pulled\n"}), IsOk());
  stdio->CloseWrite();
  ASSERT_TRUE(got.closed.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(got.Out(), "pulled\n");
  ASSERT_THAT(cat->WaitForExit(absl::Seconds(20)).status(), IsOk());
  stdio->Close();
}

TEST_F(DockerPullTest, ATagTheRegistryDoesNotHaveIsNotFound) {
  absl::StatusOr<Prepared> missing = engine_->Prepare(Spec(repo_ + ":no-such-tag"));
  EXPECT_THAT(missing.status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("check the image name and tag")));
}

}  // namespace
}  // namespace mcpgw::container
