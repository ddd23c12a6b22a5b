#include "sandbox/boot/mptable.h"

#include <cstring>
#include <vector>

namespace thaw::sandbox::boot {

namespace {

// Structures from MP spec 1.4 chapter 4; packed, little-endian.
#pragma pack(push, 1)
struct FloatingPointer {  // §4.1
  char signature[4];      // "_MP_"
  uint32_t config_table;  // physical address of the configuration table
  uint8_t length;         // in 16-byte units: 1
  uint8_t spec_rev;       // 4 = version 1.4
  uint8_t checksum;
  uint8_t feature[5];  // feature[0] = 0: a configuration table is present
};
struct ConfigHeader {  // §4.2
  char signature[4];   // "PCMP"
  uint16_t base_length;
  uint8_t spec_rev;
  uint8_t checksum;
  char oem_id[8];
  char product_id[12];
  uint32_t oem_table;
  uint16_t oem_table_size;
  uint16_t entry_count;
  uint32_t lapic_address;
  uint16_t ext_length;
  uint8_t ext_checksum;
  uint8_t reserved;
};
struct ProcessorEntry {  // §4.3.1, type 0
  uint8_t type;
  uint8_t lapic_id;
  uint8_t lapic_version;
  uint8_t flags;  // bit 0 enabled, bit 1 bootstrap processor
  uint32_t signature;
  uint32_t features;
  uint32_t reserved[2];
};
struct BusEntry {  // §4.3.2, type 1
  uint8_t type;
  uint8_t bus_id;
  char bus_type[6];  // "ISA   "
};
struct IoapicEntry {  // §4.3.3, type 2
  uint8_t type;
  uint8_t id;
  uint8_t version;
  uint8_t flags;  // bit 0 enabled
  uint32_t address;
};
struct InterruptEntry {  // §4.3.4 (type 3, I/O) and §4.3.5 (type 4, local)
  uint8_t type;
  uint8_t irq_type;  // 0 INT, 1 NMI, 3 ExtINT
  uint16_t flags;    // 0: polarity and trigger conform to the bus
  uint8_t source_bus;
  uint8_t source_irq;
  uint8_t dest_id;   // IOAPIC id, or LAPIC id (0xff = all)
  uint8_t dest_pin;  // IOAPIC INTIN, or LINTIN
};
#pragma pack(pop)
static_assert(sizeof(FloatingPointer) == 16 && sizeof(ConfigHeader) == 44);
static_assert(sizeof(ProcessorEntry) == 20 && sizeof(BusEntry) == 8);
static_assert(sizeof(IoapicEntry) == 8 && sizeof(InterruptEntry) == 8);

constexpr uint8_t kSpecRev = 4;
constexpr uint8_t kLapicVersion = 0x14;
constexpr uint8_t kIoapicVersion = 0x11;
constexpr uint8_t kBusIsa = 0;
constexpr uint8_t kIrqInt = 0;
constexpr uint8_t kIrqNmi = 1;
constexpr uint8_t kIrqExtInt = 3;
// Family 6 and the FPU + APIC feature bits: what the spec asks processor
// entries to carry; Linux only reads the APIC id and flags.
constexpr uint32_t kCpuSignature = 0x600;
constexpr uint32_t kCpuFeatures = 0x201;

// §4: the bytes of each structure sum to zero.
uint8_t checksum(const uint8_t* data, size_t size) {
  uint8_t sum = 0;
  for (size_t i = 0; i < size; ++i) sum = static_cast<uint8_t>(sum + data[i]);
  return static_cast<uint8_t>(-sum);
}

template <typename T>
void append(std::vector<uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

}  // namespace

uint64_t mptable_size(uint32_t vcpus) {
  return sizeof(FloatingPointer) + sizeof(ConfigHeader) + vcpus * sizeof(ProcessorEntry) +
         sizeof(BusEntry) + sizeof(IoapicEntry) + kIoapicPins * sizeof(InterruptEntry) +
         2 * sizeof(InterruptEntry);
}

Result<void> write_mptable(const GuestMemory& mem, uint32_t vcpus) {
  if (vcpus == 0 || vcpus >= 0xff || mptable_size(vcpus) > kMpTableMaxBytes) {
    return Error::format("MP table for {} vCPUs needs {} bytes; the EBDA slot holds {}", vcpus,
                         mptable_size(vcpus), kMpTableMaxBytes);
  }
  const uint8_t ioapic_id = static_cast<uint8_t>(vcpus);
  std::vector<uint8_t> entries;
  uint16_t count = 0;
  for (uint32_t id = 0; id < vcpus; ++id, ++count) {
    ProcessorEntry cpu{};
    cpu.type = 0;
    cpu.lapic_id = static_cast<uint8_t>(id);
    cpu.lapic_version = kLapicVersion;
    cpu.flags = static_cast<uint8_t>(0x1 | (id == 0 ? 0x2 : 0));
    cpu.signature = kCpuSignature;
    cpu.features = kCpuFeatures;
    append(entries, cpu);
  }
  BusEntry bus{1, kBusIsa, {'I', 'S', 'A', ' ', ' ', ' '}};
  append(entries, bus);
  ++count;
  IoapicEntry ioapic{2, ioapic_id, kIoapicVersion, 0x1, static_cast<uint32_t>(kIoapicAddress)};
  append(entries, ioapic);
  ++count;
  for (uint32_t pin = 0; pin < kIoapicPins; ++pin, ++count) {
    append(entries, InterruptEntry{3, kIrqInt, 0, kBusIsa, static_cast<uint8_t>(pin), ioapic_id,
                                   static_cast<uint8_t>(pin)});
  }
  append(entries, InterruptEntry{4, kIrqExtInt, 0, kBusIsa, 0, 0, 0});
  append(entries, InterruptEntry{4, kIrqNmi, 0, kBusIsa, 0, 0xff, 1});
  count += 2;

  ConfigHeader header{};
  std::memcpy(header.signature, "PCMP", 4);
  header.base_length = static_cast<uint16_t>(sizeof(header) + entries.size());
  header.spec_rev = kSpecRev;
  std::memcpy(header.oem_id, "THAW    ", 8);
  std::memcpy(header.product_id, "MICROVM     ", 12);
  header.entry_count = count;
  header.lapic_address = static_cast<uint32_t>(kLapicAddress);
  std::vector<uint8_t> table;
  append(table, header);
  table.insert(table.end(), entries.begin(), entries.end());
  table[offsetof(ConfigHeader, checksum)] = checksum(table.data(), table.size());

  FloatingPointer fp{};
  std::memcpy(fp.signature, "_MP_", 4);
  fp.config_table = static_cast<uint32_t>(kMpTableAddress + sizeof(FloatingPointer));
  fp.length = 1;
  fp.spec_rev = kSpecRev;
  fp.checksum = checksum(reinterpret_cast<const uint8_t*>(&fp), sizeof(fp));

  std::vector<uint8_t> all;
  append(all, fp);
  all.insert(all.end(), table.begin(), table.end());
  auto r = mem.write(kMpTableAddress, all);
  if (!r) return std::move(r).error().context("writing the MP table");
  return Ok();
}

}  // namespace thaw::sandbox::boot
