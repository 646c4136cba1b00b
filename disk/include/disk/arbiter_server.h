// Serves the arbiter protocol on a listening socket. One thread runs everything, requests
// included, one after another: that is what makes test-and-set atomic across clients, and a
// decision's fsync is short enough that the others can wait for it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "disk/arbiter_service.h"
#include "disk/arbiter_store.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm::disk {

class ArbiterServer {
 public:
  struct Options {
    // A connection without a complete request for this long is closed, so stalled or idle
    // clients cannot pile up.
    std::chrono::milliseconds idle_timeout{5000};
    // At this many connections a new one sheds the least recently active one: a flood of held
    // connections cannot lock a side out.
    size_t max_connections = 512;
    // A connection whose replies wait unread beyond this is not read from until they leave:
    // a client that pipelines requests and never reads holds this much, not more.
    size_t max_unsent_bytes = 16 << 10;
    // The pair's key (line_auth.h): with one, every request but PING must be signed with it,
    // and every reply is signed. Empty: unkeyed.
    std::vector<uint8_t> key;
    // Called, on the serving thread, for every test-and-set the store decided.
    std::function<void(const Decision&)> on_decision;
  };

  // `listener`: a listening socket (see tcp_listener.h). `store` must outlive the server.
  static Result<std::unique_ptr<ArbiterServer>> create(UniqueFd listener, ArbiterStore& store,
                                                       Options options);
  ~ArbiterServer();
  ArbiterServer(const ArbiterServer&) = delete;
  ArbiterServer& operator=(const ArbiterServer&) = delete;

  // Serves until stop(); then closes every connection and returns. An error means the
  // listening socket failed.
  Result<void> run();

  // Makes run() return soon, or at once if it has not started. Safe from any thread and from
  // a signal handler (it only writes to an eventfd).
  void stop();
  // Reply bytes waiting for their clients to read them, over all connections (any thread).
  size_t unsent_bytes() const { return unsent_bytes_.load(); }

 private:
  struct Connection;
  ArbiterServer(UniqueFd listener, UniqueFd stop_event, ArbiterStore& store, Options options);
  Result<void> accept_all();
  void serve(Connection& connection, short revents);
  void answer_lines(Connection& connection);
  Answer answer_line(std::string_view line);
  int poll_timeout_ms() const;
  void close_finished_and_idle();
  void shed_least_active();

  UniqueFd listener_;
  UniqueFd stop_event_;
  ArbiterStore& store_;
  Options options_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::atomic<size_t> unsent_bytes_{0};
  // Out of descriptors: the listener stays readable, so accepting pauses until then instead of
  // spinning.
  std::optional<std::chrono::steady_clock::time_point> accept_paused_until_;
};

}  // namespace ftvm::disk
