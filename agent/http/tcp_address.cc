#include "agent/http/tcp_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdlib>
#include <cstring>

namespace thaw::agent {

Result<TcpAddress> parse_tcp_listen(std::string_view spec, bool allow_remote) {
  auto usage = [&] {
    return Error::format("--tcp-listen '{}' must be HOST:PORT with a numeric HOST, e.g. "
                         "127.0.0.1:9000 or [::1]:9000",
                         spec);
  };
  std::string host;
  std::string_view port_text;
  if (spec.starts_with('[')) {
    size_t close = spec.find(']');
    if (close == std::string_view::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
      return usage();
    }
    host = std::string(spec.substr(1, close - 1));
    port_text = spec.substr(close + 2);
  } else {
    size_t colon = spec.rfind(':');
    if (colon == std::string_view::npos) return usage();
    host = std::string(spec.substr(0, colon));
    port_text = spec.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  std::string port_str(port_text);
  char* end = nullptr;
  unsigned long port = std::strtoul(port_str.c_str(), &end, 10);
  if (port_str.empty() || *end != '\0' || port > 65535) {
    return Error::format("--tcp-listen '{}': the port must be 0-65535", spec);
  }
  TcpAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in);
    a.loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;  // 127.0.0.0/8
    a.text = host + ":" + port_str;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof(sockaddr_in6);
    a.loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    a.text = "[" + host + "]:" + port_str;
  } else {
    return usage();
  }
  if (!a.loopback && !allow_remote) {
    return Error::format("--tcp-listen {} is not a loopback address: the API has no "
                         "authentication over TCP, so anyone who reaches the port controls the "
                         "agent; listen on 127.0.0.1 or add --tcp-allow-remote behind your own "
                         "firewall or proxy",
                         a.text);
  }
  return a;
}

}  // namespace thaw::agent
