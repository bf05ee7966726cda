// File: transport.h
//
// A Transport moves complete JSON-RPC texts (frames) between two peers: one line on stdio, one
// body on HTTP, one string in memory. It knows nothing of what the frames mean; a Session
// (session.h) decodes them. Every transport enforces a maximum frame size in both directions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "mcpgw/mcp/json_rpc.h"

namespace mcpgw::mcp {

// The default limit on one message: generous for large tool results, bounded against abuse.
inline constexpr size_t kDefaultMaxMessageBytes = size_t{16} << 20;

// OversizedFrame describes an incoming frame that exceeded the limit and was discarded
// without being parsed. `head` and `tail` keep its first and last bytes so the session can
// still tell whose request it was and answer it.
struct OversizedFrame {
  size_t size = 0;   // bytes seen (at least limit + 1)
  size_t limit = 0;
  std::string head;
  std::string tail;
};

// TransportSink receives what a transport reads, on the transport's reader thread, one call
// at a time, in order.
class TransportSink {
 public:
  virtual ~TransportSink() = default;
  // One complete frame of text (not yet parsed). The view is valid during the call only.
  virtual void OnFrame(absl::string_view text) = 0;
  // A frame larger than the limit was dropped.
  virtual void OnOversizedFrame(const OversizedFrame& frame) = 0;
  // Nothing more will arrive: OK for an orderly end of stream, an error otherwise. Once.
  virtual void OnTransportClosed(absl::Status status) = 0;
};

// Hints for routing an outgoing frame (used by transports with several streams, e.g. HTTP,
// where a message related to a request travels on that request's stream).
struct SendOptions {
  std::optional<RequestId> related_request;
  // The frame may be dropped when the peer is slow: a transport that queues outgoing bytes
  // drops it (Send still returns OK, and TransportStats::dropped_messages counts it) while
  // more than its bound is queued. Session sets it for notifications/progress and
  // notifications/message, and for error answers to unparsable input (id null); never for
  // requests, responses or other notifications, which always wait in the queue.
  bool droppable = false;
  // The frame is one response (not a batch) to `related_request`, as Session marks its
  // answers: a transport that routes answers by their id may do so without parsing the frame.
  bool is_answer = false;
};

// What a transport reports about its outgoing side.
struct TransportStats {
  // Bytes written but not yet taken by the peer.
  size_t queued_bytes = 0;
  // Droppable frames dropped because the peer was slow (see SendOptions::droppable).
  uint64_t dropped_messages = 0;
};

// Thread safety: Send and Close may be called from any thread, concurrently.
class Transport {
 public:
  virtual ~Transport() = default;

  // Start begins delivering to `sink`, which must outlive the transport's use of it (until
  // Close returns). Call once.
  virtual absl::Status Start(TransportSink* sink) = 0;

  // Send transmits one frame (one JSON text without a trailing newline). Returns
  // ResourceExhausted when the frame exceeds max_message_bytes() (nothing is sent),
  // InvalidArgument for a frame containing a raw newline, Unavailable once closed.
  virtual absl::Status Send(absl::string_view frame, const SendOptions& options = {}) = 0;

  // Close ends the transport. Idempotent. After it returns no sink method is called (except
  // that a Close made from within a sink call lets that call finish).
  virtual void Close() = 0;

  virtual size_t max_message_bytes() const = 0;

  // stats reports the outgoing queue and what was dropped from it. Thread-safe. Transports
  // that never queue report zeros.
  virtual TransportStats stats() const { return {}; }
};

using TransportPtr = std::unique_ptr<Transport>;

}  // namespace mcpgw::mcp
