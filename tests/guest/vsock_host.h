// Host end of thaw-vmm's hybrid vsock (Firecracker convention, CONTRACT.md)
// for the integration tests: connect to the VMM's Unix socket and do the
// "CONNECT <port>\n" / "OK <host_port>\n" handshake, or listen on the
// "<uds>_<port>" socket the VMM connects to for guest-initiated streams.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw::testguest {

// Connects to `uds_path` and asks for guest port `port`; returns the stream
// once the VMM answered "OK <n>". The "OK" line's port lands in *host_port.
Result<UniqueFd> vsock_connect_guest(const std::string& uds_path, uint32_t port,
                                     std::chrono::milliseconds timeout, uint32_t* host_port);
// A listening Unix stream socket at `path`.
Result<UniqueFd> unix_listen(const std::string& path);
Result<UniqueFd> unix_accept(int listen_fd, std::chrono::milliseconds timeout);
// Reads up to and excluding '\n' (at most 4 KiB); EOF before '\n' is an error.
Result<std::string> read_line(int fd, std::chrono::milliseconds timeout);

}  // namespace thaw::testguest
