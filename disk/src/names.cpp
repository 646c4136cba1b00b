#include "disk/names.h"

#include <fmt/format.h>

#include <algorithm>

namespace ftvm::disk {
namespace {

bool is_vm_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool is_side_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// Quotes a rejected name with anything unprintable escaped, so the message itself is safe to
// print on a terminal or send back as one reply line.
std::string quoted(std::string_view name) {
  std::string out = "'";
  for (char c : name.substr(0, 80)) {
    if (c >= 0x21 && c <= 0x7e && c != '\'') {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  if (name.size() > 80) out += "...";
  return out + "'";
}

}  // namespace

Result<void> check_vm_id(std::string_view vm_id) {
  if (vm_id.empty() || vm_id.size() > 64 ||
      !std::all_of(vm_id.begin(), vm_id.end(), is_vm_id_char)) {
    return make_error(fmt::format("invalid VM id {}: use 1 to 64 characters from A-Z a-z 0-9 . _ -",
                                  quoted(vm_id)));
  }
  return {};
}

Result<void> check_side(std::string_view side) {
  if (side.empty() || side.size() > 32 || !std::all_of(side.begin(), side.end(), is_side_char)) {
    return make_error(fmt::format(
        "invalid side name {}: use 1 to 32 characters from a-z 0-9 - (e.g. primary, backup)",
        quoted(side)));
  }
  return {};
}

Result<void> check_incarnation(std::string_view incarnation) {
  if (incarnation.size() < 8 || incarnation.size() > 32 ||
      !std::all_of(incarnation.begin(), incarnation.end(), is_hex_digit)) {
    return make_error(fmt::format("invalid incarnation {}: use 8 to 32 lowercase hex digits",
                                  quoted(incarnation)));
  }
  return {};
}

}  // namespace ftvm::disk
