#include "mcpgw/mcp/session.h"

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mcpgw/mcp/memory_transport.h"
#include "testing/fake_clock.h"
#include "testing/raw_peer.h"
#include "testing/status_matchers.h"

namespace mcpgw::mcp {
namespace {

using ::mcpgw::testing::FakeClock;
using ::mcpgw::testing::IsOk;
using ::mcpgw::testing::ManualExecutor;
using ::mcpgw::testing::RawPeer;
using ::mcpgw::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Records the outcome of an outgoing request.
struct Outcome {
  std::optional<absl::StatusOr<Message>> result;
  int calls = 0;
  ResponseCallback Callback() {
    return [this](absl::StatusOr<Message> r) {
      result = std::move(r);
      ++calls;
    };
  }
};

// A session under test whose peer is a RawPeer: the test writes raw frames and reads exactly
// what the session sends. Handlers run on a ManualExecutor, time is a FakeClock.
class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { Init(SessionOptions{}); }

  void Init(SessionOptions options, size_t max_message_bytes = kDefaultMaxMessageBytes) {
    if (session_ != nullptr) {
      session_->Close();
    }
    // The peer may send more than the session accepts, to test the session's limit.
    auto [a, b] = CreateMemoryTransportPair({.max_message_bytes = max_message_bytes},
                                            {.max_message_bytes = kDefaultMaxMessageBytes});
    options.executor = &executor_;
    options.clock = &clock_;
    options.name = "peer";
    session_ = Session::Create(std::move(a), std::move(options));
    peer_ = std::make_unique<RawPeer>(std::move(b));
  }

  void Start() { ASSERT_THAT(session_->Start(), IsOk()); }

  // Sends raw text from the peer and returns the frames the session answered with.
  std::vector<std::string> Exchange(absl::string_view text) {
    EXPECT_THAT(peer_->Send(text), IsOk());
    executor_.RunAll();
    return peer_->Take();
  }

  // Outcomes live as long as the fixture: requests still pending when a test ends are failed
  // when the session closes, after the test body's locals are gone.
  Outcome& NewOutcome() { return outcomes_.emplace_back(); }

  std::deque<Outcome> outcomes_;
  ManualExecutor executor_;
  FakeClock clock_;
  std::shared_ptr<Session> session_;
  std::unique_ptr<RawPeer> peer_;
};

TEST_F(SessionTest, AnswersPingAutomatically) {
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
}

TEST_F(SessionTest, UnknownMethodIsMethodNotFound) {
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":"q","method":"nope/nothing"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":"q","error":{"code":-32601,)"
                          R"("message":"Method not found: nope/nothing"}})"));
}

TEST_F(SessionTest, MalformedInputIsAnsweredAndTheSessionKeepsWorking) {
  Start();
  EXPECT_THAT(Exchange("{not json"), ElementsAre(HasSubstr(R"("id":null,"error":{"code":-32700)")));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":5,"method":7})"),
              ElementsAre(HasSubstr(R"("id":5,"error":{"code":-32600)")));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":6,"method":"m","params":[1]})"),
              ElementsAre(HasSubstr(R"("id":6,"error":{"code":-32602)")));
  EXPECT_THAT(Exchange(R"([{"jsonrpc":"2.0","id":7,"method":"ping"}])"),
              ElementsAre(HasSubstr(R"("id":null,"error":{"code":-32600)")));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","method":"bad","params":5})"), IsEmpty());
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":99,"result":{}})"), IsEmpty());  // unknown id
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":9,"method")"),  // truncated
              ElementsAre(HasSubstr(R"("id":null,"error":{"code":-32700)")));
  EXPECT_THAT(Exchange(std::string(1000, '[')),
              ElementsAre(HasSubstr(R"("error":{"code":-32700)")));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":8,"method":"ping"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":8,"result":{}})"));
}

TEST_F(SessionTest, CorrelatesResponsesArrivingOutOfOrder) {
  Start();
  Outcome& a = NewOutcome();
  Outcome& b = NewOutcome();
  Outcome& c = NewOutcome();
  RequestId ia = session_->SendRequest("m", Json(), a.Callback());
  RequestId ib = session_->SendRequest("m", Json(), b.Callback());
  RequestId ic = session_->SendRequest("m", Json(), c.Callback());
  EXPECT_EQ(peer_->Take().size(), 3u);
  for (const RequestId* id : {&ic, &ia, &ib}) {
    ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id->ToString(),
                                         R"(,"result":{"who":)", id->ToString(), "}}")),
                IsOk());
  }
  for (auto [o, id] : {std::pair{&a, ia}, std::pair{&b, ib}, std::pair{&c, ic}}) {
    ASSERT_EQ(o->calls, 1);
    ASSERT_THAT(*o->result, IsOk());
    EXPECT_EQ((*o->result)->result()->FindMember("who")->value.GetInt64(), *id.integer());
  }
  EXPECT_EQ(session_->outgoing_in_flight(), 0u);
}

