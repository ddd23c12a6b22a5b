// Host side of the guest channel for a microVM: Firecracker-style "hybrid
// vsock" over the VMM's Unix socket (connect, "CONNECT <port>\n", read
// "OK <host_port>\n"), then the stream carries frames to thaw-init, which
// listens on vsock port kThawChannelVsockPort. Used by thawd.
#pragma once

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw {

// Connects to `uds_path` and asks for guest `port`; waits at most
// timeout_ms for the VMM's answer. The returned socket is blocking.
Result<UniqueFd> connect_hybrid_vsock(const std::string& uds_path, uint32_t port, int timeout_ms);

// Parses the VMM's reply line (without the newline): "OK <port>".
Result<uint32_t> parse_hybrid_vsock_reply(std::string_view line);

}  // namespace thaw
