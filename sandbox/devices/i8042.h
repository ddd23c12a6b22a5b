// Minimal i8042 keyboard controller: enough for Linux's probe to find a
// controller with no devices attached, and the CPU-reset command (0xFE on
// the command port) that thaw turns into a clean VM exit (CONTRACT.md).
// Registered as one window [0x60, 0x65): offset 0 = data, 4 = status/command.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "sandbox/devices/device.h"

namespace thaw::sandbox {

inline constexpr uint64_t kI8042Base = 0x60;
inline constexpr uint64_t kI8042Window = 5;  // 0x60..0x64; 0x61 is the in-kernel PIT speaker

struct I8042State {
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kBufferSize = 16;
  uint32_t version = kVersion;
  uint8_t control = 0;          // controller configuration byte ("CTR")
  uint8_t pending_command = 0;  // command awaiting its data byte, 0 if none
  uint8_t output_port = 0;
  uint8_t aux_output = 0;       // the byte in the output buffer came from the AUX port
  uint8_t out_count = 0;
  uint8_t out[kBufferSize] = {};
};

class I8042 : public Device {
 public:
  // `on_reset` runs (on the vCPU thread) when the guest pulses the reset line.
  explicit I8042(std::function<void()> on_reset);

  std::string_view name() const override { return "i8042"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  Result<std::vector<uint8_t>> save_state() const override;
  Result<void> restore_state(std::span<const uint8_t> state) override;

  uint64_t reset_requests() const;

 private:
  void command(uint8_t cmd, bool& reset);
  void data(uint8_t value, bool& reset);
  void push_output(uint8_t byte);

  std::function<void()> on_reset_;
  mutable std::mutex mu_;
  I8042State s_;
  std::deque<uint8_t> out_;
  uint64_t reset_requests_ = 0;
};

}  // namespace thaw::sandbox
