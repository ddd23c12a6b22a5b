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

Result<json::object> ControlTarget::snapshot(const std::string&, std::string_view) {
  return Error::format("this VMM was built without snapshot support");
}

Result<json::object> ControlTarget::restore(const json::object&) {
  return Error::format("restore is only for a standby thaw-vmm (started with --standby); this "
                       "one already runs a VM");
}

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
    return error_reply(
        "request lacks a string \"op\" field (pause, resume, stats, stop, snapshot or restore)");
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
  if (op == "snapshot") {
    const json::value* dir = object->if_contains("dir");
    if (dir == nullptr || !dir->is_string() || dir->get_string().empty()) {
      return error_reply("snapshot needs a \"dir\" string: the directory to write the state "
                         "and memory files into");
    }
    std::string_view kind;
    if (const json::value* k = object->if_contains("kind")) {
      if (!k->is_string()) return error_reply("snapshot \"kind\" must be a string");
      kind = k->get_string();
    }
    auto r = target.snapshot(std::string(dir->get_string()), kind);
    return r ? ok_reply(std::move(*r)) : error_reply(r.error().message);
  }
  if (op == "restore") {
    auto r = target.restore(*object);
    return r ? ok_reply(std::move(*r)) : error_reply(r.error().message);
  }
  return error_reply(
      fmt::format("unknown op \"{}\"; known ops: pause, resume, stats, stop, snapshot, restore",
                  op));
}

}  // namespace thaw::sandbox
