#include "layers/zip_directory.h"

#include <archive_entry.h>

#include <string>

#include "layers/entry_path.h"

namespace thaw::layers {

namespace {

uint64_t load_le(std::span<const uint8_t> b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | b[at + static_cast<size_t>(i)];
  return v;
}

constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kZip64EocdMinSize = 56;

struct EndRecord {
  size_t at;            // offset of the end-of-central-directory record
  uint64_t entries;     // total entries it declares
  uint64_t cd_size;
  uint64_t cd_offset;
};

Result<EndRecord> find_end_record(std::span<const uint8_t> zip) {
  if (zip.size() < kEocdSize) {
    return Error::format(
        "the package is {} bytes, too short to be a ZIP archive (at least {} bytes); upload "
        "the .zip file itself",
        zip.size(), kEocdSize);
  }
  // The record sits at the end, followed only by a comment of up to 65535 bytes.
  size_t lowest = zip.size() >= kEocdSize + 0xffff ? zip.size() - kEocdSize - 0xffff : 0;
  for (size_t at = zip.size() - kEocdSize + 1; at-- > lowest;) {
    if (load_le(zip, at, 4) != kEocdSig) continue;
    uint64_t comment = load_le(zip, at + 20, 2);
    if (at + kEocdSize + comment > zip.size()) continue;
    EndRecord end{at, load_le(zip, at + 10, 2), load_le(zip, at + 12, 4),
                  load_le(zip, at + 16, 4)};
    bool zip64 = end.entries == 0xffff || end.cd_size == 0xffffffff ||
                 end.cd_offset == 0xffffffff;
    if (!zip64 || at < kZip64LocatorSize) return end;
    size_t loc = at - kZip64LocatorSize;
    if (load_le(zip, loc, 4) != kZip64LocatorSig) return end;
    uint64_t rec = load_le(zip, loc + 8, 8);
    if (rec > zip.size() || zip.size() - rec < kZip64EocdMinSize ||
        load_le(zip, rec, 4) != kZip64EocdSig) {
      return Error::format(
          "the ZIP64 end-of-central-directory locator points at offset {}, where no ZIP64 "
          "record is; the archive is truncated or corrupt",
          rec);
    }
    end.entries = load_le(zip, rec + 32, 8);
    end.cd_size = load_le(zip, rec + 40, 8);
    end.cd_offset = load_le(zip, rec + 48, 8);
    return end;
  }
  return Error::format(
      "the package is not a ZIP archive: no end-of-central-directory record in its last "
      "{} bytes (is it truncated?); upload the complete .zip file",
      zip.size() - lowest);
}

constexpr uint32_t kCentralSig = 0x02014b50;
constexpr size_t kCentralFixed = 46;
constexpr unsigned kHostUnix = 3;  // APPNOTE 4.4.2.2, "version made by" upper byte

}  // namespace

Result<uint64_t> scan_central_directory(std::span<const uint8_t> zip, uint64_t max_entries) {
  auto end = find_end_record(zip);
  if (!end) return std::move(end).error();
  if (end->entries > max_entries) {
    return Error::format(
        "the ZIP's central directory declares {} entries, over the limit of {}; package "
        "fewer files",
        end->entries, max_entries);
  }
  if (end->entries == 0) {
    return Error::format("the ZIP has no entries; add the function's files to it");
  }
  // Where the directory really starts: at its recorded offset, or (when
  // something was prepended, as in self-extracting archives) right before
  // the end record.
  size_t start = SIZE_MAX;
  if (end->cd_offset < end->at && end->cd_offset + 4 <= zip.size() &&
      load_le(zip, end->cd_offset, 4) == kCentralSig) {
    start = end->cd_offset;
  } else if (end->cd_size <= end->at && load_le(zip, end->at - end->cd_size, 4) == kCentralSig) {
    start = end->at - end->cd_size;
  }
  if (start == SIZE_MAX) {
    return Error::format(
        "the ZIP's central directory is not where its end record says (offset {}, {} bytes); "
        "the archive is truncated or corrupt, re-create it",
        end->cd_offset, end->cd_size);
  }
  // libarchive reads file types only for the kinds it unpacks and reports a
  // FIFO as a regular file, so the kinds a package may not hold are refused
  // here, from the Unix mode in the external attributes (APPNOTE 4.4.15).
  size_t at = start;
  for (uint64_t i = 1; i <= end->entries; ++i) {
    if (at + kCentralFixed > end->at || load_le(zip, at, 4) != kCentralSig) {
      return Error::format(
          "ZIP entry #{}: its central directory header is missing or cut short; the archive "
          "is truncated or corrupt, re-create it",
          i);
    }
    size_t name_len = load_le(zip, at + 28, 2);
    size_t extra_len = load_le(zip, at + 30, 2);
    size_t comment_len = load_le(zip, at + 32, 2);
    size_t next = at + kCentralFixed + name_len + extra_len + comment_len;
    if (next > end->at) {
      return Error::format(
          "ZIP entry #{}: its central directory header runs past the directory's end; the "
          "archive is corrupt",
          i);
    }
    std::string name(reinterpret_cast<const char*>(zip.data() + at + kCentralFixed), name_len);
    uint32_t mode = static_cast<uint32_t>(load_le(zip, at + 38, 4) >> 16);
    if ((load_le(zip, at + 4, 2) >> 8) == kHostUnix) {
      mode_t type = mode & AE_IFMT;
      if (type == AE_IFIFO || type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
        return Error::format(
            "ZIP entry #{} '{}': it is {}; packages may hold only files, directories and "
            "symlinks",
            i, printable_name(name), filetype_name(type));
      }
    }
    at = next;
  }
  return end->entries;
}

const char* filetype_name(mode_t type) {
  switch (type) {
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a FIFO";
    case AE_IFSOCK: return "a socket";
    default: return "an unknown file type";
  }
}

}  // namespace thaw::layers
