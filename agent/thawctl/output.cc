#include "agent/thawctl/output.h"

#include <algorithm>
#include <map>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace thaw::thawctl {
namespace json = boost::json;

namespace {

bool is_scalar(const json::value& v) { return !v.is_object() && !v.is_array(); }

std::string json_scalar(const json::value& v) {
  if (v.is_double()) {
    double d = v.as_double();
    std::string s = fmt::format("{}", d);
    // Keep it a JSON number that reads back as a double.
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }
  return json::serialize(v);
}

void pretty(std::string& out, const json::value& v, int indent) {
  std::string pad(static_cast<size_t>(indent + 4), ' ');
  std::string close_pad(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    size_t i = 0;
    for (const auto& [k, item] : o) {
      out += pad + json::serialize(json::string(k)) + ": ";
      pretty(out, item, indent + 4);
      out += ++i < o.size() ? ",\n" : "\n";
    }
    out += close_pad + "}";
  } else if (v.is_array()) {
    const auto& a = v.as_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (size_t i = 0; i < a.size(); ++i) {
      out += pad;
      pretty(out, a[i], indent + 4);
      out += i + 1 < a.size() ? ",\n" : "\n";
    }
    out += close_pad + "]";
  } else {
    out += json_scalar(v);
  }
}

// Key/value rows of an object, nested objects flattened to dotted keys;
// arrays of objects are collected for their own column tables.
void flatten(const json::object& o, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& rows,
             std::vector<std::pair<std::string, const json::array*>>& tables) {
  for (const auto& [k, v] : o) {
    std::string key = prefix.empty() ? std::string(k) : prefix + "." + std::string(k);
    if (v.is_object()) {
      flatten(v.as_object(), key, rows, tables);
    } else if (v.is_array() && !v.as_array().empty() &&
               std::any_of(v.as_array().begin(), v.as_array().end(),
                           [](const json::value& e) { return !is_scalar(e); })) {
      tables.emplace_back(key, &v.as_array());
    } else if (v.is_array() && v.as_array().empty()) {
      rows.emplace_back(key, "(none)");
    } else if (v.is_array()) {
      std::string joined;
      for (const auto& e : v.as_array()) joined += (joined.empty() ? "" : ", ") + scalar_text(e);
      rows.emplace_back(key, joined);
    } else {
      rows.emplace_back(key, scalar_text(v));
    }
  }
}

// Splits a cell into display lines: newlines start a new line, tabs (the
// REPORT line's separators) become two spaces so the columns stay aligned.
std::vector<std::string> cell_lines(const std::string& cell) {
  std::vector<std::string> lines(1);
  for (char c : cell) {
    if (c == '\n') {
      lines.emplace_back();
    } else if (c == '\t') {
      lines.back() += "  ";
    } else {
      lines.back() += c;
    }
  }
  if (lines.size() > 1 && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string box(std::string_view title, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  size_t cols = header.empty() ? (rows.empty() ? 0 : rows[0].size()) : header.size();
  std::vector<size_t> width(cols, 0);
  auto measure = [&](const std::vector<std::string>& r) {
    for (size_t c = 0; c < cols && c < r.size(); ++c) {
      for (const auto& l : cell_lines(r[c])) width[c] = std::max(width[c], l.size());
    }
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::string rule = "+";
  for (size_t w : width) rule += std::string(w + 2, '-') + "+";
  auto line = [&](const std::vector<std::string>& r) {
    std::vector<std::vector<std::string>> cells;
    size_t height = 1;
    for (size_t c = 0; c < cols; ++c) {
      cells.push_back(cell_lines(c < r.size() ? r[c] : ""));
      height = std::max(height, cells.back().size());
    }
    std::string s;
    for (size_t i = 0; i < height; ++i) {
      s += "|";
      for (size_t c = 0; c < cols; ++c) {
        std::string cell = i < cells[c].size() ? cells[c][i] : "";
        s += " " + cell + std::string(width[c] - cell.size(), ' ') + " |";
      }
      s += "\n";
    }
    return s;
  };
  std::string out = std::string(title) + "\n" + rule + "\n";
  if (!header.empty()) out += line(header) + rule + "\n";
  for (const auto& r : rows) out += line(r);
  return out + rule + "\n";
}

std::string column_table(std::string_view title, const json::array& items) {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::map<std::string, std::string>> flat;
  for (const auto& item : items) {
    std::vector<std::pair<std::string, std::string>> kv;
    std::vector<std::pair<std::string, const json::array*>> nested;
    if (item.is_object()) {
      flatten(item.as_object(), "", kv, nested);
    } else {
      kv.emplace_back("Value", scalar_text(item));
    }
    std::map<std::string, std::string> m;
    for (auto& [k, v] : kv) {
      if (std::find(header.begin(), header.end(), k) == header.end()) header.push_back(k);
      m[k] = v;
    }
    for (auto& [k, a] : nested) {
      if (std::find(header.begin(), header.end(), k) == header.end()) header.push_back(k);
      m[k] = fmt::format("({} items)", a->size());
    }
    flat.push_back(std::move(m));
  }
  for (const auto& m : flat) {
    std::vector<std::string> r;
    for (const auto& h : header) r.push_back(m.contains(h) ? m.at(h) : "");
    rows.push_back(std::move(r));
  }
  return box(title, header, rows);
}

void text_lines(std::string& out, const json::value& v, const std::string& prefix) {
  auto upper = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  };
  if (v.is_array()) {
    const auto& a = v.as_array();
    if (std::all_of(a.begin(), a.end(), is_scalar)) {
      std::string line = prefix;
      for (const auto& e : a) line += (line.empty() ? "" : "\t") + scalar_text(e);
      if (!line.empty()) out += line + "\n";
      return;
    }
    for (const auto& e : a) text_lines(out, e, prefix);
    return;
  }
  if (!v.is_object()) {
    out += (prefix.empty() ? "" : prefix + "\t") + scalar_text(v) + "\n";
    return;
  }
  // Scalars first, in key order (as the AWS CLI's text output), then nested.
  std::map<std::string, const json::value*> sorted;
  for (const auto& [k, e] : v.as_object()) sorted[std::string(k)] = &e;
  std::string line = prefix;
  bool any = false;
  for (const auto& [k, e] : sorted) {
    if (!is_scalar(*e)) continue;
    line += (line.empty() && !any ? "" : "\t") + scalar_text(*e);
    any = true;
  }
  if (any) out += line + "\n";
  for (const auto& [k, e] : sorted) {
    if (!is_scalar(*e)) text_lines(out, *e, upper(k));
  }
}

}  // namespace

std::string scalar_text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  if (v.is_bool()) return v.as_bool() ? "True" : "False";
  if (v.is_double()) return fmt::format("{}", v.as_double());
  return json::serialize(v);
}

std::string render_json(const json::value& value) {
  std::string out;
  pretty(out, value, 0);
  return out + "\n";
}

std::string render_table(std::string_view title, const json::value& value) {
  if (value.is_array()) return column_table(title, value.as_array());
  if (!value.is_object()) return box(title, {}, {{scalar_text(value)}});
  std::vector<std::pair<std::string, std::string>> kv;
  std::vector<std::pair<std::string, const json::array*>> tables;
  flatten(value.as_object(), "", kv, tables);
  std::string out;
  if (!kv.empty() || tables.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (auto& [k, v] : kv) rows.push_back({k, v});
    out += box(title, {}, rows);
  }
  for (const auto& [k, a] : tables) {
    out += column_table(tables.size() == 1 && kv.empty() ? fmt::format("{} {}", title, k) : k, *a);
  }
  return out;
}

std::string render_text(const json::value& value) {
  std::string out;
  text_lines(out, value, "");
  return out;
}

std::string render(OutputFormat format, std::string_view title, const json::value& value) {
  switch (format) {
    case OutputFormat::kJson: return render_json(value);
    case OutputFormat::kTable: return render_table(title, value);
    case OutputFormat::kText: return render_text(value);
  }
  return render_json(value);
}

}  // namespace thaw::thawctl
