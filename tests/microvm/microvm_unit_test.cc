// Unit tests of sandbox/microvm without a VM: the initramfs archive, the
// static-ELF check, the guest mount plan and vCPU sizing, the thaw-vmm
// control client against a fake control socket, and the frame socket's
// bounded waits.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <elf.h>
#include <thread>

#include "common/file_util.h"
#include "sandbox/frame_socket.h"
#include "sandbox/microvm/guest_images.h"
#include "sandbox/microvm/guest_initramfs.h"
#include "sandbox/microvm/microvm_sandbox.h"
#include "sandbox/microvm/vmm_process.h"

namespace thaw {
namespace {

// Reads back a newc archive: name -> (mode, data, rdev major, minor).
struct Parsed {
  uint32_t mode, major, minor;
  std::string data;
};
std::map<std::string, Parsed> parse_newc(const std::string& a) {
  std::map<std::string, Parsed> out;
  size_t pos = 0;
  auto field = [&](size_t i) {
    return static_cast<uint32_t>(std::stoul(a.substr(pos + 6 + i * 8, 8), nullptr, 16));
  };
  while (pos + 110 <= a.size()) {
    EXPECT_EQ(a.substr(pos, 6), "070701");
    uint32_t mode = field(1), size = field(6), major = field(9), minor = field(10),
             namesize = field(11);
    std::string name = a.substr(pos + 110, namesize - 1);
    size_t data = (pos + 110 + namesize + 3) & ~size_t{3};
    if (name == "TRAILER!!!") break;
    out[name] = {mode, major, minor, a.substr(data, size)};
    pos = (data + size + 3) & ~size_t{3};
  }
  return out;
}

std::vector<uint8_t> elf_with(uint32_t phdr_type, uint16_t machine = EM_X86_64) {
  std::vector<uint8_t> img(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr));
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_machine = machine;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = phdr_type;
  std::memcpy(img.data(), &eh, sizeof eh);
  std::memcpy(img.data() + sizeof eh, &ph, sizeof ph);
  return img;
}

TEST(GuestInitramfs, NewcArchiveHasConsoleNodeAndInit) {
  std::string a = newc_archive({{"dev", S_IFDIR | 0755},
                                {"dev/console", S_IFCHR | 0600, 5, 1},
                                {"init", S_IFREG | 0755, 0, 0, "ELF!x"}});
  EXPECT_EQ(a.size() % 4, 0u);
  auto files = parse_newc(a);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files["dev/console"].mode, static_cast<uint32_t>(S_IFCHR | 0600));
  EXPECT_EQ(files["dev/console"].major, 5u);
  EXPECT_EQ(files["dev/console"].minor, 1u);
  EXPECT_EQ(files["init"].data, "ELF!x");
  EXPECT_EQ(files["init"].mode, static_cast<uint32_t>(S_IFREG | 0755));
  EXPECT_NE(a.find("TRAILER!!!"), std::string::npos);
}

TEST(GuestInitramfs, StaticElfCheckRefusesWhatTheGuestCannotRun) {
  EXPECT_TRUE(check_static_elf(elf_with(PT_LOAD), "ok").ok());
  auto dynamic = check_static_elf(elf_with(PT_INTERP), "/x/thaw-init");
  ASSERT_FALSE(dynamic.ok());
  EXPECT_NE(dynamic.error().message.find("dynamically linked"), std::string::npos);
  EXPECT_NE(dynamic.error().message.find("/x/thaw-init"), std::string::npos);
  auto arm = check_static_elf(elf_with(PT_LOAD, EM_AARCH64), "arm");
  ASSERT_FALSE(arm.ok());
  EXPECT_NE(arm.error().message.find("x86-64"), std::string::npos);
  std::vector<uint8_t> text = {'#', '!', '/', 'b', 'i', 'n', '/', 's', 'h'};
  EXPECT_FALSE(check_static_elf(text, "script").ok());
  auto cut = elf_with(PT_LOAD);
  cut.resize(sizeof(Elf64_Ehdr) + 8);  // program header table runs past the end
  auto truncated = check_static_elf(cut, "cut");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message.find("outside the file"), std::string::npos);
}

TEST(GuestInitramfs, DynamicBinaryIsRefusedByName) {
  auto r = thaw_init_initramfs("/bin/true");  // Debian's is dynamically linked
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/bin/true"), std::string::npos) << r.error().message;
}

TEST(MicrovmSandbox, VcpusFollowLambdasMemoryRatio) {
  EXPECT_EQ(MicrovmSandbox::vcpus_for(128), 1u);
  EXPECT_EQ(MicrovmSandbox::vcpus_for(1769), 1u);
  EXPECT_EQ(MicrovmSandbox::vcpus_for(1770), 2u);
  EXPECT_EQ(MicrovmSandbox::vcpus_for(10240), 6u);
}

TEST(MicrovmSandbox, GuestMountsUseTheDisksInOrder) {
  MicrovmSandboxOptions o;
  o.root_image = "root.erofs";
  o.code_image = "code.erofs";
  o.layer_images = {"l1.erofs", "l2.erofs"};
  auto m = MicrovmSandbox::guest_mounts(o);
  auto find = [&](const std::string& source) -> const MountSpec* {
    for (const auto& s : m) {
      if (s.source == source) return &s;
    }
    return nullptr;
  };
  ASSERT_NE(find("/dev/vda"), nullptr);
  EXPECT_EQ(find("/dev/vda")->fstype, "erofs");
  ASSERT_NE(find("/dev/vdb"), nullptr);
  EXPECT_EQ(find("/dev/vdb")->target, "/sandbox/root/var/task");
  EXPECT_TRUE(find("/dev/vdb")->read_only);
  ASSERT_NE(find("/dev/vdc"), nullptr);
  ASSERT_NE(find("/dev/vdd"), nullptr);
  ASSERT_NE(find("devtmpfs"), nullptr);  // the guest's own /dev, not host binds
  for (const auto& s : m) EXPECT_NE(s.fstype, "bind") << s.source << " -> " << s.target;
}

