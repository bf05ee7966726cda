#include "mcpgw/container/ring_buffer.h"

#include <algorithm>

namespace mcpgw::container {

RingBuffer::RingBuffer(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

void RingBuffer::Append(absl::string_view bytes) {
  absl::MutexLock lock(&mu_);
  total_ += bytes.size();
  if (bytes.size() >= capacity_) {
    data_.assign(bytes.data() + bytes.size() - capacity_, capacity_);
    start_ = 0;
    return;
  }
  if (data_.size() < capacity_) {
    size_t room = capacity_ - data_.size();
    size_t take = std::min(room, bytes.size());
    data_.append(bytes.data(), take);
    bytes.remove_prefix(take);
    if (bytes.empty()) {
      return;
    }
  }
  // Full: overwrite the oldest bytes in place.
  while (!bytes.empty()) {
    size_t take = std::min(bytes.size(), capacity_ - start_);
    data_.replace(start_, take, bytes.data(), take);
    start_ = (start_ + take) % capacity_;
    bytes.remove_prefix(take);
  }
}

std::string RingBuffer::Contents() const {
  absl::MutexLock lock(&mu_);
  if (data_.size() < capacity_ || start_ == 0) {
    return data_;
  }
  std::string out = data_.substr(start_);
  out.append(data_, 0, start_);
  return out;
}

std::string RingBuffer::LastLines(size_t n) const {
  std::string all = Contents();
  bool truncated = total_bytes() > all.size();
  while (!all.empty() && all.back() == '\n') {
    all.pop_back();
  }
  if (n == 0) {
    return "";
  }
  size_t pos = all.size();
  size_t lines = 0;
  while (lines < n) {
    size_t nl = pos == 0 ? std::string::npos : all.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      // Reached the oldest byte held: a line cut by the capacity is not shown if we have others.
      if (truncated && lines > 0) {
        return all.substr(pos + 1);
      }
      return all;
    }
    pos = nl;
    ++lines;
  }
  return all.substr(pos + 1);
}

size_t RingBuffer::total_bytes() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

}  // namespace mcpgw::container
