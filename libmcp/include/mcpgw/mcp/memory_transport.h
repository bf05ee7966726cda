// File: memory_transport.h
//
// Two transports connected to each other in memory, for testing tools and clients in-process
// with no pipes and no threads. Frames still go through the same codec and size limit as on a
// real transport.
//
//   auto [client_end, server_end] = CreateMemoryTransportPair();
//   auto server = Session::Create(std::move(server_end), {.executor = &inline_executor});
//   auto client = Session::Create(std::move(client_end), {.executor = &inline_executor});
//
// Delivery happens on the thread that sends, after the sender's own Send returns if that
// thread is already delivering (messages are queued, never delivered recursively), so a
// request/response exchange completes within the outermost Send call when both sessions run
// handlers inline.
#pragma once

#include <utility>

#include "mcpgw/mcp/transport.h"

namespace mcpgw::mcp {

struct MemoryTransportOptions {
  // Limit on each message this end sends or receives. A larger incoming frame is reported to
  // the sink as an OversizedFrame, as a line transport does.
  size_t max_message_bytes = kDefaultMaxMessageBytes;
};

// CreateMemoryTransportPair returns two connected ends. Frames sent on one are delivered to
// the other's sink in order; frames sent before the other end starts wait for it. Closing one
// end makes the other report OnTransportClosed (OK) after the frames already sent.
std::pair<TransportPtr, TransportPtr> CreateMemoryTransportPair(
    MemoryTransportOptions options = {});
// The same, with limits of their own for the first and the second end.
std::pair<TransportPtr, TransportPtr> CreateMemoryTransportPair(MemoryTransportOptions first,
                                                                MemoryTransportOptions second);

}  // namespace mcpgw::mcp
