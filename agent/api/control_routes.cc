// Shared pieces of the control-plane routes (control_routes.h): running
// mutations off the loop, JSON replies, path matching, and the upload body
// limits.
#include "agent/api/control_routes.h"

#include <boost/json.hpp>

namespace thaw::agent {
namespace http = boost::beast::http;

void RouteContext::run_blocking(std::function<HttpResponse()> work, HttpReply reply) const {
  workers.submit([&loop = loop, work = std::move(work), reply = std::move(reply)]() mutable {
    HttpResponse r = work();
    loop.post([reply = std::move(reply), r = std::move(r)]() mutable { reply(std::move(r)); });
  });
}

boost::json::value config_json(const FunctionConfig& config) {
  return function_configuration_json(config, kRegion);
}

bool is_function_subpath(const ApiPath& p, std::string_view segment) {
  return p.segments.size() >= 4 && p.segments[0] == "2015-03-31" && p.segments[1] == "functions" &&
         p.segments[3] == segment && !check_function_name(p.segments[2]);
}

uint64_t control_body_limit(const HttpRequest& req, const ApiPath& p) {
  if (req.method() == http::verb::put && p.segments.size() == 4 && is_function_subpath(p, "code")) {
    return kMaxCreateBodyBytes;
  }
  if (req.method() == http::verb::post && p.segments.size() == 4 && p.segments[0] == "2018-10-31" &&
      p.segments[1] == "layers" && p.segments[3] == "versions") {
    return kMaxCreateBodyBytes;
  }
  return 0;
}

}  // namespace thaw::agent