TEST_F(SessionTest, StringIdResponseDoesNotMatchIntegerRequest) {
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("m", Json(), o.Callback());
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","id":")", id.ToString(),
                                       R"(","result":{}})")),
              IsOk());
  EXPECT_EQ(o.calls, 0);
  EXPECT_EQ(session_->outgoing_in_flight(), 1u);
}

TEST_F(SessionTest, ErrorResponsesArriveAsMessagesWithTheirData) {
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("m", Json(), o.Callback());
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id.ToString(),
                                       R"(,"error":{"code":-32042,"message":"go to url",)"
                                       R"("data":{"elicitations":[]}}})")),
              IsOk());
  ASSERT_THAT(*o.result, IsOk());
  ErrorObject e = (*o.result)->error();
  EXPECT_EQ(e.code, -32042);
  EXPECT_EQ(e.data.Serialize(), R"({"elicitations":[]})");
}

TEST_F(SessionTest, MalformedResponseFailsThePendingRequest) {
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("m", Json(), o.Callback());
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id.ToString(),
                                       R"(,"error":"boom"})")),
              IsOk());
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kInternal, HasSubstr("invalid response")));
}

TEST_F(SessionTest, TimeoutFailsTheRequestSendsCancelAndDropsTheLateResponse) {
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("tools/call", Json(),
                                       RequestOptions{.timeout = absl::Seconds(5)}, o.Callback());
  peer_->Take();
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(o.calls, 0);
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                  HasSubstr("'tools/call') to peer timed out after 5s")));
  EXPECT_THAT(peer_->Take(),
              ElementsAre(absl::StrCat(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                                       R"("params":{"requestId":)",
                                       id.ToString(), R"(,"reason":"timed out after 5s"}})")));
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id.ToString(),
                                       R"(,"result":{}})")),
              IsOk());
  EXPECT_EQ(o.calls, 1);
}

TEST_F(SessionTest, DefaultTimeoutAndHardMaximum) {
  SessionOptions options;
  options.default_request_timeout = absl::Seconds(3);
  options.max_request_timeout = absl::Seconds(10);
  Init(options);
  Start();
  Outcome& by_default = NewOutcome();
  Outcome& capped = NewOutcome();
  session_->SendRequest("a", Json(), by_default.Callback());
  session_->SendRequest("b", Json(), RequestOptions{.timeout = absl::Hours(1)}, capped.Callback());
  clock_.Advance(absl::Seconds(3));
  EXPECT_EQ(by_default.calls, 1);
  EXPECT_EQ(capped.calls, 0);
  clock_.Advance(absl::Seconds(7));
  EXPECT_EQ(capped.calls, 1);
}

TEST_F(SessionTest, ProgressResetsTheTimeoutButNotPastTheHardMaximum) {
  SessionOptions options;
  options.max_request_timeout = absl::Seconds(10);
  Init(options);
  Start();
  Outcome& o = NewOutcome();
  std::vector<double> progress;
  RequestId id = session_->SendRequest(
      "slow", Json(),
      RequestOptions{.timeout = absl::Seconds(4),
                     .on_progress =
                         [&](const Message& n) {
                           progress.push_back(n.params()->FindMember("progress")->value.GetDouble());
                         }},
      o.Callback());
  std::vector<std::string> sent = peer_->Take();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_THAT(sent[0], HasSubstr(absl::StrCat(R"("_meta":{"progressToken":)", id.ToString())));
  auto send_progress = [&](int p) {
    ASSERT_THAT(peer_->Send(absl::StrCat(
                    R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":)",
                    id.ToString(), R"(,"progress":)", p, "}}")),
                IsOk());
  };
  for (int i = 1; i <= 3; ++i) {
    clock_.Advance(absl::Seconds(3));  // 3 s < 4 s timeout; progress restarts it
    send_progress(i);
  }
  EXPECT_EQ(o.calls, 0);
  EXPECT_THAT(progress, ElementsAre(1, 2, 3));
  clock_.Advance(absl::Seconds(1));  // 10 s since the start: the hard maximum
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kDeadlineExceeded));
  send_progress(4);  // after the end: ignored
  EXPECT_THAT(progress, ElementsAre(1, 2, 3));
}

