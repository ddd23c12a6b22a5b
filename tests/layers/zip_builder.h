// Test helpers that build ZIP packages in memory: ZipBuilder goes through
// libarchive's writer (deflate, like real zip tools); RawZip writes the bytes
// by hand (stored entries, APPNOTE 4.3) for entries no tool would write —
// FIFOs, devices, encrypted flags, duplicate or absolute names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace thaw::layers::testing {

class ZipBuilder {
 public:
  ZipBuilder& file(std::string name, std::string content, uint32_t mode = 0644);
  ZipBuilder& dir(std::string name, uint32_t mode = 0755);
  ZipBuilder& symlink(std::string name, std::string target);
  // deflate = false stores the bytes uncompressed.
  std::vector<uint8_t> build(bool deflate = true) const;

 private:
  struct Entry {
    std::string name, content;
    uint32_t type, mode;
  };
  std::vector<Entry> entries_;
};

class RawZip {
 public:
  struct Entry {
    std::string name;
    std::string data;
    uint32_t unix_mode = 0100644;  // file type bits included, as in external attributes
    uint16_t flags = 0;            // bit 0: encrypted (APPNOTE 4.4.4)
    // >= 0: no local header or data of its own; the directory entry points at
    // entry `same_data_as`'s (the overlapping-files zip bomb).
    int same_data_as = -1;
  };
  RawZip& add(Entry e);
  std::vector<uint8_t> build() const;

 private:
  std::vector<Entry> entries_;
};

uint32_t crc32(const std::string& data);

}  // namespace thaw::layers::testing
