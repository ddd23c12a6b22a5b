// thaw-init: PID 1 of every thaw sandbox (static binary). Usage:
//   thaw-init --channel fd:N         process backend: a connected socket
//   thaw-init --channel vsock:PORT   microVM: listen on vsock (default 1024)
//   thaw-init --channel unix:PATH    development: connect to a Unix socket
// Options: --api-port P (default 9001).
#include <linux/vm_sockets.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "runtime-api/guest_setup.h"
#include "runtime-api/thaw_init.h"

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds only: LeakSanitizer stops the world with ptrace, which
// the sandbox's seccomp policy denies, and would turn every exit into 1.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "thaw-init: %s\nusage: thaw-init [--channel fd:N|vsock:PORT|unix:PATH] "
               "[--api-port P]\n",
               why);
  return 2;
}

thaw::Result<thaw::UniqueFd> open_vsock_listener(unsigned port) {
  thaw::UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return thaw::Error::from_errno("vsock socket (is virtio-vsock in the guest kernel?)");
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return thaw::Error::from_errno("bind vsock port {}", port);
  }
  if (::listen(fd.get(), 4) < 0) return thaw::Error::from_errno("listen vsock port {}", port);
  return fd;
}

thaw::Result<thaw::UniqueFd> connect_unix(const std::string& path) {
  thaw::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return thaw::Error::format("unix socket path {} is over {} bytes", path,
                               sizeof addr.sun_path - 1);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return thaw::Error::from_errno("connect {}", path);
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string channel = ::getpid() == 1 ? "vsock:1024" : "";
  unsigned api_port = thaw::kRuntimeApiPort;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--channel" || arg == "--api-port") && i + 1 < argc) {
      std::string value = argv[++i];
      if (arg == "--channel") {
        channel = value;
      } else {
        api_port = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
        if (api_port == 0 || api_port > 65535) return usage("--api-port must be 1..65535");
      }
    } else if (::getpid() == 1) {
      // The kernel hands PID 1 every command-line word it does not know
      // itself (e.g. `noxsave`, handled by early code but not registered):
      // ignore them, since exiting here would panic the guest.
      continue;
    } else {
      return usage(("unknown argument " + arg).c_str());
    }
  }
  if (channel.empty()) return usage("--channel is required when not PID 1");
  bool in_vm = channel.starts_with("vsock:");
  if (in_vm && ::getpid() == 1) {
    if (auto ok = thaw::mount_vm_basics(); !ok) {
      std::fprintf(stderr, "thaw-init: %s\n", ok.error().message.c_str());
    }
  }
  if (auto ok = thaw::bring_up_loopback(); !ok) {
    std::fprintf(stderr, "thaw-init: %s\n", ok.error().message.c_str());
  }

  auto loop = thaw::IoLoop::create(256);
  if (!loop) {
    std::fprintf(stderr, "thaw-init: %s\n", loop.error().message.c_str());
    return 1;
  }
  thaw::ThawInit init(**loop, {.in_vm = in_vm, .api_port = static_cast<uint16_t>(api_port)});
  if (auto ok = init.start(); !ok) {
    std::fprintf(stderr, "thaw-init: %s\n", ok.error().message.c_str());
    return 1;
  }
  if (channel.starts_with("fd:")) {
    int fd = std::atoi(channel.c_str() + 3);
    if (fd < 3) return usage("fd:N needs N >= 3");
    init.channel().attach(thaw::UniqueFd(fd));
  } else if (in_vm) {
    unsigned port = static_cast<unsigned>(std::strtoul(channel.c_str() + 6, nullptr, 10));
    auto listener = open_vsock_listener(port);
    if (!listener) {
      std::fprintf(stderr, "thaw-init: %s\n", listener.error().message.c_str());
      return 1;
    }
    init.channel().listen(std::move(*listener));
  } else if (channel.starts_with("unix:")) {
    auto fd = connect_unix(channel.substr(5));
    if (!fd) {
      std::fprintf(stderr, "thaw-init: %s\n", fd.error().message.c_str());
      return 1;
    }
    init.channel().attach(std::move(*fd));
  } else {
    return usage(("unknown channel " + channel).c_str());
  }
  auto ran = (*loop)->run();
  if (!ran) std::fprintf(stderr, "thaw-init: io loop: %s\n", ran.error().message.c_str());
  if (in_vm && ::getpid() == 1) {
    ::sync();
    ::reboot(RB_POWER_OFF);  // PID 1 must not exit: the kernel would panic
  }
  return ran ? 0 : 1;
}
