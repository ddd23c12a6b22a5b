// thawctl's three output formats, as the AWS CLI's --output: json (indented
// 4, key order kept), table (boxed key/value and column tables for people)
// and text (tab-separated, for shell scripts). Pure functions of a JSON
// value; unit-tested in tests/agent/thawctl/output_test.cc.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace thaw::thawctl {

enum class OutputFormat { kJson, kTable, kText };

std::string render_json(const boost::json::value& value);
// `title` heads the table (the operation name, like the AWS CLI).
std::string render_table(std::string_view title, const boost::json::value& value);
std::string render_text(const boost::json::value& value);
std::string render(OutputFormat format, std::string_view title, const boost::json::value& value);

// A scalar as a person reads it: strings unquoted, numbers without
// exponents (0.1, not 1E-1), null empty.
std::string scalar_text(const boost::json::value& value);

}  // namespace thaw::thawctl
