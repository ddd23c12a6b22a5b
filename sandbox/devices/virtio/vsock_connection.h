// One virtio-vsock stream connection between a guest port and a host Unix
// socket, as a pure state machine (virtio 1.2 §5.10.6.3-6.4): state,
// credit accounting in both directions and the control packets owed to the
// guest. No sockets or guest memory here, so it is unit-testable alone;
// VsockDevice moves the bytes.
#pragma once

#include <cstdint>
#include <optional>

#include "sandbox/devices/virtio/vsock_packet.h"

namespace thaw::sandbox::virtio {

class VsockConnection {
 public:
  enum class State : uint8_t {
    kRequestToGuest,  // host side connected and sent CONNECT; REQUEST owed/sent
    kConnectingHost,  // guest sent REQUEST; the device is connecting PATH_port
    kEstablished,
    kClosing,         // RST owed to the guest (reset, or the guest closed fully)
    kClosed,          // RST sent or received: the device drops it
  };

  // What the device must do after a guest packet.
  struct GuestInput {
    enum class Action : uint8_t {
      kNone,
      kDeliver,     // forward `bytes` of payload to the host socket
      kEstablished, // guest accepted our REQUEST: answer "OK <port>\n" on the host socket
      kShutdownHostWrite,  // guest will send no more: shut the host socket's write side
      kClose,       // guest reset the connection: close the host socket, send nothing
      kReset,       // protocol violation or refusal: RST owed, then close
    };
    Action action = Action::kNone;
    uint32_t bytes = 0;
  };

  VsockConnection(uint64_t guest_cid, uint32_t host_port, uint32_t guest_port,
                  uint32_t buf_alloc, State initial);

  State state() const { return state_; }
  uint32_t host_port() const { return host_port_; }
  uint32_t guest_port() const { return guest_port_; }

  // A packet from the guest addressed to this connection (already passed
  // validate_guest_header), including the REQUEST that opened a
  // guest-initiated one. Every packet refreshes the guest's credit info.
  GuestInput on_guest_packet(const VsockHeader& h);

  // Host-side events.
  void on_host_connected();       // kConnectingHost -> kEstablished, RESPONSE owed
  void on_host_connect_failed();  // RST owed
  // The host socket reached EOF: SHUTDOWN(SEND) owed; the guest may still
  // send (the host may have only shut its write side).
  void on_host_eof();
  void on_host_error();           // RST owed
  void on_forwarded(uint32_t n);  // n guest bytes reached the host socket

  // Bytes we may still send to the guest before it frees buffer space:
  // peer buf_alloc - (tx_cnt - peer fwd_cnt) (§5.10.6.3). Zero unless
  // established and the guest still receives.
  uint32_t guest_credit() const;
  // Guest bytes taken but not yet forwarded to the host socket.
  uint32_t buffered() const { return rx_cnt_ - fwd_cnt_; }
  bool host_write_shut() const { return guest_shut_send_; }
  bool host_eof() const { return host_eof_; }

  // The next control packet owed to the guest (REQUEST, RESPONSE, RST,
  // SHUTDOWN, CREDIT_UPDATE in that priority), marked as sent; nullopt when
  // nothing is owed. After an RST the state is kClosed.
  std::optional<VsockHeader> take_control();
  // True when take_control() would return a packet now.
  bool owes_control() const;
  // Header for `len` bytes of host data; counts them against the credit.
  VsockHeader take_rw(uint32_t len);

 private:
  enum Pending : uint8_t {
    kPendRequest = 1, kPendResponse = 2, kPendRst = 4, kPendShutdown = 8, kPendCredit = 16,
  };
  VsockHeader header(VsockOp op) const;
  GuestInput reset();

  uint64_t guest_cid_;
  uint32_t host_port_;
  uint32_t guest_port_;
  uint32_t buf_alloc_;  // our receive buffer for guest->host bytes
  State state_;
  uint8_t pending_ = 0;
  bool rst_after_drain_ = false;  // graceful close: RST once buffered bytes reached the host
  bool request_seen_ = false;     // guest-initiated: its REQUEST was taken
  bool host_eof_ = false;         // host socket sent EOF; SHUTDOWN(SEND) owed/sent
  bool guest_shut_send_ = false;  // guest will send no more
  bool guest_shut_rcv_ = false;   // guest will receive no more
  // guest -> host
  uint32_t rx_cnt_ = 0;        // payload bytes accepted from the guest
  uint32_t fwd_cnt_ = 0;       // of those, written to the host socket
  uint32_t reported_fwd_ = 0;  // fwd_cnt the guest last heard from us
  // host -> guest
  uint32_t tx_cnt_ = 0;          // payload bytes sent to the guest
  uint32_t peer_buf_alloc_ = 0;  // guest's receive buffer size
  uint32_t peer_fwd_cnt_ = 0;    // guest's consumed byte count
};

}  // namespace thaw::sandbox::virtio
