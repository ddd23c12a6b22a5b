#include "sandbox/vmm/control_protocol.h"

#include <fmt/format.h>

namespace thaw::sandbox {

namespace json = boost::json;

namespace {
std::string error_reply(std::string message) {
  json::object reply;
  reply["ok"] = false;
  reply["error"] = std::move(message);
  return json::serialize(reply);
}

std::string ok_reply(json::object extra = {}) {
  json::object reply;
  reply["ok"] = true;
  for (auto& kv : extra) reply[kv.key()] = std::move(kv.value());
  return json::serialize(reply);
}
}  // namespace

std::string handle_control_request(std::string_view line, ControlTarget& target) {
  if (line.size() > kMaxControlLine) {
    return error_reply(fmt::format("request is {} bytes; the limit is {} per line", line.size(),
                                   kMaxControlLine));
  }
  json::error_code ec;
  json::value request = json::parse(json::string_view(line.data(), line.size()), ec);
  if (ec) {
    return error_reply(fmt::format("request is not valid JSON ({}); send one object per line, "
                                   "e.g. {{\"op\":\"stats\"}}",
                                   ec.message()));
  }
  const json::object* object = request.if_object();
  if (object == nullptr) return error_reply("request must be a JSON object with an \"op\" field");
  const json::value* op_value = object->if_contains("op");
  if (op_value == nullptr || !op_value->is_string()) {
    return error_reply("request lacks a string \"op\" field (pause, resume, stats or stop)");
  }
  std::string_view op = op_value->get_string();
  if (op == "pause") {
    auto r = target.pause();
    return r ? ok_reply() : error_reply(r.error().message);
  }
  if (op == "resume") {
    auto r = target.resume();
    return r ? ok_reply() : error_reply(r.error().message);
  }
  if (op == "stats") return ok_reply(target.stats());
  if (op == "stop") {
    target.stop();
    return ok_reply();
  }
  return error_reply(
      fmt::format("unknown op \"{}\"; known ops: pause, resume, stats, stop", op));
}

}  // namespace thaw::sandbox
