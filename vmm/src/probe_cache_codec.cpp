#include <cmath>
#include <nlohmann/json.hpp>

#include "vmm/host_probe_cache.h"

namespace ftvm {
namespace {

constexpr int kFormat = 1;

nlohmann::json key_json(const ProbeCacheKey& key) {
  return {{"boot_id", key.boot_id},
          {"kvm_device", key.kvm_device},
          {"device_number", key.device_number},
          {"kvm_modules", key.kvm_modules},
          {"probe_image_xxh3", key.probe_image_xxh3}};
}

}  // namespace

std::string encode_probe_cache(const ProbeCacheKey& key, const GuestDebugFacts& facts) {
  const nlohmann::json json = {
      {"format", kFormat},
      {"key", key_json(key)},
      {"facts",
       {{"breakpoint_cpl0", facts.breakpoint_cpl0},
        {"single_step_cpl0", facts.single_step_cpl0},
        {"cpl0_instructions_per_second", facts.cpl0_instructions_per_second},
        {"notes", facts.notes}}}};
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<GuestDebugFacts> decode_probe_cache(std::string_view bytes,
                                                  const ProbeCacheKey& expected) {
  const auto json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return std::nullopt;
  const auto format = json.find("format");
  if (format == json.end() || !format->is_number_integer() || *format != kFormat) {
    return std::nullopt;
  }
  const auto key = json.find("key");
  if (key == json.end() || *key != key_json(expected)) return std::nullopt;
  const auto facts = json.find("facts");
  if (facts == json.end() || !facts->is_object()) return std::nullopt;
  const auto breakpoint = facts->find("breakpoint_cpl0");
  const auto step = facts->find("single_step_cpl0");
  const auto speed = facts->find("cpl0_instructions_per_second");
  const auto notes = facts->find("notes");
  if (breakpoint == facts->end() || !breakpoint->is_boolean() || step == facts->end() ||
      !step->is_boolean() || speed == facts->end() || !speed->is_number() ||
      notes == facts->end() || !notes->is_string()) {
    return std::nullopt;
  }
  GuestDebugFacts decoded;
  decoded.breakpoint_cpl0 = breakpoint->get<bool>();
  decoded.single_step_cpl0 = step->get<bool>();
  decoded.cpl0_instructions_per_second = speed->get<double>();
  decoded.notes = notes->get<std::string>();
  const double speed_value = decoded.cpl0_instructions_per_second;
  if (!std::isfinite(speed_value) || speed_value < 0) return std::nullopt;
  return decoded;
}

}  // namespace ftvm
