// The address of thawd's optional TCP listener (--tcp-listen HOST:PORT):
// parsed and checked to be loopback, because the API has no authentication
// over TCP (no SO_PEERCRED), unless the operator says --tcp-allow-remote.
// Used by agent/service.cc and HttpServer::listen_tcp.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace thaw::agent {

struct TcpAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "127.0.0.1:9000", "[::1]:9000"
  bool loopback = false;
};

// "127.0.0.1:PORT", "[::1]:PORT", "localhost:PORT" (127.0.0.1); PORT 0 picks
// a free one. Numeric addresses only otherwise: no DNS at start-up.
Result<TcpAddress> parse_tcp_listen(std::string_view spec, bool allow_remote);

}  // namespace thaw::agent