TEST_F(SessionTest, CallerProvidedProgressTokenIsKept) {
  Start();
  Outcome& o = NewOutcome();
  int calls = 0;
  MCPGW_ASSERT_OK_AND_ASSIGN(Json params, Json::Parse(R"({"_meta":{"progressToken":"mine"}})"));
  session_->SendRequest("m", params, RequestOptions{.on_progress = [&](const Message&) { ++calls; }},
                        o.Callback());
  EXPECT_THAT(peer_->Take(), ElementsAre(HasSubstr(R"("_meta":{"progressToken":"mine"})")));
  ASSERT_THAT(peer_->Send(R"({"jsonrpc":"2.0","method":"notifications/progress",)"
                          R"("params":{"progressToken":"mine","progress":1}})"),
              IsOk());
  EXPECT_EQ(calls, 1);
}

TEST_F(SessionTest, CancelBeforeTheResponse) {
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("m", Json(), o.Callback());
  peer_->Take();
  EXPECT_TRUE(session_->Cancel(id, "user pressed stop"));
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kCancelled, HasSubstr("user pressed stop")));
  EXPECT_THAT(peer_->Take(),
              ElementsAre(absl::StrCat(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                                       R"("params":{"requestId":)",
                                       id.ToString(), R"(,"reason":"user pressed stop"}})")));
  // The response that crosses the cancellation is dropped.
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id.ToString(),
                                       R"(,"result":{}})")),
              IsOk());
  EXPECT_EQ(o.calls, 1);
}

TEST_F(SessionTest, CancelAfterTheResponseDoesNothing) {
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("m", Json(), o.Callback());
  peer_->Take();
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","id":)", id.ToString(),
                                       R"(,"result":{}})")),
              IsOk());
  EXPECT_FALSE(session_->Cancel(id));
  EXPECT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, IsOk());
  EXPECT_THAT(peer_->Take(), IsEmpty());
}

TEST_F(SessionTest, InitializeIsNeverCancelledOnTheWire) {
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("initialize", Json(), o.Callback());
  peer_->Take();
  EXPECT_TRUE(session_->Cancel(id));
  EXPECT_THAT(peer_->Take(), IsEmpty());
}

TEST_F(SessionTest, IncomingCancelBeforeTheHandlerRuns) {
  std::atomic<int> ran{0};
  session_->SetRequestHandler("work", [&](IncomingRequest r) {
    ++ran;
    r.Respond(Json::Object());
  });
  Start();
  ASSERT_THAT(peer_->Send(R"({"jsonrpc":"2.0","id":1,"method":"work"})"), IsOk());
  ASSERT_THAT(peer_->Send(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                          R"("params":{"requestId":1,"reason":"changed my mind"}})"),
              IsOk());
  executor_.RunAll();
  EXPECT_EQ(ran, 0);
  EXPECT_THAT(peer_->Take(), IsEmpty());
  EXPECT_EQ(session_->incoming_in_flight(), 0u);
}

TEST_F(SessionTest, IncomingCancelDuringTheHandlerSuppressesTheAnswer) {
  std::optional<IncomingRequest> held;
  bool cancel_seen = false;
  session_->SetRequestHandler("work", [&](IncomingRequest r) {
    r.OnCancel([&] { cancel_seen = true; });
    held.emplace(std::move(r));
  });
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":"w","method":"work"})"), IsEmpty());
  ASSERT_TRUE(held.has_value());
  EXPECT_FALSE(held->cancelled());
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                       R"("params":{"requestId":"w"}})"),
              IsEmpty());
  EXPECT_TRUE(cancel_seen);
  EXPECT_TRUE(held->cancelled());
  held->Respond(Json::Object());
  held.reset();
  EXPECT_THAT(peer_->Take(), IsEmpty());
}

TEST_F(SessionTest, IncomingCancelAfterTheAnswerIsIgnored) {
  session_->SetRequestHandler("work", [](IncomingRequest r) { r.Respond(Json::Object()); });
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"work"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                       R"("params":{"requestId":1}})"),
              IsEmpty());
  // Malformed cancellations are ignored too.
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{}})"),
              IsEmpty());
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","method":"notifications/cancelled",)"
                       R"("params":{"requestId":null}})"),
              IsEmpty());
}

TEST_F(SessionTest, IncomingInitializeCannotBeCancelled) {
  std::optional<IncomingRequest> held;
  session_->SetRequestHandler("initialize", [&](IncomingRequest r) { held.emplace(std::move(r)); });
  Start();
  Exchange(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}})");
  Exchange(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}})");
  held->Respond(Json::Object());
  EXPECT_THAT(peer_->Take(), ElementsAre(R"({"jsonrpc":"2.0","id":0,"result":{}})"));
}

