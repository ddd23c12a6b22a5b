// Little-endian byte writer and bounds-checked reader for the project's
// binary formats (snapshot state, working-set files). The reader never reads
// past its span: every take reports a precise error naming the field.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/result.h"

namespace thaw {

class ByteWriter {
 public:
  template <typename T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_bytes(std::span<const uint8_t> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
  }
  // u32 length + bytes.
  void put_blob(std::span<const uint8_t> bytes) {
    put(static_cast<uint32_t>(bytes.size()));
    put_bytes(bytes);
  }
  void put_string(std::string_view s) {
    put_blob({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }
  size_t size() const { return out_.size(); }
  std::vector<uint8_t>& bytes() { return out_; }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : in_(in) {}

  template <typename T>
  Result<T> get(std::string_view field) {
    static_assert(std::is_trivially_copyable_v<T>);
    auto bytes = get_bytes(sizeof(T), field);
    if (!bytes) return std::move(bytes).error();
    T value;
    std::memcpy(&value, bytes->data(), sizeof(T));
    return value;
  }
  Result<std::span<const uint8_t>> get_bytes(size_t n, std::string_view field) {
    if (n > in_.size() - pos_) {
      return Error::format("{}: needs {} bytes at offset {}, only {} left", field, n, pos_,
                           in_.size() - pos_);
    }
    auto out = in_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  // u32 length + bytes, the length bounded by max_len.
  Result<std::span<const uint8_t>> get_blob(size_t max_len, std::string_view field) {
    auto len = get<uint32_t>(field);
    if (!len) return std::move(len).error();
    if (*len > max_len) {
      return Error::format("{}: length {} exceeds the limit of {}", field, *len, max_len);
    }
    return get_bytes(*len, field);
  }
  Result<std::string> get_string(size_t max_len, std::string_view field) {
    auto blob = get_blob(max_len, field);
    if (!blob) return std::move(blob).error();
    return std::string(reinterpret_cast<const char*>(blob->data()), blob->size());
  }
  size_t remaining() const { return in_.size() - pos_; }
  size_t offset() const { return pos_; }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

}  // namespace thaw
