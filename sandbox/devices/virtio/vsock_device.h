// virtio-vsock backend (virtio 1.2 §5.10) with Firecracker's "hybrid vsock"
// host side: host programs reach guest port P by connecting to uds_path and
// sending "CONNECT P\n"; guest connections to CID 2 port P go to the Unix
// socket "uds_path_P". All socket I/O is non-blocking on the IoLoop.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/io_loop.h"
#include "common/unique_fd.h"
#include "sandbox/devices/virtio/log_budget.h"
#include "sandbox/devices/virtio/virtio_device.h"
#include "sandbox/devices/virtio/vsock_connection.h"

namespace thaw::sandbox::virtio {

struct VsockConfig {
  uint64_t guest_cid = 3;
  std::string uds_path;               // listener for host-initiated connections
  uint16_t queue_size = 256;
  uint32_t max_connections = 256;     // beyond this: host connects closed, guest REQUESTs RST
  uint32_t buf_alloc = 256 * 1024;    // per-connection guest->host buffer (credit we grant)
  uint32_t max_pending_handshakes = 64;  // silent host sockets (no CONNECT yet); oldest dropped
};

struct VsockStats {
  uint64_t bytes_to_host = 0;
  uint64_t bytes_to_guest = 0;
  uint64_t connections_opened = 0;
  uint64_t resets_sent = 0;
  uint64_t bad_packets = 0;
  uint64_t active_connections = 0;
};

class VsockDevice : public VirtioDevice {
 public:
  // Binds and listens on uds_path (a stale socket file there is replaced).
  // Listening starts on the loop thread.
  static Result<std::unique_ptr<VsockDevice>> create(const VsockConfig& config, IoLoop& loop);
  ~VsockDevice() override;

  std::string_view name() const override { return "vsock"; }
  uint32_t device_id() const override;
  uint64_t device_features() const override;
  size_t queue_count() const override { return 3; }  // rx, tx, event
  uint16_t queue_max_size(size_t) const override { return config_.queue_size; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  IoLoop* loop() override { return &loop_; }
  void attach(VirtioHost& host) override { host_ = &host; }
  Result<void> activate() override;
  void process_queue(size_t index) override;
  void reset() override;
  // TX chains are handled and returned synchronously, RX chains filled as
  // they are popped: nothing is ever in flight.
  size_t in_flight() const override { return 0; }
  Result<std::vector<uint8_t>> save_state() const override;
  Result<void> restore_state(std::span<const uint8_t> state) override;

  // After a snapshot restore: drop every connection, queue a
  // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET event and kick the event and TX
  // queues so the guest reconnects (§5.10.6.7). Any thread.
  void send_transport_reset();
  VsockStats stats() const;

 private:
  // A host socket and, once the host sent CONNECT (or the guest sent
  // REQUEST), its connection state machine. Owned by conns_/handshakes_,
  // then by graveyard_ until the kernel returned all of its ops.
  struct Conn {
    std::unique_ptr<VsockConnection> sm;
    UniqueFd fd;
    IoOp read_op, write_op, connect_op;  // one-shot POLLIN / POLLOUT, connect
    IoOp hangup_op;                      // host gave up while the guest had not answered
    sockaddr_un addr{};                  // connect target (outlives connect_op)
    std::string line;                    // CONNECT line gathered so far
    std::vector<uint8_t> out;            // bytes for the host socket not yet written
    size_t out_head = 0;
    size_t preamble = 0;                 // leading bytes of `out` that are our OK line
    bool readable = false;               // POLLIN seen and not drained
    bool in_rx_list = false;
    bool shut_wr_pending = false;        // shut the host write side once drained
    bool retired = false;

    size_t out_size() const { return out.size() - out_head; }
    bool ops_idle() const {
      return !read_op.in_flight && !write_op.in_flight && !connect_op.in_flight &&
             !hangup_op.in_flight;
    }
  };

  VsockDevice(const VsockConfig& config, IoLoop& loop, UniqueFd listener);

  // vsock_device.cc: lifecycle, listener, CONNECT handshake, events.
  // All on the loop thread with the device lock held.
  void start_listening();
  void on_accept();
  void init_ops(Conn& c);
  void on_handshake_readable(Conn& c);
  uint32_t allocate_host_port(uint32_t guest_port);
  void arm_read(Conn& c);
  void arm_write(Conn& c);
  void watch_hangup(Conn& c);
  void schedule_rx(Conn& c);
  void close_host(Conn& c);
  void retire(Conn& c);
  void schedule_reap();
  void drop_all_connections();
  void deliver_event();

  // vsock_datapath.cc: TX and RX queues.
  void process_tx();
  void handle_guest_packet(const VsockHeader& h, const DescriptorChain& chain);
  void apply(Conn& c, VsockConnection::GuestInput in);
  void open_guest_connection(const VsockHeader& h);
  void deliver_to_host(Conn& c, const DescriptorChain& chain, uint32_t len);
  void flush_to_host(Conn& c);
  bool send_control_rst(const VsockHeader& to_answer);
  void fill_rx();
  std::optional<VsockHeader> read_host(Conn& c, const DescriptorChain& rx);

  VsockConfig config_;
  IoLoop& loop_;
  UniqueFd listener_;
  IoOp accept_op_;
  VirtioHost* host_ = nullptr;
  // Connections keyed by (host_port << 32 | guest_port).
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<Conn>> handshakes_;  // host sockets before CONNECT
  std::vector<std::unique_ptr<Conn>> graveyard_;   // retired, ops still in the kernel
  std::deque<Conn*> rx_wanted_;                    // conns with something for the guest
  std::deque<VsockHeader> rst_replies_;            // RSTs for unknown connections (bounded)
  std::vector<iovec> tx_iov_;                      // reused per packet
  bool event_pending_ = false;
  bool reap_posted_ = false;
  LogBudget log_budget_;  // guest-triggered log lines
  uint32_t next_host_port_ = 1u << 30;
  std::atomic<uint64_t> bytes_to_host_{0}, bytes_to_guest_{0}, opened_{0}, resets_{0},
      bad_packets_{0}, active_{0};
};

}  // namespace thaw::sandbox::virtio
