#include "status_command.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "machine/exit_codes.h"
#include "pair/control_server.h"

namespace ftvm {
namespace {

constexpr std::chrono::seconds kReplyTimeout{5};

// One "key: value" line per leaf, nested keys joined with dots: easy to read and to grep.
void flatten(const nlohmann::json& json, const std::string& prefix, std::string& out) {
  if (json.is_object() && !json.empty()) {
    for (const auto& [key, value] : json.items()) {
      flatten(value, prefix.empty() ? key : prefix + "." + key, out);
    }
    return;
  }
  const std::string text = json.is_string() ? json.get<std::string>() : json.dump();
  out += prefix.empty() ? text + "\n" : fmt::format("{}: {}\n", prefix, text);
}

// Status replies are JSON; anything else (another command's reply) prints as it came.
std::string human_summary(const std::string& reply) {
  const auto json = nlohmann::json::parse(reply, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return reply;
  std::string out;
  flatten(json, "", out);
  return out;
}

}  // namespace

CLI::App* add_status_command(CLI::App& app, StatusOptions& options) {
  auto* command = app.add_subcommand("status", "Ask a running primary or backup how it is doing");
  command->add_option("--control", options.control_path, "The side's control socket")->required();
  command->add_flag("--json", options.json, "Print the side's JSON reply as it is");
  command
      ->add_option("--command", options.command,
                   "Send another command instead of 'status' (e.g. cut-channel) and print the "
                   "reply")
      ->capture_default_str();
  return command;
}

int status_command(const StatusOptions& options) {
  auto reply = send_control_command(options.control_path, options.command, kReplyTimeout);
  if (!reply) {
    fmt::print(stderr, "ftvm: {}\n", reply.error().message);
    return kExitSetup;
  }
  const std::string text = options.json ? *reply : human_summary(*reply);
  fmt::print("{}{}", text, !text.empty() && text.back() == '\n' ? "" : "\n");
  return kExitOk;
}

}  // namespace ftvm
