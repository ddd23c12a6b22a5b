#include "sandbox/devices/i8042.h"

#include <cstring>

namespace thaw::sandbox {

namespace {
// Port offsets within the window and the controller's commands, as Linux's
// drivers/input/serio/i8042.h names them.
constexpr uint64_t kDataPort = 0;
constexpr uint64_t kCommandPort = 4;

constexpr uint8_t kCmdReadCtr = 0x20;
constexpr uint8_t kCmdWriteCtr = 0x60;
constexpr uint8_t kCmdAuxDisable = 0xa7;
constexpr uint8_t kCmdAuxEnable = 0xa8;
constexpr uint8_t kCmdAuxTest = 0xa9;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kCmdKbdTest = 0xab;
constexpr uint8_t kCmdKbdDisable = 0xad;
constexpr uint8_t kCmdKbdEnable = 0xae;
constexpr uint8_t kCmdReadOutputPort = 0xd0;
constexpr uint8_t kCmdWriteOutputPort = 0xd1;
constexpr uint8_t kCmdKbdLoop = 0xd2;
constexpr uint8_t kCmdAuxLoop = 0xd3;
constexpr uint8_t kCmdAuxSend = 0xd4;
constexpr uint8_t kCmdPulseReset = 0xfe;

constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;  // set once the self test passed
constexpr uint8_t kStatusCommand = 0x08;     // last write went to the command port
constexpr uint8_t kStatusUnlocked = 0x10;    // keyboard not inhibited (Linux warns "Keylock active")
constexpr uint8_t kStatusAuxData = 0x20;

constexpr uint8_t kCtrKbdDisabled = 0x10;
constexpr uint8_t kCtrAuxDisabled = 0x20;
constexpr uint8_t kCtrSystemFlag = 0x04;
constexpr uint8_t kSelfTestPassed = 0x55;
constexpr uint8_t kInterfaceOk = 0x00;
// Output port bit 0 low holds the CPU in reset (the A20/reset port).
constexpr uint8_t kOutputPortResetHigh = 0x01;
constexpr uint8_t kDefaultOutputPort = 0x03;  // reset line high, A20 enabled
}  // namespace

I8042::I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {
  s_.control = kCtrSystemFlag;
  s_.output_port = kDefaultOutputPort;
}

void I8042::reset() {
  std::lock_guard lock(mu_);
  s_ = I8042State{};
  s_.control = kCtrSystemFlag;
  s_.output_port = kDefaultOutputPort;
  out_.clear();
}

void I8042::push_output(uint8_t byte) {
  if (out_.size() < I8042State::kBufferSize) out_.push_back(byte);
}

void I8042::command(uint8_t cmd, bool& reset) {
  switch (cmd) {
    case kCmdReadCtr:
      push_output(s_.control);
      break;
    case kCmdWriteCtr:
    case kCmdWriteOutputPort:
    case kCmdKbdLoop:
    case kCmdAuxLoop:
    case kCmdAuxSend:
      s_.pending_command = cmd;  // the next byte on the data port completes it
      break;
    case kCmdAuxDisable:
      s_.control |= kCtrAuxDisabled;
      break;
    case kCmdAuxEnable:
      s_.control &= static_cast<uint8_t>(~kCtrAuxDisabled);
      break;
    case kCmdKbdDisable:
      s_.control |= kCtrKbdDisabled;
      break;
    case kCmdKbdEnable:
      s_.control &= static_cast<uint8_t>(~kCtrKbdDisabled);
      break;
    case kCmdSelfTest:
      push_output(kSelfTestPassed);
      break;
    case kCmdKbdTest:
    case kCmdAuxTest:
      push_output(kInterfaceOk);
      break;
    case kCmdReadOutputPort:
      push_output(s_.output_port);
      break;
    case kCmdPulseReset:
      reset = true;
      break;
    default:
      // Other commands (pulse other output lines, read test inputs) have no
      // effect on a controller without devices.
      break;
  }
}

void I8042::data(uint8_t value, bool& reset) {
  uint8_t cmd = s_.pending_command;
  s_.pending_command = 0;
  switch (cmd) {
    case kCmdWriteCtr:
      s_.control = value;
      break;
    case kCmdWriteOutputPort:
      s_.output_port = value;
      if ((value & kOutputPortResetHigh) == 0) reset = true;
      break;
    case kCmdKbdLoop:
      push_output(value);
      break;
    case kCmdAuxLoop:
      // Linux's AUX probe (i8042_check_aux) loops a byte through the mouse
      // port; echoing it tells the driver an AUX port exists, with nothing
      // behind it, which is harmless.
      push_output(value);
      s_.aux_output = 1;
      break;
    case kCmdAuxSend:
    default:
      // Bytes for the keyboard or mouse: none is attached, so no reply; the
      // driver times out and registers no input device.
      break;
  }
}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  if (data.empty()) return;
  std::memset(data.data(), 0, data.size());
  std::lock_guard lock(mu_);
  if (offset == kDataPort) {
    if (!out_.empty()) {
      data[0] = out_.front();
      out_.pop_front();
    }
    s_.aux_output = 0;
  } else if (offset == kCommandPort) {
    uint8_t status = kStatusSystemFlag | kStatusUnlocked;
    if (!out_.empty()) status |= kStatusOutputFull;
    if (s_.aux_output && !out_.empty()) status |= kStatusAuxData;
    if (s_.pending_command != 0) status |= kStatusCommand;
    data[0] = status;
  }
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    if (offset == kCommandPort) {
      command(data[0], reset);
    } else if (offset == kDataPort) {
      this->data(data[0], reset);
    }
    if (reset) ++reset_requests_;
  }
  if (reset && on_reset_) on_reset_();
}

uint64_t I8042::reset_requests() const {
  std::lock_guard lock(mu_);
  return reset_requests_;
}

Result<std::vector<uint8_t>> I8042::save_state() const {
  std::lock_guard lock(mu_);
  I8042State state = s_;
  state.out_count = static_cast<uint8_t>(out_.size());
  std::copy(out_.begin(), out_.end(), state.out);
  std::vector<uint8_t> bytes(sizeof(state));
  std::memcpy(bytes.data(), &state, sizeof(state));
  return bytes;
}

Result<void> I8042::restore_state(std::span<const uint8_t> bytes) {
  I8042State state;
  if (bytes.size() != sizeof(state)) {
    return Error::format("i8042 state is {} bytes; version {} is {} bytes", bytes.size(),
                         I8042State::kVersion, sizeof(state));
  }
  std::memcpy(&state, bytes.data(), sizeof(state));
  if (state.version != I8042State::kVersion) {
    return Error::format("i8042 state version {} is not the supported version {}", state.version,
                         I8042State::kVersion);
  }
  if (state.out_count > I8042State::kBufferSize) {
    return Error::format("i8042 state holds {} output bytes; the buffer holds {}", state.out_count,
                         I8042State::kBufferSize);
  }
  std::lock_guard lock(mu_);
  s_ = state;
  out_.assign(state.out, state.out + state.out_count);
  return Ok();
}

}  // namespace thaw::sandbox
