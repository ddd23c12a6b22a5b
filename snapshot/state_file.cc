#include "snapshot/state_file.h"


#include <algorithm>
#include <cstring>
#include <set>

#include "common/byte_io.h"
#include "common/file_util.h"
#include "snapshot/sealed_file.h"

namespace thaw::snapshot {

namespace {

constexpr SealedFormat kStateFormat{{kStateMagic, sizeof kStateMagic},
                                     kStateFormatVersion,
                                     "snapshot state file",
                                     "re-create the snapshot with this build"};
constexpr uint64_t kPageSize = 4096;

enum class Tag : uint32_t { kMachine = 1, kVcpu = 2, kVm = 3, kDevice = 4 };

// Kernel ABI structs travel with their size so a snapshot from a kernel
// whose struct differs is refused instead of misread.
template <typename T>
void put_struct(ByteWriter& w, const T& value) {
  w.put(static_cast<uint32_t>(sizeof(T)));
  w.put(value);
}

template <typename T>
Result<void> get_struct(ByteReader& r, T& out, std::string_view field) {
  auto size = r.get<uint32_t>(field);
  if (!size) return std::move(size).error();
  if (*size != sizeof(T)) {
    return Error::format("{} is {} bytes, this build expects {} (snapshot from another KVM ABI)",
                         field, *size, sizeof(T));
  }
  auto v = r.get<T>(field);
  if (!v) return std::move(v).error();
  out = *v;
  return Ok();
}

template <typename T>
void put_array(ByteWriter& w, const std::vector<T>& items) {
  w.put(static_cast<uint32_t>(items.size()));
  w.put(static_cast<uint32_t>(sizeof(T)));
  for (const auto& item : items) w.put(item);
}

template <typename T>
Result<void> get_array(ByteReader& r, std::vector<T>& out, uint32_t max, std::string_view field) {
  auto count = r.get<uint32_t>(field);
  if (!count) return std::move(count).error();
  auto size = r.get<uint32_t>(field);
  if (!size) return std::move(size).error();
  if (*count > max) return Error::format("{}: {} entries, over the limit of {}", field, *count, max);
  if (*size != sizeof(T)) {
    return Error::format("{}: entries are {} bytes, this build expects {}", field, *size, sizeof(T));
  }
  out.resize(*count);
  for (auto& item : out) {
    auto v = r.get<T>(field);
    if (!v) return std::move(v).error();
    item = *v;
  }
  return Ok();
}

void encode_machine(ByteWriter& w, const MachineInfo& m) {
  w.put(static_cast<uint32_t>(m.kind));
  w.put(m.memory_size);
  w.put(static_cast<uint32_t>(m.regions.size()));
  for (const auto& region : m.regions) {
    w.put(region.guest_base);
    w.put(region.size);
    w.put(region.file_offset);
  }
  w.put(m.vcpu_count);
  w.put_string(m.cpu_model);
  put_array(w, m.cpuid);
  w.put_bytes(m.snapshot_id);
}

void encode_vcpu(ByteWriter& w, const VcpuState& v) {
  w.put(v.index);
  put_struct(w, v.mp_state);
  put_struct(w, v.regs);
  put_struct(w, v.sregs);
  w.put_blob(v.xsave);
  w.put(static_cast<uint8_t>(v.has_xcrs));
  put_struct(w, v.xcrs);
  put_struct(w, v.debugregs);
  put_struct(w, v.lapic);
  put_array(w, v.msrs);
  put_struct(w, v.events);
}

void encode_vm(ByteWriter& w, const VmState& vm) {
  put_struct(w, vm.pit);
  put_struct(w, vm.clock);
  put_struct(w, vm.pic_master);
  put_struct(w, vm.pic_slave);
  put_struct(w, vm.ioapic);
}

void put_section(ByteWriter& body, Tag tag, ByteWriter&& section) {
  body.put(static_cast<uint32_t>(tag));
  body.put(uint32_t{0});
  body.put(static_cast<uint64_t>(section.size()));
  body.put_bytes(section.bytes());
}

Result<MachineInfo> decode_machine(ByteReader& r) {
  MachineInfo m;
  auto kind = r.get<uint32_t>("machine kind");
  if (!kind) return std::move(kind).error();
  if (*kind < 1 || *kind > 3) return Error::format("machine kind {} is unknown", *kind);
  m.kind = static_cast<SnapshotKind>(*kind);
  auto mem = r.get<uint64_t>("memory size");
  if (!mem) return std::move(mem).error();
  m.memory_size = *mem;
  auto nregions = r.get<uint32_t>("region count");
  if (!nregions) return std::move(nregions).error();
  if (*nregions == 0 || *nregions > 8) {
    return Error::format("{} memory regions, expected 1 to 8", *nregions);
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < *nregions; ++i) {
    MemoryRegionInfo region;
    auto base = r.get<uint64_t>("region base");
    auto size = base ? r.get<uint64_t>("region size") : Result<uint64_t>(base.error());
    auto off = size ? r.get<uint64_t>("region file offset") : Result<uint64_t>(size.error());
    if (!off) return std::move(off).error();
    region = {*base, *size, *off};
    if (region.size == 0 || region.size % kPageSize || region.guest_base % kPageSize ||
        region.file_offset != total) {
      return Error::format("memory region {} [{:#x}, +{:#x}) at file offset {:#x} is malformed", i,
                           region.guest_base, region.size, region.file_offset);
    }
    total += region.size;
    m.regions.push_back(region);
  }
  if (total != m.memory_size) {
    return Error::format("memory regions add up to {} bytes, machine says {}", total,
                         m.memory_size);
  }
  auto vcpus = r.get<uint32_t>("vcpu count");
  if (!vcpus) return std::move(vcpus).error();
  if (*vcpus == 0 || *vcpus > kMaxVcpus) {
    return Error::format("vcpu count {} is outside 1..{}", *vcpus, kMaxVcpus);
  }
  m.vcpu_count = *vcpus;
  auto model = r.get_string(64, "cpu model");
  if (!model) return std::move(model).error();
  m.cpu_model = *model;
  auto cpuid = get_array(r, m.cpuid, kMaxCpuidEntries, "cpuid table");
  if (!cpuid) return std::move(cpuid).error();
  auto id = r.get_bytes(m.snapshot_id.size(), "snapshot id");
  if (!id) return std::move(id).error();
  std::copy(id->begin(), id->end(), m.snapshot_id.begin());
  return m;
}

Result<VcpuState> decode_vcpu(ByteReader& r) {
  VcpuState v;
  auto index = r.get<uint32_t>("vcpu index");
  if (!index) return std::move(index).error();
  v.index = *index;
  Result<void> step = get_struct(r, v.mp_state, "vcpu mp_state");
  if (step) step = get_struct(r, v.regs, "vcpu regs");
  if (step) step = get_struct(r, v.sregs, "vcpu sregs");
  if (!step) return std::move(step).error();
  auto xsave = r.get_blob(kMaxXsaveBytes, "vcpu xsave");
  if (!xsave) return std::move(xsave).error();
  v.xsave.assign(xsave->begin(), xsave->end());
  auto has_xcrs = r.get<uint8_t>("vcpu has_xcrs");
  if (!has_xcrs) return std::move(has_xcrs).error();
  v.has_xcrs = *has_xcrs != 0;
  step = get_struct(r, v.xcrs, "vcpu xcrs");
  if (step) step = get_struct(r, v.debugregs, "vcpu debugregs");
  if (step) step = get_struct(r, v.lapic, "vcpu lapic");
  if (step) step = get_array(r, v.msrs, kMaxMsrs, "vcpu msrs");
  if (step) step = get_struct(r, v.events, "vcpu events");
  if (!step) return std::move(step).error();
  return v;
}

Result<VmState> decode_vm(ByteReader& r) {
  VmState vm;
  Result<void> step = get_struct(r, vm.pit, "vm pit");
  if (step) step = get_struct(r, vm.clock, "vm clock");
  if (step) step = get_struct(r, vm.pic_master, "vm pic master");
  if (step) step = get_struct(r, vm.pic_slave, "vm pic slave");
  if (step) step = get_struct(r, vm.ioapic, "vm ioapic");
  if (!step) return std::move(step).error();
  return vm;
}

Result<DeviceState> decode_device(ByteReader& r) {
  DeviceState d;
  auto name = r.get_string(64, "device name");
  if (!name) return std::move(name).error();
  d.name = *name;
  auto blob = r.get_blob(kMaxDeviceBlobBytes, "device " + d.name + " state");
  if (!blob) return std::move(blob).error();
  d.blob.assign(blob->begin(), blob->end());
  return d;
}

// Decodes a whole section; a section whose decoder leaves bytes behind is
// as malformed as one that runs short.
template <typename Decode>
auto decode_section(std::span<const uint8_t> bytes, std::string_view what, Decode decode)
    -> decltype(decode(std::declval<ByteReader&>())) {
  ByteReader r(bytes);
  auto out = decode(r);
  if (!out) return Error(out.error()).context(what);
  if (r.remaining() != 0) {
    return Error::format("{}: {} trailing bytes after the section's content", what, r.remaining());
  }
  return out;
}

Result<SnapshotState> decode_body(std::span<const uint8_t> body) {
  ByteReader r(body);
  SnapshotState state;
  bool have_machine = false, have_vm = false;
  std::set<uint32_t> vcpus_seen;
  std::set<std::string> devices_seen;
  auto count = r.get<uint32_t>("section count");
  if (!count) return std::move(count).error();
  for (uint32_t i = 0; i < *count; ++i) {
    auto tag = r.get<uint32_t>("section tag");
    auto reserved = tag ? r.get<uint32_t>("section flags") : Result<uint32_t>(tag.error());
    auto len = reserved ? r.get<uint64_t>("section length") : Result<uint64_t>(reserved.error());
    if (!len) return std::move(len).error();
    auto bytes = r.get_bytes(*len, fmt::format("section {} (tag {})", i, *tag));
    if (!bytes) return std::move(bytes).error();
    if (i == 0 && *tag != static_cast<uint32_t>(Tag::kMachine)) {
      return Error::format("the first section has tag {}, expected the machine section", *tag);
    }
    switch (static_cast<Tag>(*tag)) {
      case Tag::kMachine: {
        if (have_machine) return Error::format("more than one machine section");
        auto m = decode_section(*bytes, "machine section", decode_machine);
        if (!m) return std::move(m).error();
        state.machine = std::move(*m);
        have_machine = true;
        break;
      }
      case Tag::kVcpu: {
        auto v = decode_section(*bytes, "vcpu section", decode_vcpu);
        if (!v) return std::move(v).error();
        if (v->index >= state.machine.vcpu_count || !vcpus_seen.insert(v->index).second) {
          return Error::format("vcpu section for index {} is duplicate or beyond the {} vcpus",
                               v->index, state.machine.vcpu_count);
        }
        state.vcpus.push_back(std::move(*v));
        break;
      }
      case Tag::kVm: {
        if (have_vm) return Error::format("more than one vm section");
        auto vm = decode_section(*bytes, "vm section", decode_vm);
        if (!vm) return std::move(vm).error();
        state.vm = *vm;
        have_vm = true;
        break;
      }
      case Tag::kDevice: {
        if (state.devices.size() >= kMaxDevices) {
          return Error::format("more than {} device sections", kMaxDevices);
        }
        auto d = decode_section(*bytes, "device section", decode_device);
        if (!d) return std::move(d).error();
        if (!devices_seen.insert(d->name).second) {
          return Error::format("device {} appears twice", d->name);
        }
        state.devices.push_back(std::move(*d));
        break;
      }
      default:
        return Error::format("section {} has unknown tag {}", i, *tag);
    }
  }
  if (r.remaining() != 0) {
    return Error::format("{} trailing bytes after the last section", r.remaining());
  }
  if (!have_vm) return Error::format("the vm section is missing");
  if (state.vcpus.size() != state.machine.vcpu_count) {
    return Error::format("{} vcpu sections for {} vcpus", state.vcpus.size(),
                         state.machine.vcpu_count);
  }
  std::sort(state.vcpus.begin(), state.vcpus.end(),
            [](const VcpuState& a, const VcpuState& b) { return a.index < b.index; });
  return state;
}

}  // namespace

std::vector<uint8_t> encode_state(const SnapshotState& state) {
  ByteWriter body;
  body.put(static_cast<uint32_t>(2 + state.vcpus.size() + state.devices.size()));
  ByteWriter machine;
  encode_machine(machine, state.machine);
  put_section(body, Tag::kMachine, std::move(machine));
  for (const auto& v : state.vcpus) {
    ByteWriter s;
    encode_vcpu(s, v);
    put_section(body, Tag::kVcpu, std::move(s));
  }
  ByteWriter vm;
  encode_vm(vm, state.vm);
  put_section(body, Tag::kVm, std::move(vm));
  for (const auto& d : state.devices) {
    ByteWriter s;
    s.put_string(d.name);
    s.put_blob(d.blob);
    put_section(body, Tag::kDevice, std::move(s));
  }

  return seal(kStateFormat, body.bytes());
}

Result<SnapshotState> decode_state(std::span<const uint8_t> bytes) {
  auto body = unseal(kStateFormat, bytes);
  if (!body) return std::move(body).error();
  return decode_body(*body);
}

Result<void> write_state_file(const std::string& path, const SnapshotState& state) {
  return write_file_atomic(path, encode_state(state), 0600);
}

Result<SnapshotState> read_state_file(const std::string& path) {
  auto bytes = read_file(path, kMaxStateFileBytes);
  if (!bytes) return std::move(bytes).error();
  auto state = decode_state(*bytes);
  if (!state) return Error(state.error()).context(path);
  return state;
}

}  // namespace thaw::snapshot
