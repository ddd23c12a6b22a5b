// Real-KVM tests of sandbox/vmm/: whole machines built by build_machine()
// from tiny hand-assembled ELF guests: console output and clean i8042 exit,
// guest faults ending the VM with exit 3, pause/resume with a consistent
// guest state, stop, and the control socket against a live VM.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/file_util.h"
#include "sandbox/kvm/kvm_system.h"
#include "sandbox/vmm/control_socket.h"
#include "sandbox/vmm/machine.h"
#include "sandbox/vmm/vmm_control.h"
#include "tests/sandbox/image_builders.h"

namespace thaw::sandbox {
namespace {

constexpr uint64_t kEntry = 0x100000;
constexpr uint64_t kCounterAddress = 0x200000;

#define REQUIRE_KVM()                                                        \
  do {                                                                       \
    auto kvm = KvmSystem::open();                                            \
    if (!kvm) GTEST_SKIP() << "no usable KVM: " << kvm.error().message;      \
  } while (0)

// mov dx, port ; mov al, byte ; out dx, al
void emit_out(std::vector<uint8_t>& c, uint16_t port, uint8_t byte) {
  c.insert(c.end(), {0x66, 0xba, static_cast<uint8_t>(port), static_cast<uint8_t>(port >> 8),
                     0xb0, byte, 0xee});
}

std::vector<uint8_t> hello_guest() {
  std::vector<uint8_t> c;
  for (char ch : std::string("thaw ok\n")) emit_out(c, 0x3f8, static_cast<uint8_t>(ch));
  emit_out(c, 0x64, 0xfe);  // i8042 CPU reset: clean exit
  c.insert(c.end(), {0xeb, 0xfe});  // jmp $ (never reached)
  return c;
}

// inc qword [kCounterAddress] ; jmp back: a guest that runs until stopped.
std::vector<uint8_t> counter_guest() {
  return {0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,  // inc qword [0x200000]
          0xeb, 0xf6};                                      // jmp -10
}

struct Machine {
  std::string dir;
  VmmConfig config;
  std::unique_ptr<Vmm> vmm;
  std::string serial() {
    auto bytes = read_file(config.serial_path, 1 << 20);
    if (!bytes) return "<" + bytes.error().message + ">";
    return std::string(bytes->begin(), bytes->end());
  }
  ~Machine() {
    vmm.reset();
    if (!dir.empty()) remove_tree(dir);
  }
};

std::unique_ptr<Machine> make(const std::vector<uint8_t>& code, int& failure,
                              uint32_t vcpus = 1) {
  auto m = std::make_unique<Machine>();
  char tmpl[] = "/tmp/thaw-vmm-test-XXXXXX";
  m->dir = ::mkdtemp(tmpl);
  auto image = testing::make_elf(kEntry, {{kEntry, code, code.size()}});
  std::string kernel = m->dir + "/guest.elf";
  EXPECT_TRUE(write_file_atomic(kernel, image));
  m->config.kernel_path = kernel;
  m->config.mem_mib = 16;
  m->config.vcpus = vcpus;
  m->config.serial_path = m->dir + "/serial.log";
  m->config.cpu_model = default_cpu_model();
  auto vmm = build_machine(m->config, failure);
  EXPECT_TRUE(vmm) << vmm.error().message;
  if (vmm) m->vmm = std::move(*vmm);
  return m;
}

TEST(Vmm, GuestPrintsOnSerialAndEndsCleanlyThroughTheI8042) {
  REQUIRE_KVM();
  int failure = 0;
  auto m = make(hello_guest(), failure);
  ASSERT_TRUE(m->vmm);
  ASSERT_TRUE(m->vmm->start());
  EXPECT_EQ(m->vmm->wait(), kExitClean);
  EXPECT_NE(m->vmm->stop_reason().find("i8042"), std::string::npos) << m->vmm->stop_reason();
  EXPECT_EQ(m->serial(), "thaw ok\n");
  EXPECT_EQ(m->vmm->exit_stats().get(ExitKind::kIo), 9u) << "8 bytes + the reset";
  auto attached = m->vmm->devices();
  ASSERT_EQ(attached.size(), 2u) << "i8042 and serial, no virtio devices configured";
  EXPECT_EQ(attached[0].base, 0x60u);
  EXPECT_EQ(attached[0].device->name(), "i8042");
  EXPECT_EQ(attached[1].base, 0x3f8u);
  EXPECT_FALSE(attached[1].mmio);
  auto devices = m->vmm->device_stats();
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices[0].name, "serial");
  EXPECT_EQ(devices[0].counters[1].second, 8u) << "serial bytes_written";
}

TEST(Vmm, DestroyAfterWaitWithSeveralVcpusDoesNotSignalJoinedThreads) {
  REQUIRE_KVM();
  // Regression: ~Vmm kicked vCPU threads that wait() had already joined
  // (pthread_kill on a dead thread's handle), which crashed thaw-vmm at exit
  // with 4 vCPUs. Several rounds because the crash depended on timing.
  for (int round = 0; round < 5; ++round) {
    int failure = 0;
    auto m = make(hello_guest(), failure, 4);
    ASSERT_TRUE(m->vmm);
    ASSERT_TRUE(m->vmm->start());
    EXPECT_EQ(m->vmm->wait(), kExitClean);
    m->vmm->request_stop(kExitHostError, "a second stop is ignored");
    EXPECT_EQ(m->vmm->wait(), kExitClean);
    m->vmm.reset();
  }
}

TEST(Vmm, TripleFaultEndsTheVmWithExit3AndTheRip) {
  REQUIRE_KVM();
  int failure = 0;
  auto m = make({0x0f, 0x0b}, failure);  // ud2 with an empty IDT
  ASSERT_TRUE(m->vmm);
  ASSERT_TRUE(m->vmm->start());
  EXPECT_EQ(m->vmm->wait(), kExitGuestFault);
  EXPECT_NE(m->vmm->stop_reason().find("triple fault"), std::string::npos)
      << m->vmm->stop_reason();
  EXPECT_NE(m->vmm->stop_reason().find("RIP 0x100000"), std::string::npos)
      << m->vmm->stop_reason();
}

TEST(Vmm, UnclaimedPortsReadAllOnesAndAreCounted) {
  REQUIRE_KVM();
  // in al, 0x99 ; mov [0x200000], al ; out 0x64 <- 0xfe
  std::vector<uint8_t> c{0xe4, 0x99, 0x88, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00};
  emit_out(c, 0x64, 0xfe);
  int failure = 0;
  auto m = make(c, failure);
  ASSERT_TRUE(m->vmm);
  ASSERT_TRUE(m->vmm->start());
  EXPECT_EQ(m->vmm->wait(), kExitClean);
  EXPECT_EQ(*m->vmm->memory().read_obj<uint8_t>(kCounterAddress), 0xff);
  EXPECT_EQ(m->vmm->exit_stats().get(ExitKind::kIoUnhandled), 1u);
}

TEST(Vmm, PauseHoldsTheGuestStillAndResumeContinuesIt) {
  REQUIRE_KVM();
  int failure = 0;
  // Two vCPUs: the second waits for INIT/SIPI inside KVM_RUN, and pause
  // must get it out of there too.
  auto m = make(counter_guest(), failure, 2);
  ASSERT_TRUE(m->vmm);
  ASSERT_TRUE(m->vmm->start());
  auto counter = [&] { return *m->vmm->memory().read_obj<uint64_t>(kCounterAddress); };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (counter() < 100 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GE(counter(), 100u) << "guest did not run";

  ASSERT_TRUE(m->vmm->pause());
  EXPECT_TRUE(m->vmm->paused());
  uint64_t frozen = counter();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(counter(), frozen) << "a paused guest must not run";
  auto regs = m->vmm->vcpu(0).get_regs();  // readable while parked
  ASSERT_TRUE(regs);
  EXPECT_GE(regs->rip, kEntry);
  EXPECT_LT(regs->rip, kEntry + counter_guest().size());
  auto ap = m->vmm->vcpu(1).get_mp_state();
  ASSERT_TRUE(ap);
  EXPECT_EQ(ap->mp_state, static_cast<uint32_t>(KVM_MP_STATE_UNINITIALIZED))
      << "the AP waits for INIT/SIPI as on a PC";
  EXPECT_TRUE(m->vmm->pause()) << "pause is idempotent";

  ASSERT_TRUE(m->vmm->resume());
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (counter() == frozen && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GT(counter(), frozen) << "resumed guest did not continue";
  m->vmm->request_stop(kExitClean, "test done");
  EXPECT_EQ(m->vmm->wait(), kExitClean);
  EXPECT_EQ(m->vmm->stop_reason(), "test done");
}

std::string ask(int fd, const std::string& request) {
  std::string line = request + "\n";
  EXPECT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  std::string reply;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') reply += c;
  return reply;
}

TEST(Vmm, ControlSocketPausesReportsAndStopsALiveVm) {
  REQUIRE_KVM();
  int failure = 0;
  auto m = make(counter_guest(), failure);
  ASSERT_TRUE(m->vmm);
  VmmControl control(*m->vmm);
  std::string path = m->dir + "/api.sock";
  auto server = ControlSocket::create(path, m->vmm->io_loop(), control);
  ASSERT_TRUE(server) << server.error().message;
  ASSERT_TRUE(m->vmm->start());

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  UniqueFd client(fd);

  EXPECT_EQ(ask(fd, R"({"op":"pause"})"), R"({"ok":true})");
  auto stats = boost::json::parse(ask(fd, R"({"op":"stats"})")).as_object();
  EXPECT_EQ(stats["ok"], true);
  EXPECT_EQ(stats["state"], "paused");
  EXPECT_TRUE(stats["exits"].as_object().contains("mmio"));
  EXPECT_TRUE(stats["devices"].as_object().contains("serial"));
  EXPECT_EQ(ask(fd, R"({"op":"resume"})"), R"({"ok":true})");
  stats = boost::json::parse(ask(fd, R"({"op":"stats"})")).as_object();
  EXPECT_EQ(stats["state"], "running");
  EXPECT_EQ(ask(fd, R"({"op":"stop"})"), R"({"ok":true})");
  EXPECT_EQ(m->vmm->wait(), kExitClean);
  server->reset();  // after the loop stopped
}

// A device that the guest "breaks" by writing a bad value, as a virtio
// transport with a malformed ring would be.
class FragileDevice : public Device {
 public:
  std::string_view name() const override { return "fragile"; }
  void read(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }
  void write(uint64_t, std::span<const uint8_t> data) override { broken = data[0] == 0xbd; }
  void reset() override {}
  Result<std::vector<uint8_t>> save_state() const override { return std::vector<uint8_t>{}; }
  Result<void> restore_state(std::span<const uint8_t>) override { return Ok(); }
  std::atomic<bool> broken{false};
};

// A Vmm without build_machine()'s devices, booting `code` as an ELF.
std::unique_ptr<Vmm> bare_vmm(const std::string& dir, const std::vector<uint8_t>& code) {
  auto image = testing::make_elf(kEntry, {{kEntry, code, code.size()}});
  VmmConfig config;
  config.kernel_path = dir + "/guest.elf";
  EXPECT_TRUE(write_file_atomic(config.kernel_path, image));
  config.mem_mib = 16;
  config.cpu_model = default_cpu_model();
  auto vmm = Vmm::create(config);
  EXPECT_TRUE(vmm) << vmm.error().message;
  return vmm ? std::move(*vmm) : nullptr;
}

TEST(Vmm, BrokenDeviceContractEndsTheVmWithExit4) {
  REQUIRE_KVM();
  Machine dir_holder;
  char tmpl[] = "/tmp/thaw-vmm-test-XXXXXX";
  dir_holder.dir = ::mkdtemp(tmpl);
  // mov eax, 0xd0000000 ; mov byte [rax], 0xbd ; jmp $
  auto vmm = bare_vmm(dir_holder.dir, {0xb8, 0x00, 0x00, 0x00, 0xd0, 0xc6, 0x00, 0xbd, 0xeb, 0xfe});
  ASSERT_TRUE(vmm);
  auto device = std::make_shared<FragileDevice>();
  ASSERT_TRUE(vmm->add_mmio_device(0xd0000000, 0x1000, device));
  vmm->add_contract_check([device]() -> std::string {
    return device->broken ? "fragile device broken by the guest" : "";
  });
  ASSERT_TRUE(vmm->boot(""));
  ASSERT_TRUE(vmm->start());
  EXPECT_EQ(vmm->wait(), kExitDeviceContract);
  EXPECT_EQ(vmm->stop_reason(), "fragile device broken by the guest");
}

TEST(Vmm, IoeventfdTurnsQueueNotifiesIntoIoThreadCallsWithoutExits) {
  REQUIRE_KVM();
  Machine dir_holder;
  char tmpl[] = "/tmp/thaw-vmm-test-XXXXXX";
  dir_holder.dir = ::mkdtemp(tmpl);
  // mov eax, 0xd0000050 ; mov dword [rax], 1 (x3) ; mov dword [rax], 7 ; jmp $
  std::vector<uint8_t> c{0xb8, 0x50, 0x00, 0x00, 0xd0};
  for (int i = 0; i < 3; ++i) c.insert(c.end(), {0xc7, 0x00, 0x01, 0x00, 0x00, 0x00});
  c.insert(c.end(), {0xc7, 0x00, 0x07, 0x00, 0x00, 0x00, 0xeb, 0xfe});
  auto vmm = bare_vmm(dir_holder.dir, c);
  ASSERT_TRUE(vmm);
  auto device = std::make_shared<FragileDevice>();
  ASSERT_TRUE(vmm->add_mmio_device(0xd0000000, 0x1000, device));
  std::atomic<int> notifies{0};
  std::atomic<bool> on_io_thread{true};
  auto main_thread = std::this_thread::get_id();
  ASSERT_TRUE(vmm->add_ioevent(0xd0000050, 1, [&] {
    ++notifies;
    if (std::this_thread::get_id() == main_thread) on_io_thread = false;
  }));
  ASSERT_TRUE(vmm->boot(""));
  ASSERT_TRUE(vmm->start());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // The eventfd counter may fold several notifies into one wake-up.
  while (notifies.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Let the vCPU reach the write of 7 too before stopping.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (vmm->exit_stats().get(ExitKind::kMmio) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  vmm->request_stop(kExitClean, "test done");
  EXPECT_EQ(vmm->wait(), kExitClean);
  EXPECT_GE(notifies.load(), 1);
  EXPECT_TRUE(on_io_thread);
  EXPECT_EQ(vmm->exit_stats().get(ExitKind::kMmio), 1u)
      << "only the write of 7 (no datamatch) exits to user space";
}

TEST(Vmm, BadConfigurationIsAUsageError) {
  VmmConfig config;
  config.kernel_path = "/nonexistent";
  config.vcpus = 0;
  int failure = 0;
  auto vmm = build_machine(config, failure);
  ASSERT_FALSE(vmm);
  EXPECT_EQ(failure, kExitUsage);
  EXPECT_NE(vmm.error().message.find("--vcpus 0"), std::string::npos) << vmm.error().message;
  config.vcpus = 1;
  config.vsock_cid = 2;
  config.vsock_uds = "/tmp/x";
  vmm = build_machine(config, failure);
  ASSERT_FALSE(vmm);
  EXPECT_NE(vmm.error().message.find("--vsock-cid 2"), std::string::npos);
}

TEST(Vmm, MissingKernelFileIsAUsageError) {
  REQUIRE_KVM();
  VmmConfig config;
  config.kernel_path = "/nonexistent/kernel";
  config.mem_mib = 16;
  config.serial_path = "/dev/null";
  int failure = 0;
  auto vmm = build_machine(config, failure);
  ASSERT_FALSE(vmm);
  EXPECT_EQ(failure, kExitUsage);
  EXPECT_NE(vmm.error().message.find("--kernel"), std::string::npos) << vmm.error().message;
}

}  // namespace
}  // namespace thaw::sandbox
