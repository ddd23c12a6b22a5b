// thawctl: the operator's CLI for thawd, mirroring `aws lambda` verbs and
// flags (plus agent verbs: health, capacity, sandboxes, metrics, drain,
// logs). Talks HTTP/1.1 to the agent's Unix socket or --endpoint-url.
// Exit statuses follow the AWS CLI: 252 usage, 254 service error, 255 no answer.
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>

#include "agent/thawctl/verbs.h"

namespace {

using thaw::thawctl::Context;

int usage_error(const std::string& message) {
  std::fprintf(stderr,
               "usage: thawctl [--socket PATH | --endpoint-url URL] [--output json|table|text] "
               "VERB [flags]\nTo see help text, run: thawctl --help | thawctl VERB --help\n\n"
               "thawctl: error: %s\n",
               message.c_str());
  return thaw::thawctl::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  const char* env_socket = std::getenv("THAW_SOCKET");
  ctx.socket = env_socket && *env_socket ? env_socket : "/run/thaw/thaw.sock";

  CLI::App app{"thawctl: drive thawd like `aws lambda` (functions, versions, aliases, "
               "concurrency, layers) plus the agent's own verbs"};
  app.fallthrough();  // global flags may follow the verb, as with the AWS CLI
  app.require_subcommand(1);
  app.add_option("--socket", ctx.socket, "thawd's Unix socket (env THAW_SOCKET; default "
                                         "/run/thaw/thaw.sock)");
  app.add_option("--endpoint-url", ctx.endpoint_url,
                 "talk TCP to http://127.0.0.1:PORT (thawd --tcp-listen) instead of the socket");
  app.add_option("--output", ctx.output, "json (default), table or text")
      ->check(CLI::IsMember({"json", "table", "text"}));
  app.add_option("--cli-read-timeout", ctx.read_timeout_s,
                 "seconds to wait for an answer; 0 waits forever (default 960)");
  thaw::thawctl::add_function_verbs(app, ctx);
  thaw::thawctl::add_version_verbs(app, ctx);
  thaw::thawctl::add_agent_verbs(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  if (!ctx.run) return usage_error("no verb given");
  ctx.format = ctx.output == "table"  ? thaw::thawctl::OutputFormat::kTable
               : ctx.output == "text" ? thaw::thawctl::OutputFormat::kText
                                      : thaw::thawctl::OutputFormat::kJson;
  thaw::thawctl::Endpoint endpoint;
  if (!ctx.endpoint_url.empty()) {
    auto parsed = thaw::thawctl::parse_endpoint_url(ctx.endpoint_url);
    if (!parsed) return usage_error(parsed.error().message);
    endpoint = *parsed;
  } else {
    endpoint.socket_path = ctx.socket;
  }
  ctx.client = std::make_unique<thaw::thawctl::ApiClient>(
      endpoint, std::chrono::seconds(ctx.read_timeout_s));
  try {
    return ctx.run();
  } catch (const thaw::thawctl::UsageError& e) {
    return usage_error(e.message);
  }
}
