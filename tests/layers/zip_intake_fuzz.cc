// libFuzzer target for the ZIP intake path: every input goes through the
// central-directory scan, libarchive, the entry checks and the openat-based
// writer into a scratch directory, exactly as ImageStore::put does before
// mkfs.erofs. Built by clang (see meson.build here: a custom target when the
// project compiler is gcc); run bounded by `meson test --suite fuzz`.
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "layers/directory_sink.h"
#include "layers/zip_reader.h"

namespace {

// Small limits keep each run fast and its disk use bounded; the checks are
// the same code paths as with the real limits.
thaw::layers::ZipPolicy fuzz_policy() {
  thaw::layers::ZipPolicy p;
  p.max_zip_bytes = 1 << 20;
  p.max_unpacked_bytes = 8 << 20;
  p.max_entries = 512;
  p.ratio_floor_bytes = 1 << 20;
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string base = [] {
    std::string templ = (std::filesystem::temp_directory_path() / "thaw-zipfuzz-XXXXXX").string();
    if (!::mkdtemp(templ.data())) abort();
    return templ;
  }();
  static const thaw::layers::ZipPolicy policy = fuzz_policy();
  std::string root = base + "/root";
  auto sink = thaw::layers::DirectorySink::create(root);
  if (!sink) abort();  // the scratch root must always be creatable
  auto stats = thaw::layers::read_zip({data, size}, policy, *sink);
  if (stats) {
    if (!sink->finish()) abort();
    // What was accepted must respect the limits it was checked against.
    if (stats->unpacked_bytes > policy.max_unpacked_bytes || stats->nodes > policy.max_entries) {
      abort();
    }
  }
  thaw::remove_tree(root);
  return 0;
}
