// Stand-in for libFuzzer's main() on compilers without -fsanitize=fuzzer:
// runs the frame fuzz target over a fixed-seed stream of random buffers and
// of valid frames with bytes flipped, for a bounded number of iterations.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "runtime-api/frame.h"
#include "runtime-api/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  std::mt19937_64 rng(0x7468617700ull);
  thaw::InitConfig config;
  config.function_name = "f";
  config.environment = {{"A", "B"}};
  config.mounts = {{"/src", "/dst", "bind", "", true}};
  thaw::Frame seed;
  seed.type = thaw::FrameType::kInitConfig;
  seed.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
  seed.payload = thaw::encode_init_config(config);
  auto valid = thaw::encode_frame(seed);
  if (!valid.ok()) return 1;
  std::vector<uint8_t> buf;
  for (long i = 0; i < iterations; ++i) {
    if (i % 2 == 0) {
      buf = *valid;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) buf[rng() % buf.size()] = static_cast<uint8_t>(rng());
      if (rng() % 4 == 0) buf.resize(rng() % buf.size());
    } else {
      buf.resize(rng() % 512);
      for (auto& b : buf) b = static_cast<uint8_t>(rng());
    }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("frame fuzz driver: %ld inputs, no crash\n", iterations);
  return 0;
}
