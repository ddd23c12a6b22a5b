// Split-ring constants and the EVENT_IDX test from virtio 1.2 §2.7, kept
// here because <linux/virtio_ring.h> does not compile as C++. Used by the
// virtqueue, the transport and the test-side driver.
#pragma once

#include <cstdint>

namespace thaw::sandbox::virtio {

// Descriptor flags, §2.7.5.
inline constexpr uint16_t kDescFNext = 1;
inline constexpr uint16_t kDescFWrite = 2;
inline constexpr uint16_t kDescFIndirect = 4;
// Available ring flags, §2.7.6 / used ring flags, §2.7.8.
inline constexpr uint16_t kAvailFNoInterrupt = 1;
inline constexpr uint16_t kUsedFNoNotify = 1;

// Ring feature bits, §6.
inline constexpr unsigned kFeatureIndirectDesc = 28;
inline constexpr unsigned kFeatureEventIdx = 29;
inline constexpr unsigned kFeatureVersion1 = 32;

// §2.7.10: true when new_idx moved past event_idx since old_idx, with
// 16-bit wrap-around.
inline bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

}  // namespace thaw::sandbox::virtio
