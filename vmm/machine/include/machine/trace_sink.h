// Adapts a TraceWriter to the recorder's EntrySink, buffering what is logged before the writer
// exists (clock reads while the VM is being built).
#pragma once

#include <vector>

#include "replay/entry_sink.h"
#include "replay/trace_files.h"

namespace ftvm {

class BufferedTraceSink final : public replay::EntrySink {
 public:
  Result<void> append(const replay::TraceEntry& entry) override {
    if (writer_ == nullptr) {
      pending_.push_back(entry);
      return {};
    }
    return writer_->append(entry);
  }
  Result<void> attach(replay::TraceWriter& writer) {
    writer_ = &writer;
    for (const auto& entry : pending_) {
      if (auto r = writer_->append(entry); !r) return r;
    }
    pending_.clear();
    return {};
  }

 private:
  replay::TraceWriter* writer_ = nullptr;
  std::vector<replay::TraceEntry> pending_;
};

}  // namespace ftvm
