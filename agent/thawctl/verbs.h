// What thawctl's verbs share: the global options, the API call with the
// AWS CLI's error reporting and exit statuses, and the helpers that turn
// flags into Lambda request bodies. Each verbs file registers its
// subcommands on the CLI11 app; thawctl_main.cc runs the chosen one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/object.hpp>

#include "agent/thawctl/api_client.h"
#include "agent/thawctl/output.h"

namespace thaw::thawctl {

// Exit statuses, as the AWS CLI v2's (docs: "AWS CLI return codes").
inline constexpr int kExitUsage = 252;         // bad flags or values
inline constexpr int kExitServiceError = 254;  // the agent answered with an error
inline constexpr int kExitNoAnswer = 255;      // could not connect, timeout, local I/O

struct Context {
  std::string socket;        // --socket / THAW_SOCKET / /run/thaw/thaw.sock
  std::string endpoint_url;  // --endpoint-url http://127.0.0.1:PORT (wins over --socket)
  std::string output = "json";
  unsigned read_timeout_s = 960;  // an Invoke may run 900 s
  OutputFormat format = OutputFormat::kJson;
  std::unique_ptr<ApiClient> client;
  // Set by the chosen subcommand's parse callback; main runs it.
  std::function<int()> run;
};

// A usage error found after parsing (exit 252), printed like the AWS CLI's
// "aws: error: argument --x: ...".
struct UsageError {
  std::string message;
};

// One Lambda API operation, named as the AWS CLI names it in errors.
struct Call {
  std::string operation;  // "GetFunction"
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Sends `call`; an error answer prints "An error occurred (Type) when calling
// the Op operation: message" and yields 254, no answer 255. On success
// `done` gets the response (default: print the JSON body in --output form).
int perform(Context& ctx, const Call& call,
            const std::function<int(const ApiResponse&)>& done = nullptr);
// Prints a JSON body (or nothing for an empty one) in the chosen format.
int print_body(Context& ctx, const std::string& operation, const std::string& body);

// "/2015-03-31/functions/NAME" with NAME percent-encoded, plus ?Qualifier=Q.
std::string function_path(std::string_view api_version, const std::string& name,
                           std::string_view suffix = "", const std::string& qualifier = "");

// Flags that become fields of a request body. Values are kept as text and
// converted when the body is built, so a bad value names its flag.
class BodyFlags {
 public:
  enum class Kind { kString, kInt, kStructured, kStringList, kNumberMap };
  BodyFlags& add(CLI::App* app, const std::string& flag, const std::string& key, Kind kind,
                 const std::string& help, bool required = false);
  // The fields given on the command line; throws UsageError.
  boost::json::object build() const;

 private:
  struct Field {
    std::string flag, key;
    Kind kind;
    CLI::Option* option = nullptr;
    std::shared_ptr<std::string> text = std::make_shared<std::string>();
    std::shared_ptr<std::vector<std::string>> list = std::make_shared<std::vector<std::string>>();
  };
  std::vector<Field> fields_;
};

// A verb that maps flags onto one operation on /API/functions/NAME[SUFFIX]:
// --function-name always; `path_flag` fills "{}" in the suffix (an alias
// name); `query` flags become query parameters; body flags become JSON.
struct QueryFlag {
  std::string flag, param, help;
  bool required = false;
};
struct VerbSpec {
  std::string name, help, operation;
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string api_version = "2015-03-31";
  std::string suffix;
  std::string path_flag, path_help;
  std::vector<QueryFlag> query;
  bool has_body = false;
};
using BodySetup = std::function<void(CLI::App*, BodyFlags&)>;
// `finish` may add to the body at run time (reading files); it throws UsageError.
using BodyFinish = std::function<void(boost::json::object&)>;
CLI::App* add_verb(CLI::App& app, Context& ctx, const VerbSpec& spec, const BodySetup& setup = {},
                   BodyFinish finish = {});
inline QueryFlag qualifier_flag(bool required = false) {
  return {"--qualifier", "Qualifier", "a version number or alias name", required};
}

// Reads fileb://PATH for --zip-file into base64; throws UsageError.
std::string zip_file_base64(const std::string& flag, const std::string& value);

// Registers the verbs of each group.
void add_function_verbs(CLI::App& app, Context& ctx);
void add_version_verbs(CLI::App& app, Context& ctx);
void add_agent_verbs(CLI::App& app, Context& ctx);

}  // namespace thaw::thawctl
