#include "tests/snapshot/restore_notice_host.h"

#include <poll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "common/file_util.h"
#include "runtime-api/hybrid_vsock.h"

namespace thaw::snapshot::testing {

uint64_t fnv1a64(std::span<const uint8_t> bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : bytes) h = (h ^ b) * 0x100000001b3ull;
  return h;
}

Result<RestoreIdentity> fresh_restore_identity() {
  uint8_t random[16 + 64];
  if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
    return Error::from_errno("getrandom for a restore identity");
  }
  // RFC 9562 version 4, variant 10.
  random[6] = static_cast<uint8_t>((random[6] & 0x0f) | 0x40);
  random[8] = static_cast<uint8_t>((random[8] & 0x3f) | 0x80);
  RestoreIdentity id;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id.sandbox_id += '-';
    id.sandbox_id += fmt::format("{:02x}", random[i]);
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  id.notice.wall_clock_ns =
      static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(now.tv_nsec);
  id.notice.entropy.assign(random + 16, random + sizeof random);
  id.entropy_fnv1a = fnv1a64(id.notice.entropy);
  return id;
}

Result<Frame> deliver_restore_notice(const std::string& uds_path, uint32_t port,
                                     const RestoreIdentity& identity, int timeout_ms,
                                     std::chrono::steady_clock::time_point* connected_at) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto fd = connect_hybrid_vsock(uds_path, port, timeout_ms);
  if (!fd) return std::move(fd).error();
  if (connected_at != nullptr) *connected_at = std::chrono::steady_clock::now();
  Frame notice;
  notice.type = FrameType::kRestoreNotice;
  notice.request_id = identity.sandbox_id;
  notice.payload = encode_restore_notice(identity.notice);
  auto bytes = encode_frame(notice);
  if (!bytes) return std::move(bytes).error();
  if (auto r = write_all(fd->get(), *bytes, "the restore notice"); !r) return std::move(r).error();

  FrameDecoder decoder;
  uint8_t buf[4096];
  for (;;) {
    auto next = decoder.next();
    if (!next) return std::move(next).error().context("the guest's answer to the restore notice");
    if (*next) return std::move(**next);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd->get(), POLLIN, 0};
    int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      return Error::format("no frame from the guest within {} ms of the restore notice "
                           "({} bytes buffered)",
                           timeout_ms, decoder.buffered());
    }
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("reading the guest's answer to the restore notice");
    if (n == 0) return Error::format("the guest closed the channel without answering the notice");
    if (auto r = decoder.feed({buf, static_cast<size_t>(n)}); !r) return std::move(r).error();
  }
}

}  // namespace thaw::snapshot::testing
