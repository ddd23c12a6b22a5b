// thaw-vmm's virtio-vsock on real KVM, driven by the test guest: host ->
// guest through the hybrid-vsock CONNECT handshake, guest -> host through
// "<uds>_<port>", bulk transfers under credit limits, and malformed
// requests.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "tests/guest/guest_fixture.h"
#include "tests/guest/vsock_host.h"

namespace thaw::testguest {
namespace {

using std::chrono::seconds;

// The host end of the guest's "vsock-connect" half: accepts thaw-vmm's
// connection on "<uds>_<port>", reads the guest's hello, answers, and waits
// for the guest's close.
class HostListener {
 public:
  HostListener(UniqueFd listen_fd) : fd_(std::move(listen_fd)), thread_([this] { serve(); }) {}
  ~HostListener() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::string error, guest_hello;

 private:
  void serve() {
    auto conn = unix_accept(fd_.get(), seconds(60));
    if (!conn.ok()) return void(error = conn.error().message);
    auto line = read_line(conn->get(), seconds(30));
    if (!line.ok()) return void(error = line.error().message);
    guest_hello = *line;
    std::string reply = "hello guest, this is the host\n";
    auto w = write_all(conn->get(), {reinterpret_cast<const uint8_t*>(reply.data()), reply.size()},
                       "reply");
    if (!w.ok()) return void(error = w.error().message);
    // Keep the stream open until the guest closes it (EOF is the expected end).
    (void)read_line(conn->get(), seconds(30));
  }
  UniqueFd fd_;
  std::thread thread_;
};

// The host end of the "vsock-listen" half: CONNECT <port>, ping, expect pong.
void talk_to_guest(VmmProcess& vmm, const std::string& uds, uint32_t port) {
  auto listening =
      vmm.wait_for_serial("vsock: listening on port " + std::to_string(port), seconds(30));
  ASSERT_TRUE(listening.ok()) << listening.error().message;
  uint32_t host_port = 0;
  auto conn = vsock_connect_guest(uds, port, seconds(30), &host_port);
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  std::string ping = "ping from host\n";
  ASSERT_TRUE(
      write_all(conn->get(), {reinterpret_cast<const uint8_t*>(ping.data()), ping.size()}, "ping")
          .ok());
  auto pong = read_line(conn->get(), seconds(30));
  ASSERT_TRUE(pong.ok()) << pong.error().message;
  EXPECT_EQ(*pong, "pong: ping from host");
}

constexpr std::initializer_list<const char*> kListenLines = {
    "vsock: guest cid 3",
    "vsock: listening on port 5000",
    "vsock: accepted host connection on port 5000",
    "vsock: received from host: ping from host",
    "vsock: replied to host",
    "vsock: host closed its end"};
constexpr std::initializer_list<const char*> kConnectLines = {
    "vsock: connected to host port 5001", "vsock: host answered: hello guest, this is the host",
    "vsock: closed"};

TEST_F(GuestTest, VsockHostConnectsToGuest) {
  std::string uds = dir_->file("vsock.sock");
  auto vmm = start_guest("thaw.test=vsock-listen thaw.port=5000", {"--vsock-uds", uds});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  talk_to_guest(*vmm, uds, 5000);
  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_EQ(missing_lines(*e, kListenLines), "") << describe(*e);
}

class VsockRingTest : public RingTest {};

TEST_P(VsockRingTest, BulkTransferRespectsCreditBothWays) {
  constexpr size_t kBytes = 32768;  // 4x the guest's 8 KiB buf_alloc
  std::string uds = dir_->file("vsock.sock");
  auto vmm = start_guest(
      "thaw.test=vsock-bulk thaw.port=5000 thaw.bytes=32768" + ring_arg(GetParam()),
      {"--vsock-uds", uds});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE(vmm->wait_for_serial("vsock: listening on port 5000", seconds(30)).ok())
      << vmm->serial();
  auto conn = vsock_connect_guest(uds, 5000, seconds(30), nullptr);
  ASSERT_TRUE(conn.ok()) << conn.error().message;

  std::vector<uint8_t> out(kBytes);
  uint64_t sum = 0xcbf29ce484222325ull;  // FNV-1a 64, as scenario_vsock.c
  for (size_t i = 0; i < kBytes; i++) {
    out[i] = static_cast<uint8_t>(i * 7 + 3);
    sum = (sum ^ out[i]) * 0x100000001b3ull;
  }
  ASSERT_TRUE(write_all(conn->get(), out, "bulk to guest").ok());
  std::vector<uint8_t> back(kBytes);
  auto r = read_exact(conn->get(), back, "bulk from guest");
  ASSERT_TRUE(r.ok()) << r.error().message << "\n" << vmm->serial();
  for (size_t i = 0; i < kBytes; i++)
    ASSERT_EQ(back[i], static_cast<uint8_t>(i * 131 + (i >> 8))) << "byte " << i;

  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  char line[96];
  std::snprintf(line, sizeof line, "vsock-bulk: received %zu bytes, fnv1a %016" PRIx64, kBytes,
                sum);
  EXPECT_TRUE(has_line(*e, line)) << "missing \"" << line << "\"\n" << describe(*e);
  EXPECT_TRUE(
      has_line(*e, std::string("virtio-vsock: slot 0 gsi 5: guest cid 3") + GetParam().suffix))
      << describe(*e);
  EXPECT_TRUE(has_line(*e, "vsock-bulk: sent 32768 bytes")) << describe(*e);
}

INSTANTIATE_TEST_SUITE_P(Vsock, VsockRingTest, ::testing::ValuesIn(kRingCases), ring_name);

TEST_F(GuestTest, VsockMalformedRequestsAreRefusedWithoutHostSockets) {
  std::string uds = dir_->file("vsock.sock");
  auto listener = unix_listen(uds + "_5001");  // must never see a connection
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  auto vmm = start_guest("thaw.test=vsock-hostile thaw.port=5000 thaw.host_port=5001",
                         {"--vsock-uds", uds});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  talk_to_guest(*vmm, uds, 5000);  // the device still works afterwards
  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_EQ(missing_lines(*e, {"vsock-hostile: spoofed src_cid refused with RST ok",
                               "vsock-hostile: REQUEST with payload refused with RST ok",
                               "vsock-hostile: SEQPACKET type refused with RST ok",
                               "vsock: received from host: ping from host"}),
            "")
      << describe(*e);
  auto stray = unix_accept(listener->get(), std::chrono::milliseconds(0));
  EXPECT_FALSE(stray.ok()) << "thaw-vmm opened a host connection for a malformed REQUEST";
}

TEST_F(GuestTest, VsockKeepsConcurrentStreamsApart) {
  std::string uds = dir_->file("vsock.sock");
  auto vmm = start_guest("thaw.test=vsock-multi thaw.port=5000 thaw.conns=3", {"--vsock-uds", uds});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE(vmm->wait_for_serial("vsock: listening on port 5000", seconds(30)).ok())
      << vmm->serial();
  std::vector<UniqueFd> conns;
  std::vector<uint32_t> host_ports;
  for (int i = 0; i < 3; i++) {
    uint32_t host_port = 0;
    auto c = vsock_connect_guest(uds, 5000, seconds(30), &host_port);
    ASSERT_TRUE(c.ok()) << "connection " << i << ": " << c.error().message;
    conns.push_back(std::move(*c));
    host_ports.push_back(host_port);
  }
  // Each stream needs its own host-side port, or the guest could not tell them apart.
  EXPECT_NE(host_ports[0], host_ports[1]);
  EXPECT_NE(host_ports[1], host_ports[2]);
  EXPECT_NE(host_ports[0], host_ports[2]);
  for (int i = 0; i < 3; i++) {
    std::string msg = "stream " + std::to_string(i) + "\n";
    ASSERT_TRUE(
        write_all(conns[i].get(), {reinterpret_cast<const uint8_t*>(msg.data()), msg.size()}, "msg")
            .ok());
  }
  for (int i = 0; i < 3; i++) {
    auto reply = read_line(conns[i].get(), seconds(30));
    ASSERT_TRUE(reply.ok()) << "stream " << i << ": " << reply.error().message << "\n"
                            << vmm->serial();
    EXPECT_EQ(*reply, "pong: stream " + std::to_string(i));
  }
  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_EQ(missing_lines(*e, {"vsock-multi: accepted 3 connections on port 5000",
                               "vsock-multi: connection 2 said \"stream 2\"",
                               "vsock-multi: connection 0 said \"stream 0\""}),
            "")
      << describe(*e);
}

TEST_F(GuestTest, VsockHostVanishingMidLineEndsTheStream) {
  std::string uds = dir_->file("vsock.sock");
  auto vmm = start_guest("thaw.test=vsock-abort thaw.port=5000", {"--vsock-uds", uds});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE(vmm->wait_for_serial("vsock: listening on port 5000", seconds(30)).ok())
      << vmm->serial();
  {
    auto conn = vsock_connect_guest(uds, 5000, seconds(30), nullptr);
    ASSERT_TRUE(conn.ok()) << conn.error().message;
    std::string half = "half a li";
    ASSERT_TRUE(
        write_all(conn->get(), {reinterpret_cast<const uint8_t*>(half.data()), half.size()}, "half")
            .ok());
  }  // closed here, mid-line
  ASSERT_TRUE(vmm->wait_for_serial("vsock-abort: stream ended by ", seconds(30)).ok())
      << vmm->serial();
  talk_to_guest(*vmm, uds, 5000);  // and the device still works
  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_TRUE(has_line(*e, "vsock-abort: stream ended by EOF after 9 bytes ok") ||
              has_line(*e, "vsock-abort: stream ended by RST after 9 bytes ok"))
      << describe(*e);
  EXPECT_TRUE(has_line(*e, "vsock: received from host: ping from host")) << describe(*e);
}

TEST_F(GuestTest, VsockGuestConnectsToHost) {
  std::string uds = dir_->file("vsock.sock");
  auto listener = unix_listen(uds + "_5001");
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  HostListener host(std::move(*listener));
  auto e = run("thaw.test=vsock-connect thaw.host_port=5001", {"--vsock-uds", uds});
  host.join();
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(host.error, "");
  EXPECT_EQ(host.guest_hello, "hello from guest cid 3");
  EXPECT_EQ(missing_lines(e, kConnectLines), "") << describe(e);
}

TEST_F(GuestTest, VsockBothWaysInOneBoot) {
  std::string uds = dir_->file("vsock.sock");
  auto listener = unix_listen(uds + "_5001");
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  HostListener host(std::move(*listener));
  auto vmm =
      start_guest("thaw.test=vsock thaw.port=5000 thaw.host_port=5001", {"--vsock-uds", uds});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  talk_to_guest(*vmm, uds, 5000);
  auto e = vmm->wait(seconds(60));
  host.join();
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_EQ(host.guest_hello, "hello from guest cid 3") << host.error;
  EXPECT_EQ(missing_lines(*e, kListenLines), "") << describe(*e);
  EXPECT_EQ(missing_lines(*e, kConnectLines), "") << describe(*e);
}

}  // namespace
}  // namespace thaw::testguest