TEST_F(SessionTest, IncomingInFlightLimit) {
  SessionOptions options;
  options.max_incoming_requests = 2;
  Init(options);
  std::vector<IncomingRequest> held;
  absl::Mutex mu;
  session_->SetRequestHandler("hold", [&](IncomingRequest r) {
    absl::MutexLock lock(&mu);
    held.push_back(std::move(r));
  });
  Start();
  Exchange(R"({"jsonrpc":"2.0","id":1,"method":"hold"})");
  Exchange(R"({"jsonrpc":"2.0","id":2,"method":"hold"})");
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":3,"method":"hold"})"),
              ElementsAre(HasSubstr(R"("id":3,"error":{"code":-32003,"message":"server busy)")));
  held[0].Respond(Json::Object());
  EXPECT_THAT(peer_->Take(), ElementsAre(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":4,"method":"hold"})"), IsEmpty());
  EXPECT_EQ(session_->incoming_in_flight(), 2u);
}

TEST_F(SessionTest, DuplicateIncomingIdIsRefusedWhileInFlight) {
  std::vector<IncomingRequest> held;
  session_->SetRequestHandler("hold", [&](IncomingRequest r) { held.push_back(std::move(r)); });
  Start();
  Exchange(R"({"jsonrpc":"2.0","id":1,"method":"hold"})");
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"hold"})"),
              ElementsAre(HasSubstr(R"("id":1,"error":{"code":-32600)")));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":"1","method":"hold"})"), IsEmpty());
  EXPECT_EQ(held.size(), 2u);
}

TEST_F(SessionTest, OutgoingInFlightLimit) {
  SessionOptions options;
  options.max_outgoing_requests = 1;
  Init(options);
  Start();
  Outcome& a = NewOutcome();
  Outcome& b = NewOutcome();
  session_->SendRequest("m", Json(), a.Callback());
  session_->SendRequest("m", Json(), b.Callback());
  EXPECT_EQ(a.calls, 0);
  ASSERT_EQ(b.calls, 1);
  EXPECT_THAT(*b.result, StatusIs(absl::StatusCode::kResourceExhausted,
                                  HasSubstr("already awaiting an answer")));
}

TEST_F(SessionTest, ProgressFromAHandler) {
  session_->SetRequestHandler("slow", [](IncomingRequest r) {
    ASSERT_THAT(r.SendProgress(1, 3, "one"), IsOk());
    ASSERT_THAT(r.SendProgress(1, 3), IsOk());  // not increasing: dropped
    ASSERT_THAT(r.SendProgress(2.5), IsOk());
    r.Respond(Json::Object());
    ASSERT_THAT(r.SendProgress(3), IsOk());  // after the answer: dropped
  });
  Start();
  EXPECT_THAT(
      Exchange(R"({"jsonrpc":"2.0","id":1,"method":"slow","params":{"_meta":{"progressToken":"t"}}})"),
      ElementsAre(R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1,"total":3,"message":"one"}})",
                  R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":2.5}})",
                  R"({"jsonrpc":"2.0","id":1,"result":{}})"));
  // Without a token, progress is silently not sent.
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":2,"method":"slow"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":2,"result":{}})"));
}

TEST_F(SessionTest, ElicitationIsRefusedTowardsOlderPeers) {
  Start();
  session_->SetProtocolVersion(ProtocolVersion::k2025_03_26);
  Outcome& o = NewOutcome();
  session_->SendRequest("elicitation/create", Json::Object(), o.Callback());
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kFailedPrecondition,
                                  HasSubstr("needs 2025-06-18 or later")));
  EXPECT_THAT(peer_->Take(), IsEmpty());
  session_->SetProtocolVersion(ProtocolVersion::k2025_06_18);
  Outcome& p = NewOutcome();
  session_->SendRequest("elicitation/create", Json::Object(), p.Callback());
  EXPECT_EQ(p.calls, 0);
  EXPECT_THAT(peer_->Take(), ElementsAre(HasSubstr("elicitation/create")));
}

TEST_F(SessionTest, BatchesOnlyAt20250326) {
  session_->SetRequestHandler("echo", [](IncomingRequest r) {
    r.Respond(Json::Copy(*r.params()));
  });
  Start();
  const char* batch =
      R"([{"jsonrpc":"2.0","id":1,"method":"echo","params":{"n":1}},)"
      R"({"jsonrpc":"2.0","method":"notifications/x"},)"
      R"({"jsonrpc":"2.0","id":2,"method":"nope"},)"
      R"("junk",)"
      R"({"jsonrpc":"2.0","id":3,"method":"echo","params":{"n":3}}])";
  for (ProtocolVersion v : {ProtocolVersion::k2024_11_05, ProtocolVersion::k2025_06_18,
                            ProtocolVersion::k2025_11_25}) {
    session_->SetProtocolVersion(v);
    EXPECT_THAT(Exchange(batch),
                ElementsAre(AllOf(HasSubstr(R"("id":null,"error":{"code":-32600)"),
                                  HasSubstr(std::string(ToString(v))))));
  }
  session_->SetProtocolVersion(ProtocolVersion::k2025_03_26);
  std::vector<std::string> answers = Exchange(batch);
  ASSERT_EQ(answers.size(), 1u);
  MCPGW_ASSERT_OK_AND_ASSIGN(Json array, Json::Parse(answers[0]));
  ASSERT_TRUE(array.value().IsArray());
  std::vector<std::string> items;
  for (const JsonValue& v : array.value().GetArray()) {
    items.push_back(SerializeJson(v));
  }
  EXPECT_THAT(items, ::testing::UnorderedElementsAre(
                         R"({"jsonrpc":"2.0","id":1,"result":{"n":1}})",
                         HasSubstr(R"("id":2,"error":{"code":-32601)"),
                         HasSubstr(R"("id":null,"error":{"code":-32600)"),
                         R"({"jsonrpc":"2.0","id":3,"result":{"n":3}})"));
  // A batch of notifications only gets no answer at all.
  EXPECT_THAT(Exchange(R"([{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}])"),
              IsEmpty());
}

