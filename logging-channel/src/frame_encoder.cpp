#include "frame_tag.h"
#include "logging_channel/frame.h"
#include "wire.h"

namespace ftvm::channel {

FrameEncoder::FrameEncoder(FrameKey key) : key_(std::move(key)) {}

void FrameEncoder::rekey(FrameKey key) {
  key_ = std::move(key);
}

std::vector<uint8_t> FrameEncoder::encode(const Message& m) {
  const std::vector<uint8_t> payload = encode_payload(m);
  std::vector<uint8_t> frame = {'F', 'T',           'L',
                                'C', kFrameVersion, static_cast<uint8_t>(message_type(m))};
  frame.reserve(kFrameHeaderBytes + payload.size() + kFrameTagBytes);
  put_le(frame, static_cast<uint16_t>(key_.authenticated() ? kFrameFlagAuthenticated : 0));
  put_le(frame, static_cast<uint32_t>(payload.size()));
  put_le(frame, frames_);
  frame.insert(frame.end(), payload.begin(), payload.end());
  const FrameTag tag = compute_tag(key_, frame);
  frame.insert(frame.end(), tag.begin(), tag.end());
  ++frames_;
  return frame;
}

}  // namespace ftvm::channel
