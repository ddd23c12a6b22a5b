// thawctl's function verbs, flag for flag as `aws lambda`: create-function,
// get-function(-configuration), list-functions, delete-function,
// update-function-code, update-function-configuration and invoke.
#include <cstdio>
#include <fstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/base64.h"
#include "agent/thawctl/shorthand.h"
#include "agent/thawctl/verbs.h"

namespace thaw::thawctl {
namespace http = boost::beast::http;
namespace json = boost::json;
using K = BodyFlags::Kind;

namespace {

// The configuration fields CreateFunction and UpdateFunctionConfiguration share.
void add_config_fields(CLI::App* sub, BodyFlags& b) {
  b.add(sub, "--runtime", "Runtime", K::kString, "provided, python3.11, nodejs20.x, ...")
      .add(sub, "--handler", "Handler", K::kString, "file.function (not for provided runtimes)")
      .add(sub, "--memory-size", "MemorySize", K::kInt, "MB, 128-10240")
      .add(sub, "--timeout", "Timeout", K::kInt, "seconds, 1-900")
      .add(sub, "--environment", "Environment", K::kStructured,
           "Variables={KEY=value,...} or JSON")
      .add(sub, "--layers", "Layers", K::kStringList, "layer version ARNs, in /opt order")
      .add(sub, "--description", "Description", K::kString, "free text")
      .add(sub, "--role", "Role", K::kString, "an IAM role ARN (kept, not enforced)")
      .add(sub, "--ephemeral-storage", "EphemeralStorage", K::kNumberMap, "Size=MB (512-10240)");
}

void add_invoke(CLI::App& app, Context& ctx) {
  CLI::App* sub = app.add_subcommand(
      "invoke", "Invoke: run the function, write its response to OUTFILE ('-': stdout)");
  struct Args {
    std::string function, payload, type, log_type, qualifier, client_context, outfile;
    std::string binary_format = "raw-in-base64-out";
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--function-name", a->function, "the function's name")->required();
  sub->add_option("--payload", a->payload, "the event: JSON text, file://PATH or fileb://PATH");
  sub->add_option("--invocation-type", a->type, "RequestResponse (default), Event or DryRun")
      ->check(CLI::IsMember({"RequestResponse", "Event", "DryRun"}));
  sub->add_option("--log-type", a->log_type, "Tail: return the last 4 KB of the log")
      ->check(CLI::IsMember({"None", "Tail"}));
  sub->add_option("--qualifier", a->qualifier, "a version number or alias name");
  sub->add_option("--client-context", a->client_context, "base64 ClientContext for the handler");
  sub->add_option("--cli-binary-format", a->binary_format,
                  "raw-in-base64-out (default: --payload is the raw JSON) or base64")
      ->check(CLI::IsMember({"raw-in-base64-out", "base64"}));
  sub->add_option("outfile", a->outfile, "where the response goes ('-' for stdout)")->required();
  sub->callback([&ctx, a] {
    ctx.run = [&ctx, a] {
      Call call{"Invoke", http::verb::post,
                function_path("2015-03-31", a->function, "/invocations", a->qualifier)};
      if (!a->payload.empty()) {
        auto data = read_blob_argument("argument --payload", a->payload, true);
        if (!data) throw UsageError{data.error().message};
        call.body = std::move(*data);
        if (a->binary_format == "base64" && !a->payload.starts_with("fileb://")) {
          auto raw = agent::base64_decode(call.body);
          if (!raw) {
            throw UsageError{"argument --payload: not valid base64 (--cli-binary-format base64); "
                             "pass raw JSON with --cli-binary-format raw-in-base64-out"};
          }
          call.body.assign(raw->begin(), raw->end());
        }
      }
      if (!a->type.empty()) call.headers.emplace_back("X-Amz-Invocation-Type", a->type);
      if (!a->log_type.empty()) call.headers.emplace_back("X-Amz-Log-Type", a->log_type);
      if (!a->client_context.empty()) {
        call.headers.emplace_back("X-Amz-Client-Context", a->client_context);
      }
      return perform(ctx, call, [&ctx, a](const ApiResponse& r) {
        if (a->outfile == "-") {
          std::fwrite(r.body.data(), 1, r.body.size(), stdout);
          if (!r.body.empty()) std::fputc('\n', stdout);
        } else {
          std::ofstream out(a->outfile, std::ios::binary | std::ios::trunc);
          out.write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
          if (!out) {
            std::fprintf(stderr, "\nthawctl: cannot write the response to %s: %s\n",
                         a->outfile.c_str(), Error::errno_text(errno).c_str());
            return kExitNoAnswer;
          }
        }
        // The AWS CLI's summary, in its field order.
        json::object summary{{"StatusCode", r.status}};
        if (auto e = r.header("X-Amz-Function-Error"); !e.empty()) summary["FunctionError"] = e;
        std::string log = r.header("X-Amz-Log-Result");
        if (!log.empty()) summary["LogResult"] = log;
        if (auto v = r.header("X-Amz-Executed-Version"); !v.empty()) summary["ExecutedVersion"] = v;
        if (ctx.format != OutputFormat::kJson && !log.empty()) {
          // People read the log, not its base64 (json keeps the AWS CLI's shape).
          if (auto text = agent::base64_decode(log)) summary["LogResult"] = std::string(text->begin(), text->end());
        }
        std::string out = render(ctx.format, "Invoke", summary);
        std::fwrite(out.data(), 1, out.size(), stdout);
        return 0;
      });
    };
  });
}

}  // namespace

void add_function_verbs(CLI::App& app, Context& ctx) {
  {
    CLI::App* sub = app.add_subcommand("create-function", "CreateFunction from a ZIP");
    auto body = std::make_shared<BodyFlags>();
    auto zip = std::make_shared<std::string>();
    auto publish = std::make_shared<bool>(false);
    body->add(sub, "--function-name", "FunctionName", K::kString, "1-64 of [A-Za-z0-9_-]", true);
    add_config_fields(sub, *body);
    sub->add_option("--zip-file", *zip, "fileb://PATH of the code ZIP")->required();
    sub->add_flag("--publish,!--no-publish", *publish, "also publish version 1");
    sub->callback([&ctx, body, zip, publish] {
      ctx.run = [&ctx, body, zip, publish] {
        json::object o = body->build();
        o["Code"] = json::object{{"ZipFile", zip_file_base64("--zip-file", *zip)}};
        if (*publish) o["Publish"] = true;
        return perform(ctx, {"CreateFunction", http::verb::post, "/2015-03-31/functions",
                             json::serialize(o)});
      };
    });
  }
  {
    CLI::App* sub = app.add_subcommand("list-functions", "ListFunctions");
    auto version = std::make_shared<std::string>();
    sub->add_option("--function-version", *version, "ALL: list published versions too")
        ->check(CLI::IsMember({"ALL"}));
    sub->callback([&ctx, version] {
      ctx.run = [&ctx, version] {
        std::string target = "/2015-03-31/functions/";
        if (!version->empty()) target += "?FunctionVersion=" + *version;
        return perform(ctx, {"ListFunctions", http::verb::get, target});
      };
    });
  }
  add_verb(app, ctx, {"get-function", "GetFunction: configuration and code location",
                      "GetFunction", http::verb::get, "2015-03-31", "", "", "", {qualifier_flag()}});
  add_verb(app, ctx, {"get-function-configuration", "GetFunctionConfiguration",
                      "GetFunctionConfiguration", http::verb::get, "2015-03-31", "/configuration",
                      "", "", {qualifier_flag()}});
  add_verb(app, ctx, {"delete-function", "DeleteFunction (or one version with --qualifier)",
                      "DeleteFunction", http::verb::delete_, "2015-03-31", "", "", "",
                      {qualifier_flag()}});
  add_verb(app, ctx,
           {"update-function-configuration", "UpdateFunctionConfiguration of $LATEST",
            "UpdateFunctionConfiguration", http::verb::put, "2015-03-31", "/configuration", "", "",
            {}, true},
           [](CLI::App* sub, BodyFlags& b) {
             add_config_fields(sub, b);
             b.add(sub, "--revision-id", "RevisionId", K::kString, "only if $LATEST has this revision");
           });
  auto zip = std::make_shared<std::string>();
  auto publish = std::make_shared<bool>(false);
  add_verb(app, ctx,
           {"update-function-code", "UpdateFunctionCode of $LATEST from a ZIP",
            "UpdateFunctionCode", http::verb::put, "2015-03-31", "/code", "", "", {}, true},
           [zip, publish](CLI::App* sub, BodyFlags& b) {
             sub->add_option("--zip-file", *zip, "fileb://PATH of the code ZIP")->required();
             sub->add_flag("--publish,!--no-publish", *publish, "also publish a version");
             b.add(sub, "--revision-id", "RevisionId", K::kString, "only if $LATEST has this revision");
           },
           [zip, publish](json::object& o) {
             o["ZipFile"] = zip_file_base64("--zip-file", *zip);
             if (*publish) o["Publish"] = true;
           });
  add_invoke(app, ctx);
}

}  // namespace thaw::thawctl
