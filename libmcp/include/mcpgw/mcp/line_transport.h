// File: line_transport.h
//
// Newline-delimited JSON over any byte channel: the MCP stdio transport. Used for the
// process's own stdin/stdout, for the pipes of a child process, and for a container's attach
// stream.
//
//   MCPGW_ASSIGN_OR_RETURN(TransportPtr t, CreateStdioTransport({}));       // fds 0 and 1
//   MCPGW_ASSIGN_OR_RETURN(TransportPtr c, CreateStdioTransport({.read_fd = from_child,
//                                                               .write_fd = to_child,
//                                                               .owns_fds = true}));
#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "mcpgw/base/byte_channel.h"
#include "mcpgw/mcp/transport.h"

namespace mcpgw::mcp {

// The default bound on queued outgoing bytes beyond which droppable frames are dropped.
inline constexpr size_t kDefaultMaxQueuedBytes = size_t{4} << 20;

struct LineTransportOptions {
  // Limit on one message, without its newline. A longer line is discarded (and reported to
  // the sink as an OversizedFrame); the next line is read normally.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
  // The outgoing queue's bound for droppable frames (SendOptions::droppable: progress and log
  // notifications). While the channel holds more than this many bytes the peer has not read,
  // a droppable frame is dropped and counted (TransportStats::dropped_messages) instead of
  // queued. Other frames are always queued, even past this bound (a response is never
  // dropped); only the channel's own hard limit (FdChannel: 256 MiB) stops them, by breaking
  // the connection. The bound is in bytes, not messages: bytes are what a slow peer costs.
  size_t max_queued_bytes = kDefaultMaxQueuedBytes;
};

// CreateLineTransport frames messages as lines on `channel`. Empty lines and a trailing "\r"
// are ignored. Outgoing frames get a "\n" appended.
TransportPtr CreateLineTransport(base::ByteChannelPtr channel, LineTransportOptions options = {});

struct StdioTransportOptions {
  int read_fd = 0;
  int write_fd = 1;
  bool owns_fds = false;  // close the descriptors when the transport closes
  size_t max_message_bytes = kDefaultMaxMessageBytes;
  // See LineTransportOptions::max_queued_bytes.
  size_t max_queued_bytes = kDefaultMaxQueuedBytes;
};

// CreateStdioTransport frames messages as lines on a pair of file descriptors (by default the
// process's own stdin and stdout). Returns InvalidArgument for a descriptor that is not open.
absl::StatusOr<TransportPtr> CreateStdioTransport(const StdioTransportOptions& options);

}  // namespace mcpgw::mcp
