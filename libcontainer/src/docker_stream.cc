#include "docker_stream.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "mcpgw/base/fd_channel.h"

namespace mcpgw::container::internal {

absl::Status FrameDemuxer::Feed(absl::string_view bytes, Sink sink) {
  while (!bytes.empty()) {
    if (broken_) {
      return absl::DataLossError("the container's attach stream is corrupt");
    }
    if (remaining_ == 0) {
      size_t take = std::min(bytes.size(), header_.size() - header_len_);
      std::copy_n(bytes.data(), take, header_.data() + header_len_);
      header_len_ += take;
      bytes.remove_prefix(take);
      if (header_len_ < header_.size()) {
        return absl::OkStatus();
      }
      header_len_ = 0;
      stream_ = header_[0];
      if (stream_ > 2) {
        broken_ = true;
        return absl::DataLossError(
            absl::StrCat("the container's attach stream is corrupt: a frame for stream ", stream_));
      }
      remaining_ = (uint32_t{header_[4]} << 24) | (uint32_t{header_[5]} << 16) |
                   (uint32_t{header_[6]} << 8) | uint32_t{header_[7]};
      continue;
    }
    size_t take = std::min<size_t>(bytes.size(), remaining_);
    sink(stream_, bytes.substr(0, take));
    remaining_ -= static_cast<uint32_t>(take);
    bytes.remove_prefix(take);
  }
  return absl::OkStatus();
}

namespace {
// How long a cleanly ended stream waits to learn whether the engine was lost.
constexpr absl::Duration kVerdictWait = absl::Seconds(2);
}  // namespace

// Shared by the channel and the callbacks running on the inner channel's I/O thread.
struct DockerStdioChannel::State {
  std::string buffered;  // I/O thread only (after Start)
  FrameDemuxer demuxer;  // I/O thread only
  absl::Status error;    // I/O thread only
  std::shared_ptr<RingBuffer> stderr_tail;
  std::shared_ptr<StreamEnd> stream_ended;
  Callbacks user;

  void Deliver(absl::string_view bytes) {
    if (!error.ok()) {
      return;
    }
    error = demuxer.Feed(bytes, [&](int stream, absl::string_view payload) {
      if (stream == 2) {
        stderr_tail->Append(payload);
      } else if (stream == 1 && user.on_data) {
        user.on_data(payload);
      }
    });
  }

  void FlushBuffered() {
    if (!buffered.empty()) {
      std::string first = std::move(buffered);
      buffered.clear();
      Deliver(first);
    }
  }
};

absl::StatusOr<std::unique_ptr<DockerStdioChannel>> DockerStdioChannel::Create(
    int fd, std::string buffered, std::shared_ptr<RingBuffer> stderr_tail,
    std::shared_ptr<StreamEnd> stream_ended) {
  absl::StatusOr<std::unique_ptr<base::FdChannel>> inner =
      base::FdChannel::Create(fd, fd, {.owns_fds = true});
  if (!inner.ok()) {
    close(fd);
    return inner.status();
  }
  auto state = std::make_shared<State>();
  state->buffered = std::move(buffered);
  state->stderr_tail = std::move(stderr_tail);
  state->stream_ended = std::move(stream_ended);
  return std::unique_ptr<DockerStdioChannel>(
      new DockerStdioChannel(*std::move(inner), std::move(state)));
}

DockerStdioChannel::DockerStdioChannel(base::ByteChannelPtr inner, std::shared_ptr<State> state)
    : inner_(std::move(inner)), state_(std::move(state)) {}

DockerStdioChannel::~DockerStdioChannel() { Close(); }

absl::Status DockerStdioChannel::Start(Callbacks callbacks) {
  state_->user = std::move(callbacks);
  state_->stream_ended->started = true;
  std::shared_ptr<State> state = state_;
  absl::Status started = inner_->Start({
      .on_data =
          [state](absl::string_view bytes) {
            state->FlushBuffered();
            state->Deliver(bytes);
          },
      .on_closed =
          [state](absl::Status reason) {
            state->FlushBuffered();
            if (reason.ok() && !state->error.ok()) {
              reason = state->error;
            }
            if (reason.ok() && state->demuxer.mid_frame()) {
              reason = absl::DataLossError("the container's attach stream ended mid-frame");
            }
            if (reason.ok()) {
              // The stream ends at the exit, just before the wait answers; a lost engine ends
              // both without an exit code.
              StreamEnd& end = *state->stream_ended;
              end.verdict.WaitForNotificationWithTimeout(kVerdictWait);
              if (end.engine_lost) {
                reason = absl::UnavailableError(absl::StrCat(
                    "lost the Docker engine at ", end.engine,
                    " while the container ran (dockerd stopped or crashed): its output may be "
                    "incomplete"));
              }
            }
            state->stream_ended->Mark();
            if (state->user.on_closed) {
              state->user.on_closed(std::move(reason));
            }
          },
  });
  return started;
}

absl::Status DockerStdioChannel::Write(absl::Span<const absl::string_view> parts) {
  return inner_->Write(parts);
}

void DockerStdioChannel::CloseWrite() { inner_->CloseWrite(); }

void DockerStdioChannel::Close() {
  inner_->Close();
  // No callback runs after Close: the stream is over for the exit report too.
  state_->stream_ended->Mark();
}

}  // namespace mcpgw::container::internal
