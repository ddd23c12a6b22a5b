#include "tests/layers/zip_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <array>
#include <stdexcept>

namespace thaw::layers::testing {

ZipBuilder& ZipBuilder::file(std::string name, std::string content, uint32_t mode) {
  entries_.push_back({std::move(name), std::move(content), AE_IFREG, mode});
  return *this;
}
ZipBuilder& ZipBuilder::dir(std::string name, uint32_t mode) {
  entries_.push_back({std::move(name), "", AE_IFDIR, mode});
  return *this;
}
ZipBuilder& ZipBuilder::symlink(std::string name, std::string target) {
  entries_.push_back({std::move(name), std::move(target), AE_IFLNK, 0777});
  return *this;
}

namespace {

la_ssize_t append(archive*, void* out, const void* buf, size_t n) {
  auto* v = static_cast<std::vector<uint8_t>*>(out);
  v->insert(v->end(), static_cast<const uint8_t*>(buf), static_cast<const uint8_t*>(buf) + n);
  return static_cast<la_ssize_t>(n);
}

void check(archive* a, int r) {
  if (r < ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
}

void put_le(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

std::vector<uint8_t> ZipBuilder::build(bool deflate) const {
  std::vector<uint8_t> out;
  archive* a = archive_write_new();
  check(a, archive_write_set_format_zip(a));
  check(a, deflate ? archive_write_zip_set_compression_deflate(a)
                   : archive_write_zip_set_compression_store(a));
  check(a, archive_write_set_bytes_in_last_block(a, 1));
  check(a, archive_write_open(a, &out, nullptr, append, nullptr));
  for (const auto& e : entries_) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.name.c_str());
    archive_entry_set_filetype(ae, e.type);
    archive_entry_set_perm(ae, e.mode);
    archive_entry_set_mtime(ae, 1700000000, 0);
    if (e.type == AE_IFLNK) {
      archive_entry_set_symlink(ae, e.content.c_str());
    } else if (e.type == AE_IFREG) {
      archive_entry_set_size(ae, static_cast<la_int64_t>(e.content.size()));
    }
    check(a, archive_write_header(a, ae));
    if (e.type == AE_IFREG && !e.content.empty()) {
      if (archive_write_data(a, e.content.data(), e.content.size()) < 0) check(a, ARCHIVE_FATAL);
    }
    archive_entry_free(ae);
  }
  check(a, archive_write_close(a));
  archive_write_free(a);
  return out;
}

uint32_t crc32(const std::string& data) {
  // CRC-32 as ZIP uses it (APPNOTE 4.4.7): reflected polynomial 0xEDB88320.
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : data) crc = table[(crc ^ c) & 0xff] ^ (crc >> 8);
  return ~crc;
}

RawZip& RawZip::add(Entry e) {
  entries_.push_back(std::move(e));
  return *this;
}

std::vector<uint8_t> RawZip::build() const {
  std::vector<uint8_t> out, central;
  std::vector<uint64_t> offsets;
  for (const auto& e : entries_) {
    uint64_t offset = out.size();
    uint32_t crc = crc32(e.data);
    bool alias = e.same_data_as >= 0;
    if (alias) offset = offsets.at(static_cast<size_t>(e.same_data_as));
    offsets.push_back(offset);
    // Local file header (APPNOTE 4.3.7); DOS time 2023-01-01 00:00.
    std::vector<uint8_t> local;
    std::vector<uint8_t>& out_local = alias ? local : out;
    put_le(out_local, 0x04034b50, 4);
    put_le(out_local, 20, 2);
    put_le(out_local, e.flags, 2);
    put_le(out_local, 0, 2);  // stored
    put_le(out_local, 0, 2);
    put_le(out_local, (43 << 9) | (1 << 5) | 1, 2);
    put_le(out_local, crc, 4);
    put_le(out_local, e.data.size(), 4);
    put_le(out_local, e.data.size(), 4);
    put_le(out_local, e.name.size(), 2);
    put_le(out_local, 0, 2);
    out_local.insert(out_local.end(), e.name.begin(), e.name.end());
    out_local.insert(out_local.end(), e.data.begin(), e.data.end());
    // Central directory header (APPNOTE 4.3.12), "made by" Unix so the
    // external attributes carry st_mode in their high 16 bits.
    put_le(central, 0x02014b50, 4);
    put_le(central, (3 << 8) | 20, 2);
    put_le(central, 20, 2);
    put_le(central, e.flags, 2);
    put_le(central, 0, 2);
    put_le(central, 0, 2);
    put_le(central, (43 << 9) | (1 << 5) | 1, 2);
    put_le(central, crc, 4);
    put_le(central, e.data.size(), 4);
    put_le(central, e.data.size(), 4);
    put_le(central, e.name.size(), 2);
    put_le(central, 0, 2);
    put_le(central, 0, 2);
    put_le(central, 0, 2);
    put_le(central, 0, 2);
    put_le(central, static_cast<uint64_t>(e.unix_mode) << 16, 4);
    put_le(central, offset, 4);
    central.insert(central.end(), e.name.begin(), e.name.end());
  }
  uint64_t cd_offset = out.size();
  out.insert(out.end(), central.begin(), central.end());
  put_le(out, 0x06054b50, 4);
  put_le(out, 0, 2);
  put_le(out, 0, 2);
  put_le(out, entries_.size(), 2);
  put_le(out, entries_.size(), 2);
  put_le(out, central.size(), 4);
  put_le(out, cd_offset, 4);
  put_le(out, 0, 2);
  return out;
}

}  // namespace thaw::layers::testing
