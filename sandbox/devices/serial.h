// 16550A UART (8250 family) on the Device interface: the guest console.
// Transmitted bytes go to a host fd, received bytes come from feed_input(),
// and the THR-empty / data-ready interrupts go out through an InterruptLine.
// Register behaviour follows the TI PC16550D datasheet (§8 "Registers").
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "sandbox/devices/device.h"

namespace thaw::sandbox {

inline constexpr uint64_t kCom1Base = 0x3f8;
inline constexpr uint64_t kSerialWindow = 8;
inline constexpr uint32_t kCom1Irq = 4;

// Versioned plain state for snapshots (STYLE.md "Snapshot state").
struct SerialState {
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kFifoSize = 64;  // the 16550A's receive FIFO depth
  uint32_t version = kVersion;
  uint8_t ier = 0, lcr = 0, mcr = 0, scr = 0, dll = 0, dlm = 0, fcr = 0;
  uint8_t thr_empty_pending = 0;  // THR-empty interrupt raised, not yet read from IIR
  uint32_t rx_count = 0;
  uint8_t rx[kFifoSize] = {};
};

class Serial : public Device {
 public:
  // `out_fd` receives what the guest transmits (not owned; -1 discards);
  // `irq` may be null (polling guests, tests).
  Serial(int out_fd, std::shared_ptr<InterruptLine> irq);

  std::string_view name() const override { return "serial"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  Result<std::vector<uint8_t>> save_state() const override;
  Result<void> restore_state(std::span<const uint8_t> state) override;

  // Host input for the guest; returns how many bytes fit in the FIFO (the
  // rest is for the caller to retry once the guest has read some).
  size_t feed_input(std::span<const uint8_t> bytes);

  uint64_t bytes_written() const;  // guest -> host
  uint64_t bytes_read() const;     // host -> guest, as the guest read them
  uint64_t bytes_dropped() const;  // guest output the host fd refused

 private:
  uint8_t read_register(uint64_t offset);
  void write_register(uint64_t offset, uint8_t value);
  void transmit(uint8_t byte);
  uint8_t interrupt_id() const;
  // True when the line should be raised, given the IIR value before the access.
  bool update_interrupt(uint8_t before);

  mutable std::mutex mu_;
  int out_fd_;
  std::shared_ptr<InterruptLine> irq_;
  SerialState s_;
  std::deque<uint8_t> rx_;
  bool event_ = false;  // a new interrupt cause arose during this access
  uint64_t bytes_written_ = 0;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_dropped_ = 0;
};

}  // namespace thaw::sandbox
