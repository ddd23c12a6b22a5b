// The AWS CLI's structured-argument syntax for thawctl's flags: JSON
// ('{"Variables":{"K":"v"}}'), shorthand ('Variables={K=v,K2="a,b"}',
// 'AdditionalVersionWeights={"2"=0.1}') and file://PATH for either. Pure
// parsing, unit-tested (tests/agent/thawctl/shorthand_test.cc); used by the
// verbs in agent/thawctl/.
#pragma once

#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace thaw::thawctl {

// Shorthand -> JSON. Scalars come back as strings (the CLI converts them by
// the operation's model; see to_number_values). Errors name the position.
Result<boost::json::value> parse_shorthand(std::string_view text);

// JSON when `text` starts with '{' or '[', shorthand otherwise; file://PATH
// reads PATH first. `flag` names the option in errors.
Result<boost::json::value> parse_structured(std::string_view flag, std::string_view text);

// Converts the string values of an object to numbers, integers where they
// are whole (AdditionalVersionWeights, EphemeralStorage); an error names the
// key whose value is not a number.
Result<void> to_number_values(boost::json::value& object, std::string_view what);

// The bytes behind fileb://PATH or file://PATH (the AWS CLI's prefixes);
// `flag` names the option in errors. A plain value is returned as is when
// `allow_plain`, else it is an error that says to add the prefix.
Result<std::string> read_blob_argument(std::string_view flag, std::string_view value,
                                       bool allow_plain);

}  // namespace thaw::thawctl
