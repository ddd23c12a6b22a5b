// thaw-init's end of the host channel: frames in and out over one stream
// socket (a Unix socketpair in the process backend, vsock in a microVM) on
// the io_uring loop. The vsock side listens and takes a new connection
// after each snapshot restore.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/io_loop.h"
#include "runtime-api/frame.h"

namespace thaw {

class HostChannel {
 public:
  using FrameHandler = std::function<void(Frame)>;
  // Called when the stream ends or breaks; `error` says why (empty on EOF).
  using CloseHandler = std::function<void(const std::string& error)>;

  HostChannel(IoLoop& loop, FrameHandler on_frame, CloseHandler on_close);
  HostChannel(const HostChannel&) = delete;
  HostChannel& operator=(const HostChannel&) = delete;

  // Uses an already connected socket (process backend: the socketpair end).
  void attach(UniqueFd fd);
  // Accepts connections on `listen_fd` one at a time (microVM: vsock).
  void listen(UniqueFd listen_fd);
  bool connected() const { return fd_.valid(); }

  // Queues a frame; frames go out in order. Dropped when not connected.
  Result<void> send(FrameType type, std::string_view request_id,
                    std::span<const uint8_t> payload, uint16_t flags = 0);
  // Waits (at most 2 s) until everything queued is written (before exit/poweroff).
  void drain_blocking();
  // Bytes accepted by send() and not yet written to the socket.
  size_t queued_bytes() const { return out_.size() + sending_.size() - sent_; }
  // Called each time the queue becomes empty (for backpressure on logs).
  void set_drained_handler(std::function<void()> fn) { on_drained_ = std::move(fn); }

 private:
  void start_recv();
  void flush();
  void drop(const std::string& why);
  void arm_accept();
  // Attaches a connection that waited for the last one's ops to finish.
  void settle();

  IoLoop& loop_;
  FrameHandler on_frame_;
  CloseHandler on_close_;
  std::function<void()> on_drained_;
  UniqueFd fd_;
  // A microVM restored from a snapshot still has the snapshot-time host
  // connection, with a recv (maybe a send) in flight on it. Completions
  // carry the generation of the connection they were made for; stale ones
  // are ignored, and a new connection waits in pending_ until they are in.
  uint64_t gen_ = 0;
  UniqueFd pending_;
  UniqueFd listen_fd_;
  IoOp recv_op_, send_op_, accept_op_;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(256u << 10);
  FrameDecoder decoder_;
  std::vector<uint8_t> out_, sending_;
  size_t sent_ = 0;
};

}  // namespace thaw
