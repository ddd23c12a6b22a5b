#include "sandbox/vmm/machine.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/file_util.h"
#include "sandbox/devices/i8042.h"
#include "sandbox/devices/serial.h"
#include "sandbox/devices/virtio/mmio_transport.h"
#include "sandbox/devices/virtio/virtio_blk.h"
#include "sandbox/devices/virtio/vsock_device.h"

namespace thaw::sandbox {

namespace {

Result<void> add_legacy_devices(Vmm& vmm, const VmmConfig& config) {
  int out_fd = STDOUT_FILENO;
  if (!config.serial_path.empty() && config.serial_path != "-") {
    auto fd = open_file(config.serial_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (!fd) return std::move(fd).error().context("opening --serial");
    out_fd = fd->get();
    vmm.keep_fd(std::move(*fd));
  }
  auto irq = vmm.interrupt_line(kCom1Irq);
  if (!irq) return std::move(irq).error();
  auto serial = std::make_shared<Serial>(out_fd, *irq);
  if (auto r = vmm.add_pio_device(kCom1Base, kSerialWindow, serial); !r) return r;
  vmm.add_stats_source([serial] {
    return DeviceStats{"serial",
                       {{"bytes_read", serial->bytes_read()},
                        {"bytes_written", serial->bytes_written()},
                        {"bytes_dropped", serial->bytes_dropped()}}};
  });

  Vmm* raw = &vmm;
  auto i8042 = std::make_shared<I8042>([raw] {
    raw->request_stop(kExitClean, "guest requested a CPU reset through the i8042 (0xFE)");
  });
  if (auto r = vmm.add_pio_device(kI8042Base, kI8042Window, i8042); !r) return r;
  vmm.add_stats_source([i8042] {
    return DeviceStats{"i8042", {{"reset_requests", i8042->reset_requests()}}};
  });
  return Ok();
}

// Plugs `device` in as virtio-mmio device number `index`.
Result<std::shared_ptr<virtio::MmioTransport>> add_virtio(
    Vmm& vmm, size_t index, std::unique_ptr<virtio::VirtioDevice> device) {
  uint64_t base = kVirtioMmioBase + index * kVirtioMmioStride;
  uint32_t gsi = kVirtioFirstGsi + static_cast<uint32_t>(index);
  auto irq = vmm.interrupt_line(gsi);
  if (!irq) return std::move(irq).error();
  // The Vmm keeps the line alive for as long as the transport exists.
  auto transport =
      std::make_shared<virtio::MmioTransport>(std::move(device), vmm.memory(), **irq);
  if (auto r = vmm.add_mmio_device(base, virtio::kMmioWindowSize, transport); !r) {
    return std::move(r).error();
  }
  for (uint32_t q = 0; q < transport->queue_count(); ++q) {
    // CONTRACT.md: QueueNotify at base + 0x50, 4 bytes, datamatch = queue.
    auto r = vmm.add_ioevent(base + virtio::kMmioNotifyOffset, q,
                             [transport, q] { transport->notify_queue(q); });
    if (!r) return std::move(r).error();
  }
  vmm.add_contract_check([transport, base]() -> std::string {
    if (!transport->is_broken()) return {};
    return fmt::format("virtio device {} at {:#x} stopped: {}", transport->name(), base,
                       transport->broken_reason());
  });
  return transport;
}

}  // namespace

std::string virtio_mmio_cmdline(size_t device_count) {
  std::string out;
  for (size_t i = 0; i < device_count; ++i) {
    if (!out.empty()) out += ' ';
    out += fmt::format("virtio_mmio.device=4K@{:#x}:{}", kVirtioMmioBase + i * kVirtioMmioStride,
                       kVirtioFirstGsi + i);
  }
  return out;
}

Result<std::unique_ptr<Vmm>> build_machine(const VmmConfig& config, int& failure_code) {
  failure_code = kExitUsage;
  if (auto r = validate_config(config); !r) return std::move(r).error();
  failure_code = kExitHostError;
  auto vmm = Vmm::create(config);
  if (!vmm) return std::move(vmm).error();
  // From here on, failures are about the user's files and paths.
  failure_code = kExitUsage;
  auto count = attach_machine_devices(**vmm, config);
  if (!count) return std::move(count).error();
  if (auto r = (*vmm)->boot(virtio_mmio_cmdline(*count)); !r) return std::move(r).error();
  return vmm;
}

Result<size_t> attach_machine_devices(Vmm& v, const VmmConfig& config) {
  if (auto r = add_legacy_devices(v, config); !r) return std::move(r).error();

  size_t index = 0;
  for (const DiskConfig& disk : config.disks) {
    virtio::BlkConfig blk_config;
    blk_config.path = disk.path;
    blk_config.read_only = disk.read_only;
    auto blk = virtio::VirtioBlk::create(blk_config, v.io_loop());
    if (!blk) return std::move(blk).error().context(fmt::format("--disk {}", disk.path));
    auto transport = add_virtio(v, index++, std::move(*blk));
    if (!transport) return std::move(transport).error();
    auto t = *transport;
    v.add_stats_source([t] {
      auto s = static_cast<virtio::VirtioBlk&>(t->device()).stats();
      return DeviceStats{std::string(t->name()),
                         {{"bytes_read", s.bytes_read},
                          {"bytes_written", s.bytes_written},
                          {"requests", s.requests},
                          {"flushes", s.flushes},
                          {"errors", s.errors}}};
    });
  }
  if (!config.vsock_uds.empty()) {
    virtio::VsockConfig vsock_config;
    vsock_config.guest_cid = config.vsock_cid;
    vsock_config.uds_path = config.vsock_uds;
    auto vsock = virtio::VsockDevice::create(vsock_config, v.io_loop());
    if (!vsock) return std::move(vsock).error().context("--vsock-uds");
    auto transport = add_virtio(v, index++, std::move(*vsock));
    if (!transport) return std::move(transport).error();
    auto t = *transport;
    v.add_stats_source([t] {
      auto s = static_cast<virtio::VsockDevice&>(t->device()).stats();
      // Guest's view, like the other devices: read = host -> guest.
      return DeviceStats{"vsock",
                         {{"bytes_read", s.bytes_to_guest},
                          {"bytes_written", s.bytes_to_host},
                          {"connections_opened", s.connections_opened},
                          {"active_connections", s.active_connections},
                          {"resets_sent", s.resets_sent},
                          {"bad_packets", s.bad_packets}}};
    });
  }
  return index;
}

}  // namespace thaw::sandbox
