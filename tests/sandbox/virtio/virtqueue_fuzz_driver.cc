// Stand-in for libFuzzer's main() where the compiler lacks -fsanitize=fuzzer
// (GCC): feeds the virtqueue fuzz target a fixed-seed stream of random ring
// images and of valid rings with bytes flipped, for a bounded count.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// A well-formed ring image: 4 chains (direct, 3-long, indirect, writable
// pair) published in the avail ring, buffers in the upper part.
std::vector<uint8_t> valid_ring() {
  std::vector<uint8_t> img(0x2000, 0);
  auto desc = [&](int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    std::memcpy(&img[16 * i], &addr, 8);
    std::memcpy(&img[16 * i + 8], &len, 4);
    std::memcpy(&img[16 * i + 12], &flags, 2);
    std::memcpy(&img[16 * i + 14], &next, 2);
  };
  desc(0, 0x1000, 64, 0, 0);
  desc(1, 0x1040, 16, 1, 2);
  desc(2, 0x1050, 512, 1 | 2, 3);
  desc(3, 0x1250, 1, 2, 0);
  desc(4, 0x1800, 48, 4, 0);  // indirect table of 3 at 0x1800
  for (int i = 0; i < 3; ++i) {
    uint64_t a = 0x1300 + 0x40 * i;
    uint32_t l = 0x40;
    uint16_t f = static_cast<uint16_t>((i < 2 ? 1 : 0) | (i ? 2 : 0));
    uint16_t n = static_cast<uint16_t>(i + 1);
    std::memcpy(&img[0x1800 + 16 * i], &a, 8);
    std::memcpy(&img[0x1800 + 16 * i + 8], &l, 4);
    std::memcpy(&img[0x1800 + 16 * i + 12], &f, 2);
    std::memcpy(&img[0x1800 + 16 * i + 14], &n, 2);
  }
  desc(5, 0x1400, 44, 1, 6);
  desc(6, 0x1500, 100, 2, 0);
  uint16_t heads[4] = {0, 1, 4, 5};
  for (int i = 0; i < 4; ++i) std::memcpy(&img[0x104 + 2 * i], &heads[i], 2);
  uint16_t idx = 4;
  std::memcpy(&img[0x102], &idx, 2);
  img[0] = 0;  // ring position 0 (first two bytes double as the start index)
  img[1] = 0;
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  std::mt19937_64 rng(0x76697274ull);
  const std::vector<uint8_t> seed = valid_ring();
  std::vector<uint8_t> buf;
  for (long i = 0; i < iterations; ++i) {
    if (i % 4 != 3) {
      buf = seed;
      int flips = 1 + static_cast<int>(rng() % 8);
      // Mostly hit the descriptor table, avail ring and indirect table.
      for (int f = 0; f < flips; ++f) {
        size_t at = rng() % 3 == 0 ? 0x1800 + rng() % 48 : rng() % 0x120;
        buf[at] = static_cast<uint8_t>(rng());
      }
    } else {
      buf.resize(rng() % 0x2000);
      for (auto& b : buf) b = static_cast<uint8_t>(rng());
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("virtqueue fuzz driver: %ld inputs, no crash\n", iterations);
  return 0;
}
