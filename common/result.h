// Errors as values: Result<T> holds a T or an Error with a precise message.
// Used by every library; expected failures never throw (see STYLE.md).
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace thaw {

struct Error {
  std::string message;
  int sys_errno = 0;  // errno behind the failure, 0 when none

  // Error("open {}: ...", path): a message naming the thing and the limit.
  template <typename... Args>
  static Error format(fmt::format_string<Args...> f, Args&&... args) {
    return Error{fmt::format(f, std::forward<Args>(args)...), 0};
  }
  // Appends strerror(errno) to the message; call right after the failing syscall.
  template <typename... Args>
  static Error from_errno(fmt::format_string<Args...> f, Args&&... args) {
    int saved = errno;
    return with_errno(saved, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  static Error with_errno(int err, fmt::format_string<Args...> f, Args&&... args) {
    return Error{fmt::format("{}: {}", fmt::format(f, std::forward<Args>(args)...),
                             errno_text(err)),
                 err};
  }
  // Prefixes context: "loading snapshot: " + message.
  Error context(std::string_view what) const {
    return Error{fmt::format("{}: {}", what, message), sys_errno};
  }
  static std::string errno_text(int err);
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

}  // namespace thaw
