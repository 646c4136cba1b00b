// The bookkeeping every HeldOutput shares: what the current exit produced (untagged), what
// waits for the backup's acknowledgement of a log position (held, in production order), and how
// far the backup has acknowledged. Not thread-safe: the gate that owns it holds its own mutex
// around every call. The gate decides when items may leave (its mode, the lease); this only
// says which ones.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

namespace ftvm::channel {

template <typename T>
class HeldQueue {
 public:
  // During an exit.
  void add(T item) { untagged_.push_back(std::move(item)); }
  // After it: its items wait for `required_lsn` entries to be acknowledged. Whether it had any.
  bool tag(uint64_t required_lsn) {
    if (untagged_.empty()) return false;
    for (auto& item : untagged_) held_.push_back({std::move(item), required_lsn});
    untagged_.clear();
    return true;
  }
  void acknowledged(uint64_t acked_lsn) { acked_lsn_ = std::max(acked_lsn_, acked_lsn); }
  // Hands `leave` every held item the acknowledgements cover, oldest first.
  template <typename Leave>
  void release_acknowledged(Leave&& leave) {
    while (!held_.empty() && held_.front().required_lsn <= acked_lsn_) {
      leave(std::move(held_.front().item));
      held_.pop_front();
    }
  }
  // Hands `leave` everything, held and untagged, in production order.
  template <typename Leave>
  void release_all(Leave&& leave) {
    for (auto& held : held_) leave(std::move(held.item));
    held_.clear();
    for (auto& item : untagged_) leave(std::move(item));
    untagged_.clear();
  }
  // Drops everything; how many items that was.
  size_t clear() {
    const size_t count = size();
    held_.clear();
    untagged_.clear();
    return count;
  }
  template <typename Predicate>
  bool any_of(Predicate&& predicate) const {
    return std::any_of(untagged_.begin(), untagged_.end(), predicate) ||
           std::any_of(held_.begin(), held_.end(),
                       [&predicate](const Held& held) { return predicate(held.item); });
  }
  // Every item, held then untagged (production order), without taking it.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const auto& held : held_) visit(held.item);
    for (const auto& item : untagged_) visit(item);
  }
  size_t size() const { return held_.size() + untagged_.size(); }
  bool nothing_held() const { return held_.empty(); }

 private:
  struct Held {
    T item;
    uint64_t required_lsn = 0;
  };
  uint64_t acked_lsn_ = 0;
  std::vector<T> untagged_;
  std::deque<Held> held_;
};

}  // namespace ftvm::channel