TEST_F(SessionTest, HandlerThatThrowsGetsInternalError) {
  session_->SetRequestHandler("boom", [](IncomingRequest) { throw std::runtime_error("kaput"); });
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"boom"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"the handler for 'boom' failed: kaput"}})"));
}

TEST_F(SessionTest, HandlerThatCatchesItsOwnExceptionStillGetsAnAnswer) {
  session_->SetRequestHandler("oops", [](IncomingRequest r) {
    try {
      IncomingRequest mine = std::move(r);
      throw std::runtime_error("caught below");
    } catch (...) {
    }
  });
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"oops"})"),
              ElementsAre(HasSubstr(R"("id":1,"error":{"code":-32603)")));
  EXPECT_EQ(session_->incoming_in_flight(), 0u);
}

TEST_F(SessionTest, HandlerThatDropsTheRequestGetsInternalError) {
  session_->SetRequestHandler("forget", [](IncomingRequest) {});
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"forget"})"),
              ElementsAre(HasSubstr(R"("id":1,"error":{"code":-32603)")));
}

TEST_F(SessionTest, StatusErrorsMapToJsonRpcCodes) {
  session_->SetRequestHandler("bad", [](IncomingRequest r) {
    r.Respond(absl::InvalidArgumentError("argument 'x' is required"));
  });
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"bad"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"argument 'x' is required"}})"));
}

TEST_F(SessionTest, InlineHandlersRunOnTheReaderWithoutTheExecutor) {
  session_->SetRequestHandler("fast", [](IncomingRequest r) { r.Respond(Json::Object()); },
                              HandlerMode::kInline);
  Start();
  ASSERT_THAT(peer_->Send(R"({"jsonrpc":"2.0","id":1,"method":"fast"})"), IsOk());
  EXPECT_EQ(executor_.Pending(), 0u);
  EXPECT_THAT(peer_->Take(), ElementsAre(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
}

TEST_F(SessionTest, ForwardingKeepsUnknownFieldsBothWays) {
  // A gateway-style fallback: take any request, forward the upstream's answer unchanged.
  std::optional<Message> seen;
  session_->SetFallbackRequestHandler(
      [&](IncomingRequest r) {
        seen = r.message();
        MCPGW_ASSERT_OK_AND_ASSIGN(
            Message upstream,
            DecodeMessage(R"({"jsonrpc":"2.0","id":900,"result":{"content":[{"type":"future",)"
                          R"("x":1}],"isError":false,"_meta":{"a.b/c":2},"novel":[1]},"top":true})"));
        r.RespondWith(std::move(upstream));
      },
      HandlerMode::kInline);
  Start();
  const char* request =
      R"({"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"t","arguments":{},)"
      R"("_meta":{"progressToken":1,"x.y/z":"keep"},"someday":{"a":null}},"vendor":7})";
  EXPECT_THAT(Exchange(request),
              ElementsAre(R"({"jsonrpc":"2.0","id":"c1","result":{"content":[{"type":"future","x":1}],"isError":false,"_meta":{"a.b/c":2},"novel":[1]},"top":true})"));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->Serialize(), request);
}

