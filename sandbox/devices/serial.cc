#include "sandbox/devices/serial.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace thaw::sandbox {

namespace {
// Register offsets (PC16550D table 2); DLAB = LCR bit 7 selects DLL/DLM.
constexpr uint64_t kData = 0;  // RBR read / THR write / DLL with DLAB
constexpr uint64_t kIer = 1;   // DLM with DLAB
constexpr uint64_t kIir = 2;   // FCR on write
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerRxData = 0x01;
constexpr uint8_t kIerThrEmpty = 0x02;
constexpr uint8_t kIerMask = 0x0f;
constexpr uint8_t kIirNone = 0x01;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirFifoEnabled = 0xc0;
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrIdle = 0x40;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;
// Modem status with no loopback: carrier, data set ready, clear to send.
constexpr uint8_t kMsrConnected = 0x80 | 0x20 | 0x10;
// Divisor latch 12 = 9600 baud, the reset value Linux expects to read back.
constexpr uint8_t kDefaultDll = 12;
}  // namespace

Serial::Serial(int out_fd, std::shared_ptr<InterruptLine> irq)
    : out_fd_(out_fd), irq_(std::move(irq)) {
  s_.dll = kDefaultDll;
}

void Serial::reset() {
  std::lock_guard lock(mu_);
  s_ = SerialState{};
  s_.dll = kDefaultDll;
  rx_.clear();
}

uint8_t Serial::interrupt_id() const {
  // Priority (datasheet table 4): received data above THR empty.
  if ((s_.ier & kIerRxData) && !rx_.empty()) return kIirRxData;
  if ((s_.ier & kIerThrEmpty) && s_.thr_empty_pending) return kIirThrEmpty;
  return kIirNone;
}

bool Serial::update_interrupt(uint8_t before) {
  // irqfd delivers an edge: raise it when the pending interrupt changes or a
  // new THR-empty/data event happened, not on every register access.
  uint8_t after = interrupt_id();
  bool raise = after != kIirNone && (after != before || event_);
  event_ = false;
  return raise;
}

void Serial::transmit(uint8_t byte) {
  if (s_.mcr & kMcrLoop) {
    // Loopback (datasheet §8.6 MCR bit 4): the byte comes back as input.
    if (rx_.size() < SerialState::kFifoSize) rx_.push_back(byte);
    return;
  }
  if (out_fd_ < 0) {
    ++bytes_dropped_;
    return;
  }
  ssize_t n;
  do {
    n = ::write(out_fd_, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) {
    ++bytes_written_;
  } else {
    // A full pipe or a closed console must not stall the vCPU: the UART has
    // no flow control here, so the byte is counted and dropped.
    ++bytes_dropped_;
  }
}

uint8_t Serial::read_register(uint64_t offset) {
  switch (offset) {
    case kData:
      if (s_.lcr & kLcrDlab) return s_.dll;
      if (rx_.empty()) return 0;
      {
        uint8_t byte = rx_.front();
        rx_.pop_front();
        ++bytes_read_;
        return byte;
      }
    case kIer:
      return (s_.lcr & kLcrDlab) ? s_.dlm : s_.ier;
    case kIir: {
      uint8_t id = interrupt_id();
      // Reading IIR while it reports THR empty acknowledges that interrupt.
      if (id == kIirThrEmpty) s_.thr_empty_pending = 0;
      return id | ((s_.fcr & kFcrEnable) ? kIirFifoEnabled : 0);
    }
    case kLcr:
      return s_.lcr;
    case kMcr:
      return s_.mcr;
    case kLsr:
      // Transmission is instant, so THR and the shifter are always empty.
      return kLsrThrEmpty | kLsrIdle | (rx_.empty() ? 0 : kLsrDataReady);
    case kMsr:
      if (s_.mcr & kMcrLoop) {
        // Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (§8.6);
        // Linux's autoconfig probes exactly this.
        return static_cast<uint8_t>(((s_.mcr & 0x01) << 5) | ((s_.mcr & 0x02) << 3) |
                                    ((s_.mcr & 0x04) << 4) | ((s_.mcr & 0x08) << 4));
      }
      return kMsrConnected;
    case kScr:
      return s_.scr;
    default:
      return 0;
  }
}

void Serial::write_register(uint64_t offset, uint8_t value) {
  switch (offset) {
    case kData:
      if (s_.lcr & kLcrDlab) {
        s_.dll = value;
      } else {
        transmit(value);
        s_.thr_empty_pending = 1;
        event_ = true;
      }
      break;
    case kIer:
      if (s_.lcr & kLcrDlab) {
        s_.dlm = value;
      } else {
        // Enabling the THR-empty interrupt while THR is empty raises it at
        // once (the 16550A behaviour Linux's 8250 driver tests for).
        if ((value & kIerThrEmpty) && !(s_.ier & kIerThrEmpty)) {
          s_.thr_empty_pending = 1;
          event_ = true;
        }
        s_.ier = value & kIerMask;
      }
      break;
    case kIir:  // FCR
      s_.fcr = value & kFcrEnable;
      if (value & kFcrClearRx) rx_.clear();
      break;
    case kLcr:
      s_.lcr = value;
      break;
    case kMcr:
      s_.mcr = value & kMcrMask;
      break;
    case kScr:
      s_.scr = value;
      break;
    default:  // LSR and MSR are read-only; writes are ignored (datasheet)
      break;
  }
}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
  if (data.empty()) return;
  std::memset(data.data(), 0, data.size());
  bool raise;
  {
    std::lock_guard lock(mu_);
    uint8_t before = interrupt_id();
    // The UART is byte-wide: wider accesses see the register in byte 0.
    data[0] = read_register(offset);
    raise = update_interrupt(before);
  }
  if (raise && irq_) irq_->trigger();
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  bool raise;
  {
    std::lock_guard lock(mu_);
    uint8_t before = interrupt_id();
    write_register(offset, data[0]);
    raise = update_interrupt(before);
  }
  if (raise && irq_) irq_->trigger();
}

