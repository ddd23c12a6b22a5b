#include "layers/zip_directory.h"

#include <archive_entry.h>

#include <algorithm>
#include <string>
#include <vector>

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
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr size_t kCentralFixed = 46;
constexpr size_t kLocalFixed = 30;
constexpr unsigned kHostUnix = 3;  // APPNOTE 4.4.2.2, "version made by" upper byte
constexpr uint16_t kZip64ExtraId = 0x0001;

// Where one entry's local header and data lie in the file.
struct Span {
  uint64_t begin, end;  // [local header, end of its data)
  uint64_t index;       // 1-based entry number
  size_t header;        // its central directory header
};

std::string_view name_at(std::span<const uint8_t> zip, size_t cd_header) {
  return {reinterpret_cast<const char*>(zip.data() + cd_header + kCentralFixed),
          static_cast<size_t>(load_le(zip, cd_header + 28, 2))};
}

// The compressed size and local header offset, taking the ZIP64 extended
// information extra field (APPNOTE 4.5.3) when the 32-bit fields say 0xFFFFFFFF.
Result<Span> data_span(std::span<const uint8_t> zip, size_t cd, uint64_t index, uint64_t shift,
                       size_t directory_start) {
  uint64_t usize = load_le(zip, cd + 24, 4);
  uint64_t csize = load_le(zip, cd + 20, 4);
  uint64_t offset = load_le(zip, cd + 42, 4);
  if (usize == 0xffffffff || csize == 0xffffffff || offset == 0xffffffff) {
    size_t x = cd + kCentralFixed + load_le(zip, cd + 28, 2);
    size_t x_end = x + load_le(zip, cd + 30, 2);
    while (x + 4 <= x_end) {
      uint64_t id = load_le(zip, x, 2), len = load_le(zip, x + 2, 2);
      size_t f = x + 4, f_end = std::min<size_t>(x + 4 + len, x_end);
      if (id == kZip64ExtraId) {
        for (uint64_t* field : {&usize, &csize, &offset}) {
          if (*field != 0xffffffff) continue;
          if (f + 8 > f_end) return Error::format("its ZIP64 extra field is cut short");
          *field = load_le(zip, f, 8);
          f += 8;
        }
        break;
      }
      x = f + len;
    }
  }
  if (offset > directory_start || directory_start - offset < shift + kLocalFixed ||
      load_le(zip, offset + shift, 4) != kLocalSig) {
    return Error::format(
        "no local file header at offset {} where the directory points; the archive is "
        "truncated or corrupt",
        offset);
  }
  uint64_t begin = offset + shift;
  uint64_t data = begin + kLocalFixed + load_le(zip, begin + 26, 2) + load_le(zip, begin + 28, 2);
  if (csize > directory_start || data + csize > directory_start) {
    return Error::format(
        "its data ({} bytes at offset {}) runs into the central directory; the archive is "
        "truncated or corrupt",
        csize, data);
  }
  return Span{begin, data + csize, index, cd};
}

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
  // Local headers sit before the directory; when bytes were prepended, the
  // recorded offsets are short by the same amount as the directory's.
  uint64_t shift = start - std::min<uint64_t>(end->cd_offset, start);
  std::vector<Span> spans;
  spans.reserve(end->entries);
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
    auto span = data_span(zip, at, i, shift, start);
    if (!span) return std::move(span).error().context(fmt::format("ZIP entry #{} '{}'", i,
                                                                   printable_name(name)));
    spans.push_back(*span);
    at = next;
  }
  // Entries sharing or overlapping data are the "overlapping files" zip bomb
  // (and libarchive silently drops such entries, so the package would not be
  // what its directory says).
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.index < b.index;
            });
  for (size_t k = 1; k < spans.size(); ++k) {
    if (spans[k].begin < spans[k - 1].end) {
      return Error::format(
          "ZIP entry #{} '{}' overlaps the data of entry #{} '{}', a zip bomb technique; "
          "re-create the archive with a standard zip tool",
          spans[k].index, printable_name(name_at(zip, spans[k].header)), spans[k - 1].index,
          printable_name(name_at(zip, spans[k - 1].header)));
    }
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