TEST_F(SessionTest, ASerializedResultIsSentAsItIsUnderTheRequestsId) {
  const std::string kept = R"({"tools":[{"name":"t","inputSchema":{"type":"object"}}]})";
  session_->SetRequestHandler("kept", [&](IncomingRequest r) {
    r.RespondSerialized(kept);
    r.RespondSerialized(R"({"second":true})");  // answered already: dropped
  });
  session_->SetProtocolVersion(ProtocolVersion::k2025_03_26);  // batches allowed
  Start();
  // A string id that needs escaping keeps its JSON form.
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":"a\"b\\c","method":"kept"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":"a\"b\\c","result":)" + kept + "}"));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":-7,"method":"kept"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":-7,"result":)" + kept + "}"));
  // In a batch it is one element of the answer array.
  std::vector<std::string> answers =
      Exchange(R"([{"jsonrpc":"2.0","id":1,"method":"kept"},{"jsonrpc":"2.0","id":2,"method":"kept"}])");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0], R"([{"jsonrpc":"2.0","id":1,"result":)" + kept +
                            R"(},{"jsonrpc":"2.0","id":2,"result":)" + kept + "}]");
  EXPECT_EQ(session_->incoming_in_flight(), 0u);
}

TEST_F(SessionTest, ASerializedResultToACancelledRequestIsNotSent) {
  std::optional<IncomingRequest> held;
  session_->SetRequestHandler("slow", [&](IncomingRequest r) { held = std::move(r); });
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":5,"method":"slow"})"), IsEmpty());
  ASSERT_TRUE(held.has_value());
  EXPECT_THAT(
      Exchange(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}})"),
      IsEmpty());
  held->RespondSerialized(R"({"late":true})");
  executor_.RunAll();
  EXPECT_THAT(peer_->Take(), IsEmpty());
}

TEST_F(SessionTest, PeerClosingFailsPendingRequestsAndCallsClosedCallback) {
  absl::Status closed_reason;
  session_->SetClosedCallback([&](absl::Status s) { closed_reason = s; });
  Start();
  Outcome& o = NewOutcome();
  session_->SendRequest("tools/call", Json(), o.Callback());
  peer_->Close();
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kUnavailable,
                                  HasSubstr("peer closed the connection before answering 'tools/call'")));
  EXPECT_THAT(closed_reason, IsOk());  // an orderly end, with nothing left unanswered
  EXPECT_TRUE(session_->closed());
  Outcome& after = NewOutcome();
  session_->SendRequest("m", Json(), after.Callback());
  EXPECT_THAT(*after.result, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(session_->SendNotification("n"), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(SessionTest, AfterThePeersOutputEndsItsRequestsAreStillAnswered) {
  std::optional<IncomingRequest> held;
  std::optional<absl::Status> closed_reason;
  session_->SetRequestHandler("hold", [&](IncomingRequest r) { held.emplace(std::move(r)); });
  session_->SetClosedCallback([&](absl::Status s) { closed_reason = s; });
  Start();
  Exchange(R"({"jsonrpc":"2.0","id":1,"method":"hold"})");
  ASSERT_TRUE(held.has_value());
  // The peer ends its output (like `printf ... | server`): its pending request is still
  // answered, but a new request to it fails at once rather than waiting for a timeout.
  peer_->Close();
  EXPECT_FALSE(session_->closed());
  Outcome& o = NewOutcome();
  session_->SendRequest("sampling/createMessage", Json::Object(), o.Callback());
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kUnavailable,
                                  HasSubstr("has ended its output")));
  EXPECT_FALSE(closed_reason.has_value());
  held->Respond(Json::Object());
  EXPECT_TRUE(session_->closed());
  ASSERT_TRUE(closed_reason.has_value());
  EXPECT_THAT(*closed_reason, IsOk());
}

TEST_F(SessionTest, CloseIsIdempotentAndDropsAnswersToIncomingRequests) {
  std::optional<IncomingRequest> held;
  session_->SetRequestHandler("hold", [&](IncomingRequest r) { held.emplace(std::move(r)); });
  Start();
  Exchange(R"({"jsonrpc":"2.0","id":1,"method":"hold"})");
  session_->Close();
  session_->Close();
  EXPECT_TRUE(held->cancelled());
  held->Respond(Json::Object());
  held.reset();
  EXPECT_THAT(peer_->frames(), IsEmpty());
  EXPECT_TRUE(peer_->closed());
}

TEST_F(SessionTest, OversizedRequestIsAnsweredWithItsIdAndTheSessionGoesOn) {
  Init(SessionOptions{}, /*max_message_bytes=*/1000);
  Start();
  std::string big(2000, 'x');
  // The TypeScript SDK puts the id last: it is found in the tail.
  EXPECT_THAT(Exchange(absl::StrCat(R"({"method":"tools/call","params":{"name":"t","arguments":{"s":")",
                                    big, R"("}},"jsonrpc":"2.0","id":77})")),
              ElementsAre(AllOf(HasSubstr(R"("id":77,"error":{"code":-32600)"),
                                HasSubstr("exceeds the limit of 1000 bytes"))));
  // id first: found in the head.
  EXPECT_THAT(Exchange(absl::StrCat(R"({"jsonrpc":"2.0","id":"s","method":"m","params":{"s":")",
                                    big, R"("}})")),
              ElementsAre(HasSubstr(R"("id":"s","error":{"code":-32600)")));
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"ping"})"),
              ElementsAre(R"({"jsonrpc":"2.0","id":1,"result":{}})"));
}

