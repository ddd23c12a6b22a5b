// Writes checked ZIP entries below one private directory. Every path is
// walked component by component with openat(O_NOFOLLOW), so a symlink that an
// earlier entry created can never redirect a later write outside the root.
// Used by the image store (the tree then goes to mkfs.erofs) and the fuzzer.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/unique_fd.h"
#include "layers/zip_reader.h"

namespace thaw::layers {

class DirectorySink : public EntrySink {
 public:
  // Creates `path` (mode 0700, must not exist) and writes below it.
  static Result<DirectorySink> create(const std::string& path);

  Result<void> directory(const std::string& path, uint32_t mode, int64_t mtime) override;
  Result<void> begin_file(const std::string& path, uint32_t mode, int64_t mtime) override;
  Result<void> file_data(std::span<const uint8_t> chunk) override;
  Result<void> end_file() override;
  Result<void> symlink(const std::string& path, const std::string& target,
                       int64_t mtime) override;

  // Gives directories their final modes and times, deepest first (they stay
  // 0700 while entries are written into them). Call once, after read_zip.
  Result<void> finish();

  const std::string& root() const { return root_path_; }

 private:
  struct DirState {
    uint32_t mode = 0755;  // implicit directories get the usual mode
    int64_t mtime = -1;    // -1: keep the time of creation
  };
  DirectorySink(std::string root_path, UniqueFd root)
      : root_path_(std::move(root_path)), root_(std::move(root)) {}
  // Opens (creating when missing) the directory `dir` below the root.
  Result<int> open_dir(std::string_view dir);

  std::string root_path_;
  UniqueFd root_;
  std::string cached_dir_;  // the last directory opened, reused while entries share it
  UniqueFd cached_fd_;
  std::map<std::string, DirState> dirs_;
  UniqueFd file_;
  std::string file_path_;
  uint32_t file_mode_ = 0;
  int64_t file_mtime_ = 0;
};

}  // namespace thaw::layers
