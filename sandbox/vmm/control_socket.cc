#include "sandbox/vmm/control_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>


namespace thaw::sandbox {

namespace {
// Clients beyond this are refused: the control socket is for one agent.
constexpr size_t kMaxClients = 16;
constexpr size_t kReadChunk = 4096;

// MSG_NOSIGNAL: a client that hung up must not SIGPIPE the VMM.
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}
}  // namespace

Result<std::unique_ptr<ControlSocket>> ControlSocket::create(const std::string& path,
                                                             IoLoop& loop,
                                                             ControlTarget& target) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Error::format("--api-sock path is {} bytes; a Unix socket path is 1 to {} bytes",
                         path.size(), sizeof(addr.sun_path) - 1);
  }
  std::unique_ptr<ControlSocket> server(new ControlSocket(path, loop, target));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket for --api-sock {}", path);
  server->listen_fd_.reset(fd);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  ::unlink(path.c_str());  // a stale socket from an earlier run
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Error::from_errno("binding --api-sock {}", path);
  }
  if (::listen(fd, 8) != 0) return Error::from_errno("listening on --api-sock {}", path);
  ControlSocket* self = server.get();
  self->accept_op_.done = [self](int res, uint32_t flags) { self->on_accept(res, flags); };
  loop.post([self] { self->loop_.watch(self->listen_fd_.get(), self->accept_op_); });
  return server;
}

ControlSocket::~ControlSocket() {
  if (listen_fd_) ::unlink(path_.c_str());
}

void ControlSocket::on_accept(int res, uint32_t flags) {
  if (!(flags & IORING_CQE_F_MORE) && !loop_.stopping()) {
    loop_.watch(listen_fd_.get(), accept_op_);
  }
  if (res < 0) return;
  while (true) {
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: drained
    if (clients_.size() >= kMaxClients) {
      static constexpr char kBusy[] =
          "{\"ok\":false,\"error\":\"too many control connections (limit 16)\"}\n";
      [[maybe_unused]] ssize_t n = ::send(fd, kBusy, sizeof(kBusy) - 1, MSG_NOSIGNAL);
      ::close(fd);
      continue;
    }
    Client& client = clients_.emplace_back();
    client.fd.reset(fd);
    Client* raw = &client;
    client.op.done = [this, raw](int r, uint32_t f) { on_readable(raw, r, f); };
    loop_.watch(fd, client.op);
  }
}

void ControlSocket::close_client(Client* client) {
  if (!client->closed) {
    client->closed = true;
    if (client->op.in_flight) {
      loop_.cancel(client->op);
      return;  // erased when the poll's last completion arrives
    }
  }
  if (client->op.in_flight) return;
  clients_.remove_if([client](const Client& c) { return &c == client; });
}

void ControlSocket::on_readable(Client* client, int res, uint32_t flags) {
  bool last = !(flags & IORING_CQE_F_MORE);
  if (client->closed) {
    if (last) close_client(client);
    return;
  }
  if (res < 0) {
    close_client(client);
    return;
  }
  if (last) loop_.watch(client->fd.get(), client->op);  // re-arm an ended multishot poll
  char chunk[kReadChunk];
  while (true) {
    ssize_t n = ::recv(client->fd.get(), chunk, sizeof(chunk), 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      close_client(client);
      return;
    }
    if (n < 0) break;
    client->buffer.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    size_t newline;
    while ((newline = client->buffer.find('\n', start)) != std::string::npos) {
      std::string_view line(client->buffer.data() + start, newline - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      start = newline + 1;
      if (line.empty()) continue;
      std::string reply = handle_control_request(line, target_);
      ++requests_;
      reply += '\n';
      // Replies are small; a client that lets its receive buffer fill up
      // is not worth blocking the device loop for: it is disconnected.
      if (!send_all(client->fd.get(), reply)) {
        close_client(client);
        return;
      }
    }
    client->buffer.erase(0, start);
    if (client->buffer.size() > kMaxControlLine) {
      std::string reply = handle_control_request(client->buffer, target_) + "\n";
      [[maybe_unused]] ssize_t n2 = ::send(client->fd.get(), reply.data(), reply.size(),
                                           MSG_NOSIGNAL);
      close_client(client);
      return;
    }
  }
}

}  // namespace thaw::sandbox