TEST_F(SessionTest, OversizedFrameWithoutResultIsTreatedAsTheirRequestNotOurResponse) {
  Init(SessionOptions{}, /*max_message_bytes=*/1000);
  Start();
  Outcome& ours = NewOutcome();
  RequestId id = session_->SendRequest("m", Json(), ours.Callback());  // our request 1
  peer_->Take();
  // The peer's own request 1, params first: neither method nor result in the first bytes.
  EXPECT_THAT(Exchange(absl::StrCat(R"({"params":{"s":")", std::string(5000, 'p'),
                                    R"("},"method":"tools/call","jsonrpc":"2.0","id":)",
                                    id.ToString(), "}")),
              ElementsAre(HasSubstr(absl::StrCat(R"("id":)", id.ToString(),
                                                 R"(,"error":{"code":-32600)"))));
  EXPECT_EQ(ours.calls, 0);  // our pending request is untouched
}

TEST_F(SessionTest, OversizedNotificationIsNotAnswered) {
  Init(SessionOptions{}, /*max_message_bytes=*/1000);
  Start();
  EXPECT_THAT(Exchange(absl::StrCat(R"({"jsonrpc":"2.0","method":"notifications/message",)"
                                    R"("params":{"data":")",
                                    std::string(5000, 'n'), R"("}})")),
              IsEmpty());
}

TEST_F(SessionTest, BatchAnswersTooLargeTogetherGoOutOneByOne) {
  Init(SessionOptions{}, /*max_message_bytes=*/1000);
  session_->SetRequestHandler("big", [](IncomingRequest r) {
    Json result = Json::Object();
    result.Set("blob", std::string(600, 'b'));
    r.Respond(std::move(result));
  });
  Start();
  session_->SetProtocolVersion(ProtocolVersion::k2025_03_26);
  std::vector<std::string> answers = Exchange(
      R"([{"jsonrpc":"2.0","id":1,"method":"big"},{"jsonrpc":"2.0","id":2,"method":"big"}])");
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_THAT(answers, ::testing::UnorderedElementsAre(HasSubstr(R"("id":1,"result")"),
                                                       HasSubstr(R"("id":2,"result")")));
}

TEST_F(SessionTest, OversizedResponseFailsThePendingRequest) {
  Init(SessionOptions{}, /*max_message_bytes=*/1000);
  Start();
  Outcome& o = NewOutcome();
  RequestId id = session_->SendRequest("tools/call", Json(), o.Callback());
  std::string big(5000, 'y');
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"result":{"content":[{"type":"text","text":")", big,
                                       R"("}]},"jsonrpc":"2.0","id":)", id.ToString(), "}")),
              IsOk());
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kResourceExhausted,
                                  HasSubstr("the response from peer was dropped: message of 5")));
  EXPECT_THAT(peer_->Take(), ElementsAre(HasSubstr("tools/call")));  // no error sent back
}

TEST_F(SessionTest, OversizedResponseWithoutAReadableIdClosesTheSession) {
  Init(SessionOptions{}, /*max_message_bytes=*/1000);
  Start();
  Outcome& o = NewOutcome();
  session_->SendRequest("tools/call", Json(), o.Callback());
  // The id is neither among the first members nor last: it cannot be read.
  ASSERT_THAT(peer_->Send(absl::StrCat(R"({"jsonrpc":"2.0","result":{"text":")",
                                       std::string(5000, 'y'), R"("},"id":1,"extra":true})")),
              IsOk());
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kUnavailable,
                                  HasSubstr("sent a response whose id could not be read")));
  EXPECT_TRUE(session_->closed());
}

TEST_F(SessionTest, AnswerTooLargeForTheTransportBecomesAnError) {
  Init(SessionOptions{}, /*max_message_bytes=*/200);
  session_->SetRequestHandler("big", [](IncomingRequest r) {
    Json result = Json::Object();
    result.Set("blob", std::string(500, 'z'));
    r.Respond(std::move(result));
  });
  Start();
  EXPECT_THAT(Exchange(R"({"jsonrpc":"2.0","id":1,"method":"big"})"),
              ElementsAre(AllOf(HasSubstr(R"("id":1,"error":{"code":-32603)"),
                                HasSubstr("exceeds the maximum message size of 200"))));
}

TEST_F(SessionTest, RequestTooLargeToSendFailsLocally) {
  Init(SessionOptions{}, /*max_message_bytes=*/100);
  Start();
  Outcome& o = NewOutcome();
  Json params = Json::Object();
  params.Set("x", std::string(200, 'a'));
  session_->SendRequest("m", params, o.Callback());
  ASSERT_EQ(o.calls, 1);
  EXPECT_THAT(*o.result, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("limit")));
  EXPECT_EQ(session_->outgoing_in_flight(), 0u);
}

