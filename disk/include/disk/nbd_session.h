// One NBD connection's protocol, apart from any socket or file (docs/disk-server.md): the
// fixed-newstyle handshake and the decoding of transmission requests. The server feeds it
// the bytes a client sent and sends what it produces; it hands out each complete request
// (with its payload, for a write) and formats the replies. Every byte comes from outside, so
// everything is checked and bounded: an option or request that breaks the protocol ends the
// session with a reason, and nothing a client sends makes it hold more than one maximal
// request.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "disk/nbd_wire.h"
#include "disk/writer_fence.h"
#include "vmm/result.h"

namespace ftvm::disk {

struct NbdExportInfo {
  std::string name;
  uint64_t size = 0;
  bool read_only = false;
};

struct NbdRequest {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t cookie = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  std::vector<uint8_t> payload;  // a write's data
};

class NbdSession {
 public:
  // The largest read or write payload: what NBD says a server should never call an attack.
  static constexpr uint32_t kMaxPayloadBytes = uint32_t{32} << 20;
  // Option data beyond this is discarded and refused (export names are at most 4096 bytes).
  static constexpr uint32_t kMaxOptionBytes = 16 << 10;

  // `exports` must not be empty; the first is the default export (the empty name).
  explicit NbdSession(std::vector<NbdExportInfo> exports);

  void feed(std::span<const uint8_t> bytes);
  // Bytes to send to the client (the greeting first), taken once.
  std::vector<uint8_t> take_output();
  // The next complete request once in transmission, std::nullopt until more bytes arrive. An
  // error ends the session: the client broke the protocol or quit the handshake (the reason
  // says which). Output produced before it should still be sent.
  Result<std::optional<NbdRequest>> next_request();

  bool transmitting() const { return phase_ == Phase::kTransmission; }
  // The export chosen (valid once transmitting).
  const NbdExportInfo& export_info() const { return exports_[chosen_]; }
  bool structured_replies() const { return structured_; }
  // Who the client said writes through this connection ("NAME@VM/GENERATION/INCARNATION" as
  // the export name; see writer_fence.h), if it said so.
  const std::optional<WriterToken>& writer() const { return writer_; }
  // Bytes held for incomplete input, a partly received write payload included.
  size_t buffered_bytes() const;

  // While a write's payload is arriving, the rest of it: a server may receive straight into
  // it and then call payload_received() instead of feed(), saving a copy. Empty otherwise.
  std::span<uint8_t> payload_room();
  void payload_received(size_t count);

  // The NBD error for `request` on the chosen export before any I/O: unknown commands and
  // flags, ranges past the end, writes to a read-only export. kOk: go ahead.
  nbd::Errno check(const NbdRequest& request) const;

  // Reply bytes, simple or structured as negotiated. `data` only for a successful read.
  std::vector<uint8_t> reply(const NbdRequest& request, nbd::Errno error,
                             std::span<const uint8_t> data = {},
                             std::string_view message = {}) const;
  // The bytes of a successful read's reply that come before its `data_bytes` of data, for a
  // server that sends the data from its own buffer.
  std::vector<uint8_t> read_reply_header(const NbdRequest& request, size_t data_bytes) const;

 private:
  enum class Phase { kClientFlags, kOptions, kTransmission, kEnded };

  Result<bool> step();  // true: something was consumed
  Result<bool> read_client_flags();
  Result<bool> read_option();
  Result<void> handle_option(uint32_t option, std::span<const uint8_t> data);
  Result<void> export_name(std::span<const uint8_t> data);
  void list();
  void info_or_go(uint32_t option, std::span<const uint8_t> data);
  void option_reply(uint32_t option, uint32_t type, std::span<const uint8_t> data = {});
  void option_error(uint32_t option, uint32_t type, std::string_view message);
  // An export name, with the writer token it may carry. Errors say what is wrong with it.
  struct Choice {
    size_t index = 0;
    std::optional<WriterToken> writer;
  };
  Result<Choice> find_export(std::string_view name) const;
  void take_payload_bytes(std::span<const uint8_t>& bytes);
  uint16_t transmission_flags() const;
  std::span<const uint8_t> unread() const;
  void consume(size_t count);

  std::vector<NbdExportInfo> exports_;
  std::vector<uint8_t> input_;
  size_t consumed_ = 0;
  std::vector<uint8_t> output_;
  Phase phase_ = Phase::kClientFlags;
  bool no_zeroes_ = false;
  bool structured_ = false;
  size_t chosen_ = 0;
  std::optional<WriterToken> writer_;
  uint64_t discarding_ = 0;  // option bytes to drop before refusing an oversize option
  uint32_t discarding_option_ = 0;
  std::optional<Error> ended_;
  // A write whose header was decoded and whose payload is still arriving (payload sized to
  // the request, collected_ bytes of it filled).
  std::optional<NbdRequest> collecting_;
  size_t collected_ = 0;
};

}  // namespace ftvm::disk
