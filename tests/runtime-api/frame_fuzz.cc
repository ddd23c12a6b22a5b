// Fuzz target for everything that parses bytes from the other side of the
// host<->guest channel: the frame stream decoder and every payload codec.
// Built with -fsanitize=fuzzer where the compiler has libFuzzer; otherwise
// frame_fuzz_driver.cc runs it over seeded random and mutated inputs.
#include <cstddef>
#include <cstdint>
#include <span>

#include "runtime-api/frame.h"
#include "runtime-api/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  thaw::FrameDecoder decoder;
  // Feed in two uneven pieces so partial-header paths run too.
  size_t cut = size / 3;
  (void)decoder.feed(bytes.first(cut));
  (void)decoder.next();
  (void)decoder.feed(bytes.subspan(cut));
  for (int i = 0; i < 64; ++i) {
    auto frame = decoder.next();
    if (!frame.ok() || !frame->has_value()) break;
    const auto& p = (*frame)->payload;
    (void)thaw::decode_init_config(p);
    (void)thaw::decode_invocation(p);
    (void)thaw::decode_error_report(p);
    (void)thaw::decode_log_chunk(p);
    (void)thaw::decode_metrics(p);
    (void)thaw::decode_ready(p);
    (void)thaw::decode_restore_notice(p);
  }
  (void)thaw::decode_init_config(bytes);
  (void)thaw::decode_invocation(bytes);
  if (size >= thaw::kFrameHeaderSize) (void)thaw::decode_header(bytes.first(thaw::kFrameHeaderSize));
  return 0;
}
