// Hybrid-vsock host side used by thaw_vmm_guest_test.cc.
#include "tests/guest/vsock_host.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/file_util.h"

namespace thaw::testguest {

namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Error::format("unix socket path {} is {} bytes, the limit is {}", path, path.size(),
                         sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Result<void> wait_readable(int fd, std::chrono::milliseconds timeout, std::string_view what) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (r < 0 && errno == EINTR);
  if (r < 0) return Error::from_errno("poll {}", what);
  if (r == 0) return Error::format("{}: nothing arrived within {} ms", what, timeout.count());
  return Ok();
}

}  // namespace

Result<std::string> read_line(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (line.size() < 4096) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Error::format("no complete line within {} ms; got \"{}\"", timeout.count(), line);
    if (auto r = wait_readable(fd, left, "reading a line"); !r.ok()) return std::move(r).error();
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("reading a line");
    if (n == 0) return Error::format("EOF before the end of the line; got \"{}\"", line);
    if (c == '\n') return line;
    line += c;
  }
  return Error::format("line longer than 4096 bytes");
}

Result<UniqueFd> vsock_connect_guest(const std::string& uds_path, uint32_t port,
                                     std::chrono::milliseconds timeout, uint32_t* host_port) {
  auto addr = unix_address(uds_path);
  if (!addr.ok()) return std::move(addr).error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0)
    return Error::from_errno("connect to the VMM's vsock socket {}", uds_path);
  std::string request = "CONNECT " + std::to_string(port) + "\n";
  if (auto r =
          write_all(fd.get(), {reinterpret_cast<const uint8_t*>(request.data()), request.size()},
                    "CONNECT line");
      !r.ok())
    return std::move(r).error();
  auto reply = read_line(fd.get(), timeout);
  if (!reply.ok()) return reply.error().context("waiting for the VMM's OK");
  unsigned long assigned = 0;
  if (reply->rfind("OK ", 0) != 0 || std::sscanf(reply->c_str() + 3, "%lu", &assigned) != 1)
    return Error::format("VMM answered \"{}\" to \"CONNECT {}\", want \"OK <port>\"", *reply, port);
  if (host_port) *host_port = static_cast<uint32_t>(assigned);
  return fd;
}

Result<UniqueFd> unix_listen(const std::string& path) {
  auto addr = unix_address(path);
  if (!addr.ok()) return std::move(addr).error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0)
    return Error::from_errno("bind {}", path);
  if (::listen(fd.get(), 4) != 0) return Error::from_errno("listen {}", path);
  return fd;
}

Result<UniqueFd> unix_accept(int listen_fd, std::chrono::milliseconds timeout) {
  if (auto r = wait_readable(listen_fd, timeout, "accepting the VMM's connection"); !r.ok())
    return std::move(r).error();
  UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) return Error::from_errno("accept");
  return fd;
}

}  // namespace thaw::testguest
