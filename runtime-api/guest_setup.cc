#include "runtime-api/guest_setup.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/random.h>
#include <sys/prctl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "common/file_util.h"
#include "common/unique_fd.h"

namespace thaw {
namespace {

Result<void> mkdir_p(const std::string& path, mode_t mode = 0755) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (part.empty()) continue;
    if (::mkdir(part.c_str(), mode) < 0 && errno != EEXIST) {
      return Error::from_errno("mkdir {}", part);
    }
  }
  return Ok();
}

// The value of `key=` in a comma-separated mount option string.
std::string option_value(const std::string& options, std::string_view key) {
  size_t pos = 0;
  while (pos < options.size()) {
    size_t end = options.find(',', pos);
    if (end == std::string::npos) end = options.size();
    std::string_view item(options.data() + pos, end - pos);
    if (item.starts_with(key) && item.size() > key.size() && item[key.size()] == '=') {
      return std::string(item.substr(key.size() + 1));
    }
    pos = end + 1;
  }
  return {};
}

Result<void> make_target(const MountSpec& m) {
  struct stat st{};
  if (m.fstype == "bind" && ::stat(m.source.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    size_t slash = m.target.rfind('/');
    if (slash > 0) {
      if (auto ok = mkdir_p(m.target.substr(0, slash)); !ok) return ok;
    }
    int fd = ::open(m.target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) return Error::from_errno("create bind target {}", m.target);
    if (fd >= 0) ::close(fd);
    return Ok();
  }
  return mkdir_p(m.target);
}

}  // namespace

Result<void> apply_mounts(const std::vector<MountSpec>& mounts) {
  for (size_t i = 0; i < mounts.size(); ++i) {
    const MountSpec& m = mounts[i];
    auto fail = [&](std::string_view step) {
      return Error::from_errno("mount #{} ({} {} on {}, options '{}'): {}", i, m.fstype, m.source,
                               m.target, m.options, step);
    };
    if (m.fstype == "overlay") {
      for (auto key : {"upperdir", "workdir"}) {
        std::string dir = option_value(m.options, key);
        if (!dir.empty()) {
          if (auto ok = mkdir_p(dir); !ok) return ok.error().context(fmt::format("mount #{}", i));
        }
      }
    }
    if (auto ok = make_target(m); !ok) return ok.error().context(fmt::format("mount #{}", i));
    if (m.fstype == "bind") {
      if (::mount(m.source.c_str(), m.target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
        return fail("bind");
      }
      if (m.read_only && ::mount(nullptr, m.target.c_str(), nullptr,
                                 MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
                                 nullptr) < 0) {
        return fail("remount read-only");
      }
      continue;
    }
    unsigned long flags = MS_NOSUID | (m.read_only ? MS_RDONLY : 0);
    if (m.fstype != "devtmpfs" && m.fstype != "tmpfs-dev") flags |= MS_NODEV;
    std::string fstype = m.fstype == "tmpfs-dev" ? "tmpfs" : m.fstype;
    if (::mount(m.source.c_str(), m.target.c_str(), fstype.c_str(), flags,
                m.options.empty() ? nullptr : m.options.c_str()) < 0) {
      if (fstype == "erofs" && errno == ENOTBLK) {
        return fail("this kernel cannot mount an EROFS image file directly (needs 6.12+); "
                    "attach it as a block device (loop or virtio-blk)");
      }
      return fail("mount");
    }
  }
  return Ok();
}

Result<void> enter_new_root(const std::string& new_root) {
  // pivot_root(".", ".") stacks the old root under the new one; detaching
  // it leaves nothing of the host visible (pivot_root(2), NOTES).
  if (::chdir(new_root.c_str()) < 0) return Error::from_errno("chdir {}", new_root);
  if (::syscall(SYS_pivot_root, ".", ".") < 0) {
    if (errno != EINVAL) {
      return Error::from_errno("pivot_root into {} (is it a mount point?)", new_root);
    }
    // The initramfs (rootfs) of a microVM cannot be pivoted away from
    // (pivot_root(2), EINVAL): move the new root over "/" and chroot, as
    // switch_root does. The initramfs stays underneath, unreachable.
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) < 0) {
      return Error::from_errno("move {} over / (initramfs root)", new_root);
    }
    if (::chroot(".") < 0) return Error::from_errno("chroot {}", new_root);
    if (::chdir("/") < 0) return Error::from_errno("chdir /");
    return Ok();
  }
  if (::umount2(".", MNT_DETACH) < 0) return Error::from_errno("detach the old root");
  if (::chdir("/") < 0) return Error::from_errno("chdir /");
  return Ok();
}

