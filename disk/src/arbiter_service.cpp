#include "disk/arbiter_service.h"

#include <fmt/format.h>

#include "disk/protocol.h"

namespace ftvm::disk {
namespace {

Answer answer_tas(ArbiterStore& store, const TasRequest& request) {
  auto result =
      store.test_and_set(request.vm_id, request.generation, request.side, request.incarnation);
  if (!result) return {format_reply(ErrReply{result.error().message}), false, std::nullopt};
  Decision decision{request.vm_id, request.generation, request.side, *result};
  const Reply reply = result->won ? Reply{WonReply{result->generation}}
                                  : Reply{LostReply{result->winner, result->generation}};
  return {format_reply(reply), false, std::move(decision)};
}

Answer answer_query(const ArbiterStore& store, const QueryRequest& request) {
  const auto winner = store.query(request.vm_id);
  const Reply reply = winner ? Reply{WinnerReply{winner->side, winner->generation}} : NoneReply{};
  return {format_reply(reply), false, std::nullopt};
}

}  // namespace

Answer answer_request(ArbiterStore& store, std::string_view line) {
  auto request = parse_request(line);
  if (!request) return {format_reply(ErrReply{request.error().message}), true, std::nullopt};
  if (const auto* tas = std::get_if<TasRequest>(&*request)) return answer_tas(store, *tas);
  if (const auto* query = std::get_if<QueryRequest>(&*request)) return answer_query(store, *query);
  return {format_reply(PongReply{}), false, std::nullopt};
}

std::string describe(const Decision& decision) {
  const std::string prefix = fmt::format("arbiter: vm {} generation {}: {}", decision.vm_id,
                                         decision.generation, decision.side);
  if (decision.result.won) return prefix + " WON";
  return fmt::format("{} LOST ({})", prefix, decision.result.reason);
}

}  // namespace ftvm::disk
