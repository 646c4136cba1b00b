#include "option_checks.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>

namespace ftvm {
namespace {

// The number the whole text spells, or nullopt (trailing characters included).
template <typename Number>
std::optional<Number> parse_exactly(const std::string& text) {
  Number value{};
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

}  // namespace

CLI::Validator positive_seconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto value = parse_exactly<double>(text);
        if (!value) return "'" + text + "' is not a number of seconds";
        if (!std::isfinite(*value) || *value <= 0) {
          return text + " is not a positive number of seconds";
        }
        return {};
      },
      "SECONDS>0");
}

CLI::Validator non_negative_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto value = parse_exactly<long long>(text);
        if (!value) return "'" + text + "' is not a whole number";
        if (*value < 0) return text + " is negative";
        return {};
      },
      "N>=0");
}

}  // namespace ftvm
