// File: byte_channel.h
//
// A duplex stream of bytes: a process's stdin/stdout, the pipes of a child process, a
// container's attach stream. Message framing (newline-delimited JSON, see
// mcpgw/mcp/line_transport.h) sits on top of it, so every such stream reuses one framing.
//
//   auto channel = mcpgw::base::FdChannel::Create(/*read_fd=*/0, /*write_fd=*/1, {});
//   channel->Start({.on_data = [](absl::string_view bytes) { ... },
//                   .on_closed = [](absl::Status why) { ... }});
//   channel->Write({"hello", "\n"});
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace mcpgw::base {

// ByteChannel is a duplex byte stream that owns its reading: once started it delivers what it
// reads to `on_data`, in order, from one thread of its own (the channel's I/O thread).
//
// Thread safety: Write, CloseWrite and Close may be called from any thread, concurrently.
class ByteChannel {
 public:
  struct Callbacks {
    // Bytes read, in order. Runs on the I/O thread; the view is valid during the call only.
    absl::AnyInvocable<void(absl::string_view bytes)> on_data;
    // Runs once, on the I/O thread, when nothing more will be read: OK on an orderly end of
    // stream, an error when reading or a deferred write failed. Writes may still be possible
    // after an orderly end of the read side (a peer that closed only its output).
    absl::AnyInvocable<void(absl::Status reason)> on_closed;
  };

  virtual ~ByteChannel() = default;

  // Start begins reading. Call once. Returns FailedPrecondition if already started.
  virtual absl::Status Start(Callbacks callbacks) = 0;

  // Write sends the concatenation of `parts` as one unit: parts of concurrent writes never
  // interleave. Never blocks indefinitely: what the peer cannot take now is queued and written
  // by the I/O thread. Returns Unavailable once the channel is closed or broken, and
  // ResourceExhausted when more than the channel's limit is queued (a peer that stopped
  // reading); the channel is then broken.
  virtual absl::Status Write(absl::Span<const absl::string_view> parts) = 0;
  absl::Status Write(std::initializer_list<absl::string_view> parts) {
    return Write(absl::MakeConstSpan(parts.begin(), parts.size()));
  }

  // CloseWrite flushes queued bytes, then ends the write side so the peer reads end of stream.
  // Idempotent.
  virtual void CloseWrite() = 0;

  // queued_write_bytes returns how many bytes wait for the peer to read them (written by
  // Write but not yet taken by the peer). A transport uses it to shed droppable messages
  // while the peer is slow. Channels that never queue return 0.
  virtual size_t queued_write_bytes() const { return 0; }

  // Close stops reading and writing and joins the I/O thread (unless called on it); bytes still
  // queued get a bounded chance to reach the peer first. After Close returns, no callback runs.
  // Idempotent.
  virtual void Close() = 0;
};

using ByteChannelPtr = std::unique_ptr<ByteChannel>;

}  // namespace mcpgw::base
