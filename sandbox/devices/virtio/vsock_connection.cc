#include "sandbox/devices/virtio/vsock_connection.h"

namespace thaw::sandbox::virtio {

using Action = VsockConnection::GuestInput::Action;

VsockConnection::VsockConnection(uint64_t guest_cid, uint32_t host_port, uint32_t guest_port,
                                 uint32_t buf_alloc, State initial)
    : guest_cid_(guest_cid),
      host_port_(host_port),
      guest_port_(guest_port),
      buf_alloc_(buf_alloc),
      state_(initial) {
  if (initial == State::kRequestToGuest) pending_ = kPendRequest;
}

VsockConnection::GuestInput VsockConnection::reset() {
  pending_ = kPendRst;
  rst_after_drain_ = false;
  if (state_ != State::kClosed) state_ = State::kClosing;
  return {Action::kReset, 0};
}

VsockConnection::GuestInput VsockConnection::on_guest_packet(const VsockHeader& h) {
  // §5.10.6.3: every packet carries the sender's current credit.
  peer_buf_alloc_ = h.buf_alloc;
  peer_fwd_cnt_ = h.fwd_cnt;
  if (state_ == State::kClosed) return {Action::kNone, 0};
  switch (h.op) {
    case VsockOp::kRst:
      state_ = State::kClosed;
      pending_ = 0;
      return {Action::kClose, 0};
    case VsockOp::kResponse:
      if (state_ != State::kRequestToGuest || (pending_ & kPendRequest)) return reset();
      state_ = State::kEstablished;
      return {Action::kEstablished, 0};
    case VsockOp::kRw:
      if (state_ == State::kClosing) return {Action::kNone, 0};  // raced our SHUTDOWN/RST
      if (state_ != State::kEstablished || guest_shut_send_) return reset();
      // The guest must respect the credit we granted (§5.10.6.3.1); more
      // would make our buffer unbounded, so the connection is reset.
      if (h.len > buf_alloc_ - buffered()) return reset();
      rx_cnt_ += h.len;
      return {Action::kDeliver, h.len};
    case VsockOp::kCreditUpdate:
      return {Action::kNone, 0};
    case VsockOp::kCreditRequest:
      if (state_ == State::kEstablished) pending_ |= kPendCredit;
      return {Action::kNone, 0};
    case VsockOp::kShutdown: {
      if (state_ != State::kEstablished && state_ != State::kClosing) return reset();
      bool send = h.flags & kVsockShutdownSend;
      guest_shut_rcv_ |= (h.flags & kVsockShutdownRcv) != 0;
      guest_shut_send_ |= send;
      if (guest_shut_rcv_ && guest_shut_send_) {
        // Full close from the guest: it waits for our RST (as Linux's
        // virtio_transport does); send it once its data reached the host.
        pending_ = kPendRst;
        rst_after_drain_ = true;
        state_ = State::kClosing;
      }
      return {send ? Action::kShutdownHostWrite : Action::kNone, 0};
    }
    case VsockOp::kRequest:
      // The REQUEST that opened a guest-initiated connection (it carries
      // the guest's credit); any later one is a protocol violation.
      if (state_ == State::kConnectingHost && !request_seen_) {
        request_seen_ = true;
        return {Action::kNone, 0};
      }
      return reset();
    case VsockOp::kInvalid:
      return reset();
  }
  return reset();
}

void VsockConnection::on_host_connected() {
  if (state_ != State::kConnectingHost) return;
  state_ = State::kEstablished;
  pending_ |= kPendResponse;
}

void VsockConnection::on_host_connect_failed() { reset(); }
void VsockConnection::on_host_error() { reset(); }

void VsockConnection::on_host_eof() {
  if (state_ != State::kEstablished) {
    reset();
    return;
  }
  // §5.10.6.6: "will send no more"; the guest closes when it is done and
  // its full SHUTDOWN gets our RST.
  if (!host_eof_) pending_ |= kPendShutdown;
  host_eof_ = true;
}

bool VsockConnection::owes_control() const {
  if (pending_ & kPendRst) return !(rst_after_drain_ && buffered() > 0);
  return pending_ != 0;
}

void VsockConnection::on_forwarded(uint32_t n) {
  fwd_cnt_ += n;
  if (state_ != State::kEstablished || guest_shut_send_) return;
  // What the guest believes is free in our buffer; when it falls below
  // half, tell it about the space the host consumed so it keeps sending.
  uint32_t guest_view_used = rx_cnt_ - reported_fwd_;
  if (fwd_cnt_ != reported_fwd_ && buf_alloc_ - guest_view_used < buf_alloc_ / 2) {
    pending_ |= kPendCredit;
  }
}

uint32_t VsockConnection::guest_credit() const {
  if (state_ != State::kEstablished || guest_shut_rcv_ || host_eof_) return 0;
  uint32_t in_flight = tx_cnt_ - peer_fwd_cnt_;
  if (in_flight > peer_buf_alloc_) return 0;  // guest shrank its buffer
  return peer_buf_alloc_ - in_flight;
}

VsockHeader VsockConnection::header(VsockOp op) const {
  VsockHeader h;
  h.src_cid = kVsockHostCid;
  h.dst_cid = guest_cid_;
  h.src_port = host_port_;
  h.dst_port = guest_port_;
  h.type = kVsockTypeStream;
  h.op = op;
  h.buf_alloc = buf_alloc_;
  h.fwd_cnt = fwd_cnt_;
  return h;
}

std::optional<VsockHeader> VsockConnection::take_control() {
  VsockOp op;
  uint32_t flags = 0;
  if (pending_ & kPendRst) {
    if (rst_after_drain_ && buffered() > 0) return std::nullopt;
    op = VsockOp::kRst;
    pending_ = 0;
    state_ = State::kClosed;
  } else if (pending_ & kPendRequest) {
    op = VsockOp::kRequest;
    pending_ &= ~kPendRequest;
  } else if (pending_ & kPendResponse) {
    op = VsockOp::kResponse;
    pending_ &= ~kPendResponse;
  } else if (pending_ & kPendShutdown) {
    op = VsockOp::kShutdown;
    flags = kVsockShutdownSend;
    pending_ &= ~kPendShutdown;
  } else if (pending_ & kPendCredit) {
    op = VsockOp::kCreditUpdate;
  } else {
    return std::nullopt;
  }
  VsockHeader h = header(op);
  h.flags = flags;
  reported_fwd_ = fwd_cnt_;
  pending_ &= ~kPendCredit;  // every packet carries the credit
  return h;
}

VsockHeader VsockConnection::take_rw(uint32_t len) {
  VsockHeader h = header(VsockOp::kRw);
  h.len = len;
  tx_cnt_ += len;
  reported_fwd_ = fwd_cnt_;
  pending_ &= ~kPendCredit;
  return h;
}

}  // namespace thaw::sandbox::virtio