// A one-shot fake control socket answering `reply` (nothing when empty).
class FakeControl {
 public:
  explicit FakeControl(std::string reply) {
    char tmpl[] = "/tmp/thaw-ctl-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/api.sock";
    listen_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_.get(), 1), 0);
    server_ = std::thread([this, reply] {
      UniqueFd c(::accept(listen_.get(), nullptr, nullptr));
      char buf[4096];
      ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
      if (n > 0) request_.assign(buf, static_cast<size_t>(n));
      if (!reply.empty()) (void)::send(c.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
      ::usleep(300000);  // hold the connection past a short client timeout
    });
  }
  ~FakeControl() {
    server_.join();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string request() {
    server_.join();
    server_ = std::thread([] {});
    return request_;
  }

 private:
  std::string dir_, path_, request_;
  UniqueFd listen_;
  std::thread server_;
};

TEST(VmmControl, SendsOneJsonLineAndReturnsTheReply) {
  FakeControl fake("{\"ok\":true,\"memory_bytes\":42}\n");
  auto r = vmm_control(fake.path(), {{"op", "snapshot"}, {"dir", "/s"}}, 2000);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->at("memory_bytes").as_int64(), 42);
  std::string req = fake.request();
  EXPECT_EQ(req.back(), '\n');
  EXPECT_NE(req.find("\"op\":\"snapshot\""), std::string::npos) << req;
}

TEST(VmmControl, RefusalAndGarbageAndSilenceAreErrorsNamingTheOp) {
  {
    FakeControl fake("{\"ok\":false,\"error\":\"guest has a request in flight\"}\n");
    auto r = vmm_control(fake.path(), {{"op", "snapshot"}}, 2000);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("refused 'snapshot': guest has a request in flight"),
              std::string::npos)
        << r.error().message;
  }
  {
    FakeControl fake("not json\n");
    auto r = vmm_control(fake.path(), {{"op", "resume"}}, 2000);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a JSON object"), std::string::npos) << r.error().message;
  }
  {
    FakeControl fake("");
    auto r = vmm_control(fake.path(), {{"op", "stats"}}, 100);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("did not answer 'stats'"), std::string::npos)
        << r.error().message;
  }
  auto none = vmm_control("/nonexistent/api.sock", {{"op", "stats"}}, 100);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("/nonexistent/api.sock"), std::string::npos);
}

TEST(FrameSocket, RoundTripTimeoutAndPeerClose) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  FrameSocket host(UniqueFd(sv[0]), "test peer");
  FrameSocket guest(UniqueFd(sv[1]), "host");
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = "r1";
  f.payload = {1, 2, 3};
  ASSERT_TRUE(host.send(f, 1000).ok());
  auto got = guest.receive(1000);
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->request_id, "r1");
  EXPECT_EQ((*got)->payload, f.payload);
  auto nothing = host.receive(20);
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(nothing->has_value());
  guest.close();
  auto closed = host.receive(1000);
  ASSERT_FALSE(closed.ok());
  EXPECT_NE(closed.error().message.find("test peer closed the channel"), std::string::npos)
      << closed.error().message;
}

TEST(FrameSocket, AGuestThatStopsReadingFailsTheSendInTime) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  FrameSocket host(UniqueFd(sv[0]), "stuck guest");
  UniqueFd guest(sv[1]);  // never reads
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = "big";
  f.payload.assign(4u << 20, 'x');
  auto r = host.send(f, 100);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("did not read the invoke frame within 100 ms"),
            std::string::npos)
      << r.error().message;
}

TEST(VmmProcess, ExitStatusAndMissingBinary) {
  char tmpl[] = "/tmp/thaw-vmmproc-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto p = VmmProcess::spawn({"/bin/sh", "-c", "echo hello; exit 3"}, dir + "/log");
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::optional<int> st;
  for (int i = 0; i < 500 && !st; ++i) {
    ::usleep(10000);
    st = p->exit_status();
  }
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(describe_wait_status(*st), "exit 3");
  EXPECT_EQ(log_tail(dir + "/log"), "hello\n");
  auto missing = VmmProcess::spawn({"/nonexistent/thaw-vmm"}, dir + "/log2");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/thaw-vmm"), std::string::npos);
  remove_tree(dir);
}

}  // namespace
}  // namespace thaw

namespace thaw {
namespace {

TEST(GuestImages, ProvidedRootIsBuiltOnceAndToolFailuresNameTheTool) {
  char tmpl[] = "/tmp/thaw-guestimg-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto first = ensure_provided_root_image(dir);
  ASSERT_TRUE(first.ok()) << first.error().message;
  struct stat a{}, b{};
  ASSERT_EQ(::stat(first->c_str(), &a), 0);
  auto again = ensure_provided_root_image(dir);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(::stat(again->c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // cached, not rebuilt
  auto fail = run_tool({"/bin/sh", "-c", "echo broken >&2; exit 4"}, dir + "/tool.log");
  ASSERT_FALSE(fail.ok());
  EXPECT_NE(fail.error().message.find("/bin/sh failed (exit 4): broken"), std::string::npos)
      << fail.error().message;
  auto dynamic = ensure_guest_initramfs("/bin/true", dir);
  ASSERT_FALSE(dynamic.ok());
  EXPECT_NE(dynamic.error().message.find("dynamically linked"), std::string::npos)
      << dynamic.error().message;
  remove_tree(dir);
}

}  // namespace
}  // namespace thaw
