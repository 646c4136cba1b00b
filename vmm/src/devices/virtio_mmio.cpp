#include "vmm/devices/virtio_mmio.h"

#include <fmt/format.h>

#include <cstring>

namespace ftvm {
namespace {

uint32_t load_u32(std::span<const uint8_t> data) {
  uint32_t value = 0;
  std::memcpy(&value, data.data(), 4);
  return value;
}

}  // namespace

VirtioMmio::VirtioMmio(VirtioDevice& device, const GuestMemory& memory, IrqLine irq)
    : device_(device), memory_(memory), irq_(irq), queues_(device.queue_count()) {}

void VirtioMmio::read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  if (offset >= kConfig) {
    device_.read_config(offset - kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    fail(
        fmt::format("the driver read register {:#x} with a {}-byte access; registers take "
                    "aligned 32-bit accesses",
                    offset, data.size()));
    return;
  }
  const uint32_t value = read_register(offset);
  std::memcpy(data.data(), &value, 4);
}

void VirtioMmio::write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset >= kConfig) {
    device_.write_config(offset - kConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    fail(
        fmt::format("the driver wrote register {:#x} with a {}-byte access; registers take "
                    "aligned 32-bit accesses",
                    offset, data.size()));
    return;
  }
  write_register(offset, load_u32(data));
}

uint64_t VirtioMmio::offered_features() const {
  return device_.features() | kFeatureVersion1;
}

uint32_t VirtioMmio::read_register(uint64_t offset) const {
  switch (offset) {
    case kMagicValue:
      return kMagic;
    case kVersion:
      return 2;
    case kDeviceId:
      return device_.device_id();
    case kVendorId:
      return kVendor;
    case kDeviceFeatures:
      return device_features_sel_ < 2
                 ? static_cast<uint32_t>(offered_features() >> (32 * device_features_sel_))
                 : 0;
    case kQueueNumMax:
      return selected() ? device_.queue_max_size() : 0;
    case kQueueReady:
      return selected() && selected()->ready ? 1 : 0;
    case kInterruptStatus:
      return interrupt_status_;
    case kStatus:
      return status_;
    case kConfigGeneration:
      return config_generation_;
    default:
      return 0;  // write-only or reserved
  }
}

void VirtioMmio::write_register(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kDeviceFeaturesSel:
      device_features_sel_ = value;
      return;
    case kDriverFeaturesSel:
      driver_features_sel_ = value;
      return;
    case kDriverFeatures:
      if (driver_features_sel_ < 2 && !(status_ & kStatusFeaturesOk)) {
        const unsigned shift = 32 * driver_features_sel_;
        driver_features_ =
            (driver_features_ & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{value} << shift);
      }
      return;
    case kQueueSel:
      queue_sel_ = value;
      return;
    case kQueueNum:
      if (auto* q = selected(); q && !q->ready) {
        if (value == 0 || value > device_.queue_max_size() || (value & (value - 1)) != 0) {
          fail(fmt::format("queue {} size {} is not a power of two up to {}", queue_sel_, value,
                           device_.queue_max_size()));
          return;
        }
        q->size = static_cast<uint16_t>(value);
      }
      return;
    case kQueueReady:
      set_queue_ready(value);
      return;
    case kQueueNotify:
      if (!active()) return;  // before DRIVER_OK, or broken: nothing to do
      if (value >= queues_.size() || !queues_[value].queue) {
        fail(fmt::format("the driver notified queue {}, which is not set up", value));
        return;
      }
      if (auto r = device_.notify(static_cast<uint16_t>(value)); !r) fail(r.error().message);
      return;
    case kInterruptAck:
      interrupt_status_ &= ~value;
      if (interrupt_status_ == 0) irq_.set_level(false);
      return;
    case kStatus:
      write_status(value);
      return;
    case kQueueDescLow:
    case kQueueDescHigh:
    case kQueueDriverLow:
    case kQueueDriverHigh:
    case kQueueDeviceLow:
    case kQueueDeviceHigh:
      set_queue_address(offset, value);
      return;
    default:
      return;  // read-only or reserved: ignored, as the specification allows
  }
}

void VirtioMmio::write_status(uint32_t value) {
  if (value == 0) {
    reset();
    return;
  }
  if ((value & kStatusFeaturesOk) && !(status_ & kStatusFeaturesOk)) {
    const uint64_t unknown = driver_features_ & ~offered_features();
    // Refused by leaving FEATURES_OK clear: the driver reads it back and gives up.
    if (unknown != 0 || !(driver_features_ & kFeatureVersion1)) value &= ~kStatusFeaturesOk;
  }
  const bool starting = (value & kStatusDriverOk) && !(status_ & kStatusDriverOk);
  status_ = (status_ & kStatusNeedsReset) | value;
  if (starting && !broken()) {
    if (!(status_ & kStatusFeaturesOk)) {
      fail("the driver set DRIVER_OK before the features were accepted (FEATURES_OK)");
      return;
    }
    device_.activate(*this, driver_features_);
    activated_ = true;
  }
}

