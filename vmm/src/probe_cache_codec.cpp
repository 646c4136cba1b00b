#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "vmm/host_probe_cache.h"

namespace ftvm {
namespace {

// 2: the CPL3 findings. 3: the interrupt window's. 4: RFLAGS.RF's.
constexpr int kFormat = 4;

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
        {"breakpoint_cpl3", facts.breakpoint_cpl3},
        {"single_step_cpl3", facts.single_step_cpl3},
        {"cpl3_instructions_per_second", facts.cpl3_instructions_per_second},
        {"interrupt_window_cpl0", facts.interrupt_window_cpl0},
        {"interrupt_window_cpl3", facts.interrupt_window_cpl3},
        {"resume_flag_cpl0", facts.resume_flag_cpl0},
        {"resume_flag_cpl3", facts.resume_flag_cpl3},
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
  const auto flag = [&](const char* name) -> std::optional<bool> {
    const auto it = facts->find(name);
    if (it == facts->end() || !it->is_boolean()) return std::nullopt;
    return it->get<bool>();
  };
  // A speed is a finite, non-negative number.
  const auto speed = [&](const char* name) -> std::optional<double> {
    const auto it = facts->find(name);
    if (it == facts->end() || !it->is_number()) return std::nullopt;
    const double value = it->get<double>();
    if (!std::isfinite(value) || value < 0) return std::nullopt;
    return value;
  };
  const auto breakpoint0 = flag("breakpoint_cpl0");
  const auto step0 = flag("single_step_cpl0");
  const auto speed0 = speed("cpl0_instructions_per_second");
  const auto breakpoint3 = flag("breakpoint_cpl3");
  const auto step3 = flag("single_step_cpl3");
  const auto speed3 = speed("cpl3_instructions_per_second");
  const auto window0 = flag("interrupt_window_cpl0");
  const auto window3 = flag("interrupt_window_cpl3");
  const auto resume0 = flag("resume_flag_cpl0");
  const auto resume3 = flag("resume_flag_cpl3");
  const auto notes = facts->find("notes");
  if (!breakpoint0 || !step0 || !speed0 || !breakpoint3 || !step3 || !speed3 || !window0 ||
      !window3 || !resume0 || !resume3 || notes == facts->end() || !notes->is_string()) {
    return std::nullopt;
  }
  GuestDebugFacts decoded;
  decoded.breakpoint_cpl0 = *breakpoint0;
  decoded.single_step_cpl0 = *step0;
  decoded.cpl0_instructions_per_second = *speed0;
  decoded.breakpoint_cpl3 = *breakpoint3;
  decoded.single_step_cpl3 = *step3;
  decoded.cpl3_instructions_per_second = *speed3;
  decoded.interrupt_window_cpl0 = *window0;
  decoded.interrupt_window_cpl3 = *window3;
  decoded.resume_flag_cpl0 = *resume0;
  decoded.resume_flag_cpl3 = *resume3;
  decoded.notes = notes->get<std::string>();
  return decoded;
}

}  // namespace ftvm