size_t Serial::feed_input(std::span<const uint8_t> bytes) {
  size_t taken = 0;
  bool raise;
  {
    std::lock_guard lock(mu_);
    uint8_t before = interrupt_id();
    while (taken < bytes.size() && rx_.size() < SerialState::kFifoSize) {
      rx_.push_back(bytes[taken++]);
    }
    event_ = taken > 0;
    raise = update_interrupt(before);
  }
  if (raise && irq_) irq_->trigger();
  return taken;
}

uint64_t Serial::bytes_written() const {
  std::lock_guard lock(mu_);
  return bytes_written_;
}
uint64_t Serial::bytes_read() const {
  std::lock_guard lock(mu_);
  return bytes_read_;
}
uint64_t Serial::bytes_dropped() const {
  std::lock_guard lock(mu_);
  return bytes_dropped_;
}

Result<std::vector<uint8_t>> Serial::save_state() const {
  std::lock_guard lock(mu_);
  SerialState state = s_;
  state.rx_count = static_cast<uint32_t>(rx_.size());
  std::copy(rx_.begin(), rx_.end(), state.rx);
  std::vector<uint8_t> out(sizeof(state));
  std::memcpy(out.data(), &state, sizeof(state));
  return out;
}

Result<void> Serial::restore_state(std::span<const uint8_t> bytes) {
  SerialState state;
  if (bytes.size() != sizeof(state)) {
    return Error::format("serial state is {} bytes; version {} is {} bytes", bytes.size(),
                         SerialState::kVersion, sizeof(state));
  }
  std::memcpy(&state, bytes.data(), sizeof(state));
  if (state.version != SerialState::kVersion) {
    return Error::format("serial state version {} is not the supported version {}",
                         state.version, SerialState::kVersion);
  }
  if (state.rx_count > SerialState::kFifoSize) {
    return Error::format("serial state holds {} FIFO bytes; the FIFO holds {}", state.rx_count,
                         SerialState::kFifoSize);
  }
  std::lock_guard lock(mu_);
  s_ = state;
  rx_.assign(state.rx, state.rx + state.rx_count);
  return Ok();
}

}  // namespace thaw::sandbox
