// The control socket of a running side (`ftvm primary`, `ftvm backup`): how `ftvm status` and
// fault injection reach it. A unix socket, one exchange a connection: the client sends one
// line, "<command>[ <args>]\n"; the server answers with the command handler's text, or with
// "ERR <message>\n" for an unknown command or a failed handler, and closes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm {

class ControlServer {
 public:
  // Gets what followed the command name (without the separating space); returns the reply.
  // Handlers run on the control thread, not the side's own threads.
  using Handler = std::function<std::string(const std::string& args)>;
  using Handlers = std::map<std::string, Handler>;  // by command name ("status", ...)

  // Binds `socket_path` and starts answering. A socket file left by a side that died is
  // replaced; one where a live side answers is an error, as is a path that is not a socket.
  static Result<std::unique_ptr<ControlServer>> start(const std::string& socket_path,
                                                      Handlers handlers);
  // Stops the thread and removes the socket file (unless another server has replaced it).
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& socket_path() const { return socket_path_; }

 private:
  ControlServer(std::string socket_path, UniqueFd listener, UniqueFd stop_event, Handlers handlers);
  void serve();
  void answer(int fd) const;
  std::string reply_to(const std::string& line) const;

  std::string socket_path_;
  UniqueFd listener_;
  UniqueFd stop_event_;
  Handlers handlers_;
  dev_t device_ = 0;  // the socket file's identity, to remove only our own
  ino_t inode_ = 0;
  std::thread thread_;
};

// Sends one command line to the side at `socket_path` and returns its reply. An "ERR" reply is
// an error carrying the side's message; so is a path where no side answers ("no ftvm side is
// running with control socket PATH").
Result<std::string> send_control_command(const std::string& socket_path, const std::string& line,
                                         std::chrono::milliseconds timeout);

}  // namespace ftvm