void VirtioMmio::set_queue_ready(uint32_t value) {
  QueueConfig* q = selected();
  if (q == nullptr) return;
  if (value == 0) {
    q->ready = false;
    q->queue.reset();
    return;
  }
  if (q->ready) return;
  if (q->size == 0) q->size = device_.queue_max_size();
  q->layout.size = q->size;
  auto queue = Virtqueue::create(memory_, q->layout);
  if (!queue) {
    fail(fmt::format("queue {}: {}", queue_sel_, queue.error().message));
    return;
  }
  q->queue = std::move(*queue);
  q->ready = true;
}

void VirtioMmio::set_queue_address(uint64_t offset, uint32_t value) {
  QueueConfig* q = selected();
  if (q == nullptr || q->ready) return;  // addresses are fixed while the queue is ready
  auto set_half = [&](uint64_t& address, bool high) {
    const unsigned shift = high ? 32 : 0;
    address = (address & ~(uint64_t{0xffffffff} << shift)) | (uint64_t{value} << shift);
  };
  switch (offset) {
    case kQueueDescLow:
    case kQueueDescHigh:
      set_half(q->layout.desc, offset == kQueueDescHigh);
      break;
    case kQueueDriverLow:
    case kQueueDriverHigh:
      set_half(q->layout.avail, offset == kQueueDriverHigh);
      break;
    default:
      set_half(q->layout.used, offset == kQueueDeviceHigh);
      break;
  }
}

VirtioMmio::QueueConfig* VirtioMmio::selected() {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

const VirtioMmio::QueueConfig* VirtioMmio::selected() const {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

Virtqueue& VirtioMmio::queue(uint16_t index) {
  return *queues_.at(index).queue;
}

void VirtioMmio::signal_used(uint16_t queue) {
  if (queues_.at(queue).queue->interrupts_suppressed()) return;
  raise(kInterruptUsedBuffer);
}

void VirtioMmio::fail(const std::string& reason) {
  if (!failure_) failure_ = reason;
  if (broken()) return;
  status_ |= kStatusNeedsReset;
  ++config_generation_;
  raise(kInterruptConfigChange);
}

void VirtioMmio::raise(uint32_t bits) {
  interrupt_status_ |= bits;
  irq_.set_level(true);
}

void VirtioMmio::reset() {
  device_.reset();
  status_ = 0;
  device_features_sel_ = 0;
  driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  interrupt_status_ = 0;
  queues_.assign(device_.queue_count(), QueueConfig{});
  failure_.reset();
  activated_ = false;
  irq_.set_level(false);
}

VirtioTransportState VirtioMmio::capture() const {
  VirtioTransportState state{status_,
                             device_features_sel_,
                             driver_features_sel_,
                             driver_features_,
                             queue_sel_,
                             interrupt_status_,
                             config_generation_,
                             {},
                             failure_,
                             activated_};
  for (const QueueConfig& q : queues_) {
    VirtioQueueState queue{q.size, q.ready, q.layout, 0, 0};
    if (q.queue) {
      queue.next_avail = q.queue->next_avail();
      queue.used_index = q.queue->used_index();
    }
    state.queues.push_back(queue);
  }
  return state;
}

Result<void> VirtioMmio::load(const VirtioTransportState& state) {
  constexpr uint32_t kKnownStatus = kStatusAcknowledge | kStatusDriver | kStatusDriverOk |
                                    kStatusFeaturesOk | kStatusNeedsReset | kStatusFailed;
  if (state.queues.size() != queues_.size()) {
    return make_error(fmt::format("virtio state: {} queues for a device with {}",
                                  state.queues.size(), queues_.size()));
  }
  if ((state.status & ~kKnownStatus) != 0 || (state.driver_features & ~offered_features()) != 0) {
    return make_error(fmt::format("virtio state: status {:#x} or features {:#x} this device lacks",
                                  state.status, state.driver_features));
  }
  if (state.activated && !(state.status & kStatusDriverOk)) {
    return make_error("virtio state: a device activated without DRIVER_OK");
  }
  std::vector<QueueConfig> queues(queues_.size());
  for (size_t i = 0; i < queues.size(); ++i) {
    const VirtioQueueState& from = state.queues[i];
    const uint16_t size = from.size;
    if (size > device_.queue_max_size() || (size & (size - 1)) != 0 ||
        (from.ready && (size == 0 || from.layout.size != size))) {
      return make_error(fmt::format("virtio state: queue {} has size {} (layout {}), max {}", i,
                                    size, from.layout.size, device_.queue_max_size()));
    }
    queues[i] = QueueConfig{size, from.ready, from.layout, std::nullopt};
    if (!from.ready) continue;
    auto queue = Virtqueue::create(memory_, from.layout);
    if (!queue)
      return make_error(fmt::format("virtio state: queue {}: {}", i, queue.error().message));
    queue->restore_position(from.next_avail, from.used_index);
    queues[i].queue = std::move(*queue);
  }
  status_ = state.status;
  device_features_sel_ = state.device_features_sel;
  driver_features_sel_ = state.driver_features_sel;
  driver_features_ = state.driver_features;
  queue_sel_ = state.queue_sel;
  interrupt_status_ = state.interrupt_status;  // the line's level travels with the PIC's state
  config_generation_ = state.config_generation;
  queues_ = std::move(queues);
  failure_ = state.failure;
  activated_ = state.activated;
  if (activated_) device_.activate(*this, driver_features_);
  return {};
}

}  // namespace ftvm