Result<void> mount_vm_basics() {
  struct Basic {
    const char* type;
    const char* target;
    unsigned long flags;
  } basics[] = {{"proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC},
                {"sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC},
                {"devtmpfs", "/dev", MS_NOSUID}};
  for (const auto& b : basics) {
    ::mkdir(b.target, 0755);
    if (::mount(b.type, b.target, b.type, b.flags, nullptr) < 0 && errno != EBUSY) {
      return Error::from_errno("mount {} on {}", b.type, b.target);
    }
  }
  return Ok();
}

Result<void> bring_up_loopback() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for loopback setup");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFFLAGS, &ifr) < 0) return Error::from_errno("SIOCGIFFLAGS lo");
  if (ifr.ifr_flags & IFF_UP) return Ok();
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(fd.get(), SIOCSIFFLAGS, &ifr) < 0) return Error::from_errno("SIOCSIFFLAGS lo up");
  return Ok();
}

Result<void> reseed_entropy(std::span<const uint8_t> entropy) {
  UniqueFd fd(::open("/dev/urandom", O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno("open /dev/urandom to reseed");
  // struct rand_pool_info ends in a flexible array: build it in a buffer.
  std::vector<uint8_t> buf(sizeof(rand_pool_info) + entropy.size());
  auto* info = reinterpret_cast<rand_pool_info*>(buf.data());
  info->entropy_count = static_cast<int>(entropy.size() * 8);
  info->buf_size = static_cast<int>(entropy.size());
  std::memcpy(buf.data() + sizeof(rand_pool_info), entropy.data(), entropy.size());
  if (::ioctl(fd.get(), RNDADDENTROPY, info) < 0) {
    return Error::from_errno("RNDADDENTROPY ({} bytes)", entropy.size());
  }
  // RNDADDENTROPY only feeds the input pool; an initialised crng keeps its
  // key until its next timed reseed, so two restores of one snapshot would
  // hand out the same random bytes (seen on the 6.1 guest). Reseed now.
  if (::ioctl(fd.get(), RNDRESEEDCRNG) < 0) return Error::from_errno("RNDRESEEDCRNG");
  return Ok();
}

Result<void> set_wall_clock(uint64_t realtime_ns) {
  timespec ts{static_cast<time_t>(realtime_ns / 1000000000ull),
              static_cast<long>(realtime_ns % 1000000000ull)};
  if (::clock_settime(CLOCK_REALTIME, &ts) < 0) return Error::from_errno("clock_settime");
  return Ok();
}

Result<uint64_t> parse_vm_hwm(std::string_view status) {
  size_t pos = status.find("VmHWM:");
  if (pos == std::string_view::npos) return Error::format("no VmHWM line in /proc status");
  std::string_view rest = status.substr(pos + 6);
  while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
  uint64_t kb = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kb);
  if (ec != std::errc() || end == rest.data()) return Error::format("VmHWM value is not a number");
  return kb * 1024;
}

Result<void> drop_to_kill_capability() {
  auto last = read_pseudo_file("/proc/sys/kernel/cap_last_cap");
  int last_cap = last ? std::atoi(last->c_str()) : CAP_LAST_CAP;
  for (int cap = 0; cap <= last_cap; ++cap) {
    if (cap == CAP_KILL) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
      return Error::from_errno("dropping capability {} from the bounding set", cap);
    }
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = 1u << CAP_KILL;
  if (::syscall(SYS_capset, &header, data) < 0) return Error::from_errno("capset(CAP_KILL only)");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return Error::from_errno("no_new_privs");
  return Ok();
}

Result<uint64_t> peak_rss_bytes_from(int status_fd) {
  char buf[8192];
  ssize_t n = ::pread(status_fd, buf, sizeof buf, 0);
  if (n < 0) return Error::from_errno("pread /proc/<pid>/status");
  return parse_vm_hwm({buf, static_cast<size_t>(n)});
}

Result<uint64_t> peak_rss_bytes(int pid) {
  auto text = read_pseudo_file(fmt::format("/proc/{}/status", pid));
  if (!text) return std::move(text).error();
  return parse_vm_hwm(*text);
}

}  // namespace thaw
