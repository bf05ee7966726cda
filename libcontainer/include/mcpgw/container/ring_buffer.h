// File: ring_buffer.h
//
// RingBuffer keeps the last bytes written to it, e.g. a server's stderr, so that an error
// message can quote the tail of what a dead process said without the gateway ever holding more
// than a fixed amount per server.
//
//   RingBuffer tail(64 * 1024);
//   tail.Append(chunk);                  // from the thread that drains stderr
//   std::string last = tail.LastLines(20);
#pragma once

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace mcpgw::container {

// Thread-safe.
class RingBuffer {
 public:
  explicit RingBuffer(size_t capacity);

  // Append adds bytes, dropping the oldest once more than capacity() are held.
  void Append(absl::string_view bytes);

  // Contents returns what is held, oldest first.
  std::string Contents() const;

  // LastLines returns at most the last `n` lines held (a partial first line, cut by the
  // capacity, is dropped when older complete lines exist). No trailing newline.
  std::string LastLines(size_t n) const;

  // Total bytes ever appended (including the ones dropped).
  size_t total_bytes() const;
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::string data_ ABSL_GUARDED_BY(mu_);  // capacity_ bytes once full
  size_t start_ ABSL_GUARDED_BY(mu_) = 0;  // index of the oldest byte when full
  size_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace mcpgw::container
