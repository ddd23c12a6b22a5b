#include "runtime-api/hybrid_vsock.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <charconv>
#include <cstring>

#include "common/file_util.h"

namespace thaw {

Result<uint32_t> parse_hybrid_vsock_reply(std::string_view line) {
  if (!line.starts_with("OK ")) {
    return Error::format("hybrid vsock: the VMM answered '{}' instead of 'OK <port>': is thaw-init "
                         "listening in the guest (vsock port) and the guest booted?",
                         line.substr(0, 64));
  }
  std::string_view num = line.substr(3);
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), port);
  if (ec != std::errc() || end != num.data() + num.size() || num.empty()) {
    return Error::format("hybrid vsock: bad port in VMM reply '{}'", line.substr(0, 64));
  }
  return port;
}

Result<UniqueFd> connect_hybrid_vsock(const std::string& uds_path, uint32_t port, int timeout_ms) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for hybrid vsock");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (uds_path.size() >= sizeof addr.sun_path) {
    return Error::format("hybrid vsock socket path {} is {} bytes, over the {}-byte limit",
                         uds_path, uds_path.size(), sizeof addr.sun_path - 1);
  }
  std::memcpy(addr.sun_path, uds_path.data(), uds_path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return Error::from_errno("connect to the VMM's vsock socket {}", uds_path);
  }
  std::string hello = fmt::format("CONNECT {}\n", port);
  if (auto ok = write_all(fd.get(), {reinterpret_cast<const uint8_t*>(hello.data()), hello.size()},
                          "hybrid vsock CONNECT");
      !ok) {
    return std::move(ok).error();
  }
  // Read the reply a byte at a time: frames may follow the newline at once
  // and must stay in the socket for the frame reader.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd p{fd.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) == 0) {
      return Error::format("hybrid vsock: no answer to CONNECT {} from {} within {} ms", port,
                           uds_path, timeout_ms);
    }
    char c;
    ssize_t n = ::recv(fd.get(), &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("hybrid vsock: reading the VMM's reply");
    if (n == 0) {
      return Error::format("hybrid vsock: {} closed the connection after CONNECT {} (nothing "
                           "listens on that guest port)",
                           uds_path, port);
    }
    if (c == '\n') break;
    line.push_back(c);
    if (line.size() > 64) return Error::format("hybrid vsock: VMM reply line over 64 bytes");
  }
  if (auto ok = parse_hybrid_vsock_reply(line); !ok) return std::move(ok).error();
  return fd;
}

}  // namespace thaw
