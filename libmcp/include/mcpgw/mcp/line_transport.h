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

struct LineTransportOptions {
  // Limit on one message, without its newline. A longer line is discarded (and reported to
  // the sink as an OversizedFrame); the next line is read normally.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
};

// CreateLineTransport frames messages as lines on `channel`. Empty lines and a trailing "\r"
// are ignored. Outgoing frames get a "\n" appended.
TransportPtr CreateLineTransport(base::ByteChannelPtr channel, LineTransportOptions options = {});

struct StdioTransportOptions {
  int read_fd = 0;
  int write_fd = 1;
  bool owns_fds = false;  // close the descriptors when the transport closes
  size_t max_message_bytes = kDefaultMaxMessageBytes;
};

// CreateStdioTransport frames messages as lines on a pair of file descriptors (by default the
// process's own stdin and stdout). Returns InvalidArgument for a descriptor that is not open.
absl::StatusOr<TransportPtr> CreateStdioTransport(const StdioTransportOptions& options);

}  // namespace mcpgw::mcp
