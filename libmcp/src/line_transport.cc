#include "mcpgw/mcp/line_transport.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "mcpgw/base/fd_channel.h"

namespace mcpgw::mcp {
namespace {

// Bytes of an oversized line kept from its start and its end.
constexpr size_t kKeptBytes = 512;

absl::string_view TrimLine(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

bool IsBlank(absl::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') {
      return false;
    }
  }
  return true;
}

// Splits incoming bytes into lines. Confined to the channel's I/O thread.
class LineTransport final : public Transport {
 public:
  LineTransport(base::ByteChannelPtr channel, LineTransportOptions options)
      : channel_(std::move(channel)), options_(options) {}

  ~LineTransport() override {
    *alive_ = false;
    Close();
  }

  absl::Status Start(TransportSink* sink) override {
    sink_ = sink;
    return channel_->Start(base::ByteChannel::Callbacks{
        .on_data = [this](absl::string_view bytes) { OnData(bytes); },
        .on_closed = [this](absl::Status status) { OnClosed(std::move(status)); },
    });
  }

  absl::Status Send(absl::string_view frame, const SendOptions& options) override {
    if (frame.size() > options_.max_message_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("message of ", frame.size(), " bytes exceeds the limit of ",
                       options_.max_message_bytes, " bytes"));
    }
    if (std::memchr(frame.data(), '\n', frame.size()) != nullptr) {
      return absl::InvalidArgumentError(
          "a message on a line transport must not contain a raw newline");
    }
    if (options.droppable && channel_->queued_write_bytes() > options_.max_queued_bytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return absl::OkStatus();  // the peer is slow: shed progress and log messages
    }
    return channel_->Write({frame, "\n"});
  }

  TransportStats stats() const override {
    return TransportStats{.queued_bytes = channel_->queued_write_bytes(),
                          .dropped_messages = dropped_.load(std::memory_order_relaxed)};
  }

  void Close() override { channel_->Close(); }

  size_t max_message_bytes() const override { return options_.max_message_bytes; }

 private:
  void OnData(absl::string_view bytes) {
    std::shared_ptr<std::atomic<bool>> alive = alive_;
    while (!bytes.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(bytes.data(), '\n', bytes.size()));
      if (nl == nullptr) {
        Accumulate(bytes);
        return;
      }
      absl::string_view piece = bytes.substr(0, static_cast<size_t>(nl - bytes.data()));
      bytes.remove_prefix(piece.size() + 1);
      if (!discarding_ && buffer_.empty()) {
        Deliver(piece);  // the whole line came in one read: no copy
      } else {
        Accumulate(piece);
        EndLine();
      }
      if (!*alive) {
        return;  // the sink destroyed us; nothing here may be touched
      }
    }
  }

  // Adds a piece of the current line, switching to discarding once it is too long.
  void Accumulate(absl::string_view piece) {
    if (discarding_) {
      seen_ += piece.size();
      KeepTail(piece);
      return;
    }
    // One more byte than the limit is allowed for a "\r" before the newline.
    if (buffer_.size() + piece.size() > options_.max_message_bytes + 1) {
      discarding_ = true;
      seen_ = buffer_.size() + piece.size();
      head_ = buffer_.substr(0, kKeptBytes);
      if (head_.size() < kKeptBytes) {
        absl::string_view more = piece.substr(0, kKeptBytes - head_.size());
        head_.append(more.data(), more.size());
      }
      tail_ = buffer_.size() > kKeptBytes ? buffer_.substr(buffer_.size() - kKeptBytes) : buffer_;
      KeepTail(piece);
      buffer_ = std::string();
      return;
    }
    buffer_.append(piece.data(), piece.size());
  }

  void KeepTail(absl::string_view piece) {
    if (piece.size() >= kKeptBytes) {
      tail_.assign(piece.data() + piece.size() - kKeptBytes, kKeptBytes);
      return;
    }
    tail_.append(piece.data(), piece.size());
    if (tail_.size() > kKeptBytes) {
      tail_.erase(0, tail_.size() - kKeptBytes);
    }
  }

  // The current line (in buffer_, or being discarded) ended.
  void EndLine() {
    if (discarding_) {
      discarding_ = false;
      if (!tail_.empty() && tail_.back() == '\r') {
        tail_.pop_back();
        --seen_;
      }
      OversizedFrame frame{seen_, options_.max_message_bytes, std::move(head_), std::move(tail_)};
      head_.clear();
      tail_.clear();
      seen_ = 0;
      sink_->OnOversizedFrame(frame);
      return;
    }
    std::string line;
    line.swap(buffer_);  // the sink may destroy us: the text must not live in a member
    Deliver(line);
  }

  void Deliver(absl::string_view line) {
    line = TrimLine(line);
    if (line.size() > options_.max_message_bytes) {
      OversizedFrame frame{line.size(), options_.max_message_bytes,
                           std::string(line.substr(0, kKeptBytes)),
                           std::string(line.substr(line.size() - std::min(line.size(), kKeptBytes)))};
      sink_->OnOversizedFrame(frame);
      return;
    }
    if (!IsBlank(line)) {
      sink_->OnFrame(line);
    }
  }

  void OnClosed(absl::Status status) {
    // A last line without its newline is still a frame: deliver it (a truncated one then
    // gets a parse error like any other malformed frame).
    std::shared_ptr<std::atomic<bool>> alive = alive_;
    if (discarding_ || !buffer_.empty()) {
      EndLine();
      if (!*alive) {
        return;
      }
    }
    sink_->OnTransportClosed(std::move(status));
  }

  base::ByteChannelPtr channel_;
  const LineTransportOptions options_;
  TransportSink* sink_ = nullptr;
  std::atomic<uint64_t> dropped_{0};
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);

  // Line assembly, confined to the I/O thread.
  std::string buffer_;  // the current line so far, when it spans reads
  bool discarding_ = false;
  size_t seen_ = 0;
  std::string head_;
  std::string tail_;
};

}  // namespace

TransportPtr CreateLineTransport(base::ByteChannelPtr channel, LineTransportOptions options) {
  return std::make_unique<LineTransport>(std::move(channel), options);
}

absl::StatusOr<TransportPtr> CreateStdioTransport(const StdioTransportOptions& options) {
  absl::StatusOr<std::unique_ptr<base::FdChannel>> channel = base::FdChannel::Create(
      options.read_fd, options.write_fd, base::FdChannel::Options{.owns_fds = options.owns_fds});
  if (!channel.ok()) {
    return channel.status();
  }
  return CreateLineTransport(*std::move(channel),
                             LineTransportOptions{.max_message_bytes = options.max_message_bytes,
                                                  .max_queued_bytes = options.max_queued_bytes});
}

}  // namespace mcpgw::mcp
