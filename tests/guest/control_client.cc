// thaw-vmm control-socket client used by the integration tests.
#include "tests/guest/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "tests/guest/vsock_host.h"

namespace thaw::testguest {

Result<boost::json::object> control_request(const std::string& api_sock,
                                            const std::string& request) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (api_sock.size() >= sizeof addr.sun_path)
    return Error::format("--api-sock path {} is {} bytes, the limit is {}", api_sock,
                         api_sock.size(), sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path, api_sock.c_str(), api_sock.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for --api-sock");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return Error::from_errno("connect to --api-sock {}", api_sock);
  std::string line = request + "\n";
  if (auto w = write_all(fd.get(), {reinterpret_cast<const uint8_t*>(line.data()), line.size()},
                         "request");
      !w.ok())
    return std::move(w).error();
  auto reply = read_line(fd.get(), std::chrono::seconds(10));
  if (!reply.ok()) return reply.error().context(request);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*reply, ec);
  if (ec || !v.is_object())
    return Error::format("reply to {} is not a JSON object: {}", request, *reply);
  auto& obj = v.as_object();
  if (!obj.contains("ok") || !obj.at("ok").is_bool() || !obj.at("ok").as_bool())
    return Error::format("{} failed: {}", request, *reply);
  return obj;
}

}  // namespace thaw::testguest
