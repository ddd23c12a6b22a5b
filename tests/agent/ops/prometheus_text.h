// A strict reader of Prometheus text exposition 0.0.4 for the tests: every
// line is a # HELP/# TYPE comment or `name{labels} value`, each series once.
// Returns series (name plus label block as written) -> value. Used by the
// metrics unit test and the thawd/thawctl integration test.
#pragma once

#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "common/result.h"

namespace thaw::agent::ops {

inline Result<std::map<std::string, double>> parse_prometheus_text(const std::string& text) {
  static const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")"
      R"((?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})?) )"
      R"(([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[-+]Inf|NaN)$)");
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (!std::regex_match(line, comment)) return Error::format("line {}: bad comment '{}'", n, line);
      continue;
    }
    std::smatch m;
    if (!std::regex_match(line, m, sample)) return Error::format("line {}: bad sample '{}'", n, line);
    if (!out.emplace(m[1].str(), std::strtod(m[2].str().c_str(), nullptr)).second) {
      return Error::format("line {}: series {} given twice", n, m[1].str());
    }
  }
  return out;
}

}  // namespace thaw::agent::ops