// Two real sessions talking to each other, handlers on a thread pool, real time.
TEST(SessionPair, ConcurrentRequestsBothWays) {
  base::ThreadPool pool;
  auto [a, b] = CreateMemoryTransportPair();
  auto server = Session::Create(std::move(a), {.name = "server", .executor = &pool});
  auto client = Session::Create(std::move(b), {.name = "client", .executor = &pool});
  server->SetRequestHandler("add", [](IncomingRequest r) {
    int64_t x = r.params()->FindMember("x")->value.GetInt64();
    Json result = Json::Object();
    result.Set("y", JsonValue(x + 1));
    r.Respond(std::move(result));
  });
  ASSERT_THAT(server->Start(), IsOk());
  ASSERT_THAT(client->Start(), IsOk());
  constexpr int kRequests = 500;
  absl::Mutex mu;
  int done = 0;
  int64_t sum = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests / 4; ++i) {
        Json params = Json::Object();
        params.Set("x", JsonValue(int64_t{t * 1000 + i}));
        client->SendRequest("add", params, [&](absl::StatusOr<Message> r) {
          absl::MutexLock lock(&mu);
          ++done;
          if (r.ok() && r->result() != nullptr) {
            sum += r->result()->FindMember("y")->value.GetInt64();
          }
        });
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  absl::MutexLock lock(&mu);
  ASSERT_TRUE(mu.AwaitWithTimeout(
      absl::Condition(+[](int* d) { return *d == kRequests; }, &done), absl::Seconds(30)));
  int64_t expected = 0;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < kRequests / 4; ++i) {
      expected += t * 1000 + i + 1;
    }
  }
  EXPECT_EQ(sum, expected);
}

// Cancellations racing answers on real threads: every request completes exactly once, with
// its answer or with Cancelled, whichever wins; nothing is left pending on either side.
TEST(SessionPair, CancellationsRacingAnswersCompleteEachRequestExactlyOnce) {
  base::ThreadPool pool({.max_threads = 8});
  auto [a, b] = CreateMemoryTransportPair();
  auto server = Session::Create(std::move(a), {.name = "server", .executor = &pool});
  auto client = Session::Create(std::move(b), {.name = "client", .executor = &pool});
  server->SetRequestHandler("work", [](IncomingRequest r) {
    if (r.params()->FindMember("n")->value.GetInt64() % 3 == 0) {
      std::this_thread::yield();
    }
    r.Respond(Json::Object());
  });
  ASSERT_THAT(server->Start(), IsOk());
  ASSERT_THAT(client->Start(), IsOk());
  constexpr int kRequests = 2000;
  std::vector<std::atomic<int>> calls(kRequests);
  std::atomic<int> answered{0}, cancelled{0};
  std::vector<RequestId> ids(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    Json params = Json::Object();
    params.Set("n", JsonValue(int64_t{i}));
    ids[i] = client->SendRequest("work", params, [&, i](absl::StatusOr<Message> r) {
      ++calls[i];
      if (r.ok()) {
        ++answered;
      } else if (r.status().code() == absl::StatusCode::kCancelled) {
        ++cancelled;
      }
    });
    if (i % 2 == 1) {
      client->Cancel(ids[i - 1], "race");  // may win or lose against the answer
    }
  }
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((client->outgoing_in_flight() > 0 || server->incoming_in_flight() > 0) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(client->outgoing_in_flight(), 0u);
  EXPECT_EQ(server->incoming_in_flight(), 0u);
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(calls[i].load(), 1) << "request " << i;
  }
  EXPECT_EQ(answered + cancelled, kRequests);
  EXPECT_GE(answered.load(), kRequests / 2);
}

TEST(SessionPair, DestroyingTheSessionFromItsOwnCallbackIsSafe) {
  base::InlineExecutor inline_executor;
  auto [a, b] = CreateMemoryTransportPair();
  auto server = Session::Create(std::move(a), {.executor = &inline_executor});
  std::shared_ptr<Session> client = Session::Create(std::move(b), {.executor = &inline_executor});
  ASSERT_THAT(server->Start(), IsOk());
  ASSERT_THAT(client->Start(), IsOk());
  bool called = false;
  std::shared_ptr<Session>* holder = &client;
  client->Ping([&, holder](absl::StatusOr<Message> r) {
    called = r.ok();
    holder->reset();  // the last reference goes away inside the session's own callback
  });
  EXPECT_TRUE(called);
  EXPECT_EQ(client, nullptr);
}

}  // namespace
}  // namespace mcpgw::mcp
