// thawctl's verbs for versions, aliases, concurrency, async (event invoke)
// configuration and layers, with the paths and shapes of the Lambda API
// (https://docs.aws.amazon.com/lambda/latest/api/): the agent's api, pool
// and async parts serve them.
#include <boost/json.hpp>

#include "agent/thawctl/verbs.h"

namespace thaw::thawctl {
namespace http = boost::beast::http;
namespace json = boost::json;
using K = BodyFlags::Kind;

namespace {

void alias_fields(CLI::App* sub, BodyFlags& b, bool version_required) {
  b.add(sub, "--function-version", "FunctionVersion", K::kString, "the version the alias points at",
        version_required)
      .add(sub, "--description", "Description", K::kString, "free text")
      .add(sub, "--routing-config", "RoutingConfig", K::kNumberMap,
           "AdditionalVersionWeights={\"2\"=0.1} or JSON: a share of invokes for a second version");
}

void add_alias_verbs(CLI::App& app, Context& ctx) {
  add_verb(app, ctx,
           {"create-alias", "CreateAlias: a name for a version, optionally weighted to a second",
            "CreateAlias", http::verb::post, "2015-03-31", "/aliases", "", "", {}, true},
           [](CLI::App* sub, BodyFlags& b) {
             b.add(sub, "--name", "Name", K::kString, "the alias name", true);
             alias_fields(sub, b, true);
           });
  add_verb(app, ctx,
           {"update-alias", "UpdateAlias", "UpdateAlias", http::verb::put, "2015-03-31",
            "/aliases/{}", "--name", "the alias name", {}, true},
           [](CLI::App* sub, BodyFlags& b) {
             alias_fields(sub, b, false);
             b.add(sub, "--revision-id", "RevisionId", K::kString, "only if the alias has this revision");
           });
  add_verb(app, ctx, {"get-alias", "GetAlias", "GetAlias", http::verb::get, "2015-03-31",
                      "/aliases/{}", "--name", "the alias name"});
  add_verb(app, ctx, {"delete-alias", "DeleteAlias", "DeleteAlias", http::verb::delete_,
                      "2015-03-31", "/aliases/{}", "--name", "the alias name"});
  add_verb(app, ctx, {"list-aliases", "ListAliases", "ListAliases", http::verb::get, "2015-03-31",
                      "/aliases", "", "",
                      {{"--function-version", "FunctionVersion", "only aliases of this version"}}});
}

void add_concurrency_verbs(CLI::App& app, Context& ctx) {
  add_verb(app, ctx,
           {"put-function-concurrency", "PutFunctionConcurrency: reserve (and cap) concurrency",
            "PutFunctionConcurrency", http::verb::put, "2017-10-31", "/concurrency", "", "", {},
            true},
           [](CLI::App* sub, BodyFlags& b) {
             b.add(sub, "--reserved-concurrent-executions", "ReservedConcurrentExecutions",
                   K::kInt, "sandboxes reserved for (and at most used by) the function", true);
           });
  add_verb(app, ctx, {"get-function-concurrency", "GetFunctionConcurrency",
                      "GetFunctionConcurrency", http::verb::get, "2019-09-30", "/concurrency"});
  add_verb(app, ctx, {"delete-function-concurrency", "DeleteFunctionConcurrency",
                      "DeleteFunctionConcurrency", http::verb::delete_, "2017-10-31",
                      "/concurrency"});
  add_verb(app, ctx,
           {"put-provisioned-concurrency-config",
            "PutProvisionedConcurrencyConfig: keep N sandboxes initialised for a version or alias",
            "PutProvisionedConcurrencyConfig", http::verb::put, "2019-09-30",
            "/provisioned-concurrency", "", "", {qualifier_flag(true)}, true},
           [](CLI::App* sub, BodyFlags& b) {
             b.add(sub, "--provisioned-concurrent-executions", "ProvisionedConcurrentExecutions",
                   K::kInt, "sandboxes kept initialised", true);
           });
  add_verb(app, ctx, {"get-provisioned-concurrency-config", "GetProvisionedConcurrencyConfig",
                      "GetProvisionedConcurrencyConfig", http::verb::get, "2019-09-30",
                      "/provisioned-concurrency", "", "", {qualifier_flag(true)}});
  add_verb(app, ctx, {"delete-provisioned-concurrency-config",
                      "DeleteProvisionedConcurrencyConfig", "DeleteProvisionedConcurrencyConfig",
                      http::verb::delete_, "2019-09-30", "/provisioned-concurrency", "", "",
                      {qualifier_flag(true)}});
}

void add_event_config_verbs(CLI::App& app, Context& ctx) {
  add_verb(app, ctx,
           {"put-function-event-invoke-config",
            "PutFunctionEventInvokeConfig: retries, event age and destinations of Event invokes",
            "PutFunctionEventInvokeConfig", http::verb::put, "2019-09-25", "/event-invoke-config",
            "", "", {qualifier_flag()}, true},
           [](CLI::App* sub, BodyFlags& b) {
             b.add(sub, "--maximum-retry-attempts", "MaximumRetryAttempts", K::kInt, "0-2")
                 .add(sub, "--maximum-event-age-in-seconds", "MaximumEventAgeInSeconds", K::kInt,
                      "60-21600")
                 .add(sub, "--destination-config", "DestinationConfig", K::kStructured,
                      "OnSuccess={Destination=..},OnFailure={Destination=..} or JSON");
           });
  add_verb(app, ctx, {"get-function-event-invoke-config", "GetFunctionEventInvokeConfig",
                      "GetFunctionEventInvokeConfig", http::verb::get, "2019-09-25",
                      "/event-invoke-config", "", "", {qualifier_flag()}});
  add_verb(app, ctx, {"delete-function-event-invoke-config", "DeleteFunctionEventInvokeConfig",
                      "DeleteFunctionEventInvokeConfig", http::verb::delete_, "2019-09-25",
                      "/event-invoke-config", "", "", {qualifier_flag()}});
}

void add_layer_verbs(CLI::App& app, Context& ctx) {
  CLI::App* sub = app.add_subcommand("publish-layer-version", "PublishLayerVersion from a ZIP");
  auto name = std::make_shared<std::string>();
  auto zip = std::make_shared<std::string>();
  auto body = std::make_shared<BodyFlags>();
  sub->add_option("--layer-name", *name, "the layer's name")->required();
  sub->add_option("--zip-file", *zip, "fileb://PATH of the layer ZIP (unpacked under /opt)")
      ->required();
  body->add(sub, "--compatible-runtimes", "CompatibleRuntimes", K::kStringList, "runtimes")
      .add(sub, "--description", "Description", K::kString, "free text")
      .add(sub, "--license-info", "LicenseInfo", K::kString, "an SPDX identifier or URL");
  sub->callback([&ctx, name, zip, body] {
    ctx.run = [&ctx, name, zip, body] {
      json::object o = body->build();
      o["Content"] = json::object{{"ZipFile", zip_file_base64("--zip-file", *zip)}};
      return perform(ctx, {"PublishLayerVersion", http::verb::post,
                           "/2018-10-31/layers/" + url_encode(*name) + "/versions",
                           json::serialize(o)});
    };
  });
}

}  // namespace

void add_version_verbs(CLI::App& app, Context& ctx) {
  add_verb(app, ctx,
           {"publish-version", "PublishVersion: freeze $LATEST as a numbered version",
            "PublishVersion", http::verb::post, "2015-03-31", "/versions", "", "", {}, true},
           [](CLI::App* sub, BodyFlags& b) {
             b.add(sub, "--code-sha256", "CodeSha256", K::kString, "only if $LATEST has this code")
                 .add(sub, "--description", "Description", K::kString, "free text")
                 .add(sub, "--revision-id", "RevisionId", K::kString, "only if $LATEST has this revision");
           });
  add_verb(app, ctx, {"list-versions-by-function", "ListVersionsByFunction",
                      "ListVersionsByFunction", http::verb::get, "2015-03-31", "/versions"});
  add_alias_verbs(app, ctx);
  add_concurrency_verbs(app, ctx);
  add_event_config_verbs(app, ctx);
  add_layer_verbs(app, ctx);
}

}  // namespace thaw::thawctl
