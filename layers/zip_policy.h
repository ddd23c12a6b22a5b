// The limits a deployment package or layer ZIP must meet before thaw turns it
// into an image. Defaults are AWS Lambda's published quotas; the agent may
// tighten them per host. Read by the ZIP reader, the image store and the
// mount-plan builder.
#pragma once

#include <cstdint>

namespace thaw::layers {

struct ZipPolicy {
  // Lambda: "50 MB (zipped, for direct upload)".
  uint64_t max_zip_bytes = 50ull * 1024 * 1024;
  // Lambda: "250 MB (unzipped)" for code plus every layer; its error message
  // spells the number as 262144000 bytes.
  uint64_t max_unpacked_bytes = 262144000;
  // Lambda: "Up to five layers" per function.
  uint32_t max_layers = 5;
  // Files, directories (implicit ones too) and symlinks in one package; each
  // costs an inode in the image, so this bounds disk and memory while checking.
  uint64_t max_entries = 65536;
  // Unpacked bytes may exceed the ZIP size by at most this factor once more
  // than ratio_floor_bytes are out. Deflate alone tops out near 1032:1 per
  // entry; a larger overall ratio means overlapping entries or nested tricks.
  uint64_t max_ratio = 200;
  uint64_t ratio_floor_bytes = 16ull * 1024 * 1024;
  // Bytes of all names the package tree holds (implicit parents included):
  // deep names multiply through their parents, so this bounds memory.
  uint64_t max_total_name_bytes = 32ull * 1024 * 1024;
  // Linux PATH_MAX / NAME_MAX, and a depth no real package reaches.
  uint32_t max_path_bytes = 4095;
  uint32_t max_component_bytes = 255;
  uint32_t max_depth = 64;
};

}  // namespace thaw::layers
