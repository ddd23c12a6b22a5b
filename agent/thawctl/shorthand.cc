#include "agent/thawctl/shorthand.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace thaw::thawctl {
namespace json = boost::json;

namespace {

constexpr size_t kMaxArgumentFileBytes = 64u << 20;  // a 50 MB ZIP plus room
constexpr int kMaxDepth = 16;

class ShorthandParser {
 public:
  explicit ShorthandParser(std::string_view text) : s_(text) {}

  Result<json::value> parse_top() {
    json::object o;
    if (auto e = parse_pairs(o, '\0', 0)) return *e;
    return json::value(std::move(o));
  }

 private:
  std::optional<Error> fail(std::string_view what) const {
    return Error::format("shorthand syntax: {} at character {} of '{}' (expected KEY=VALUE pairs "
                         "separated by commas; nest with {{}} and lists with [])",
                         what, pos_ + 1, s_);
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  void skip_space() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }

  // A quoted ('..' or "..", backslash escapes) or bare token; bare ends at
  // any of `stops` (unescaped).
  std::optional<Error> token(std::string& out, std::string_view stops) {
    skip_space();
    out.clear();
    if (peek() == '"' || peek() == '\'') {
      char q = s_[pos_++];
      while (!at_end() && s_[pos_] != q) {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
        out += s_[pos_++];
      }
      if (at_end()) return fail("unterminated quoted string");
      ++pos_;
      skip_space();
      return std::nullopt;
    }
    while (!at_end() && stops.find(s_[pos_]) == std::string_view::npos) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
      out += s_[pos_++];
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t')) out.pop_back();
    return std::nullopt;
  }

  std::optional<Error> parse_value(json::value& out, int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than 16 levels");
    skip_space();
    if (peek() == '{') {
      ++pos_;
      json::object o;
      if (auto e = parse_pairs(o, '}', depth + 1)) return e;
      out = std::move(o);
      return std::nullopt;
    }
    if (peek() == '[') {
      ++pos_;
      json::array a;
      skip_space();
      if (peek() == ']') {
        ++pos_;
        out = std::move(a);
        return std::nullopt;
      }
      for (;;) {
        json::value v;
        if (auto e = parse_value(v, depth + 1)) return e;
        a.push_back(std::move(v));
        skip_space();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() == ']') {
          ++pos_;
          break;
        }
        return fail("expected ',' or ']' in a list");
      }
      out = std::move(a);
      return std::nullopt;
    }
    std::string v;
    if (auto e = token(v, ",}]")) return e;
    out = json::string(v);
    return std::nullopt;
  }

  // KEY=VALUE[,KEY=VALUE...] up to `close` ('\0': the end of the text).
  std::optional<Error> parse_pairs(json::object& o, char close, int depth) {
    skip_space();
    if (close != '\0' && peek() == close) {
      ++pos_;
      return std::nullopt;
    }
    for (;;) {
      std::string key;
      if (auto e = token(key, "=,{}[]")) return e;
      if (key.empty()) return fail("missing key");
      if (peek() != '=') return fail("expected '=' after key '" + key + "'");
      ++pos_;
      json::value v;
      if (auto e = parse_value(v, depth)) return e;
      if (o.contains(key)) return fail("key '" + key + "' given twice");
      o[key] = std::move(v);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (close != '\0' && peek() == close) {
        ++pos_;
        return std::nullopt;
      }
      if (close == '\0' && at_end()) return std::nullopt;
      return fail(close == '\0' ? "unexpected character" : "expected ',' or '}'");
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

Result<std::string> read_whole(std::string_view flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error::format("{}: cannot read '{}': {}; give an existing file after the prefix", flag,
                         path, Error::errno_text(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  if (data.size() > kMaxArgumentFileBytes) {
    return Error::format("{}: '{}' is {} bytes, over the {} byte limit", flag, path, data.size(),
                         kMaxArgumentFileBytes);
  }
  return data;
}

}  // namespace

Result<json::value> parse_shorthand(std::string_view text) {
  return ShorthandParser(text).parse_top();
}

Result<json::value> parse_structured(std::string_view flag, std::string_view text) {
  std::string loaded;
  if (text.starts_with("file://") || text.starts_with("fileb://")) {
    auto data = read_blob_argument(flag, text, false);
    if (!data) return std::move(data).error();
    loaded = std::move(*data);
    text = loaded;
  }
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) {
      return Error::format("{}: invalid JSON ({}); give JSON like '{{\"Key\":\"value\"}}' or "
                           "shorthand like 'Key=value'",
                           flag, ec.message());
    }
    return v;
  }
  auto v = parse_shorthand(text);
  if (!v) return v.error().context(flag);
  return v;
}

Result<void> to_number_values(json::value& object, std::string_view what) {
  if (!object.is_object()) return Error::format("{} must be a map of KEY=NUMBER", what);
  for (auto& [k, v] : object.as_object()) {
    if (v.is_number()) continue;
    if (!v.is_string()) return Error::format("{}: the value of '{}' must be a number", what, k);
    std::string s(v.as_string());
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0') {  // an integer stays one ("Size=1024")
      v = static_cast<int64_t>(n);
      continue;
    }
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') {
      return Error::format("{}: the value of '{}' is '{}', not a number", what, k, s);
    }
    v = d;
  }
  return Ok();
}

Result<std::string> read_blob_argument(std::string_view flag, std::string_view value,
                                       bool allow_plain) {
  for (std::string_view prefix : {"fileb://", "file://"}) {
    if (value.starts_with(prefix)) return read_whole(flag, std::string(value.substr(prefix.size())));
  }
  if (allow_plain) return std::string(value);
  return Error::format("{}: '{}' is not a file reference; write fileb://PATH (e.g. "
                       "fileb://function.zip)",
                       flag, value);
}

}  // namespace thaw::thawctl
