// Tests of sandbox/boot/: zero page, e820, command line, initrd placement,
// GDT/page tables/long-mode registers, and the ELF and bzImage loaders with
// valid and malformed images. Pure: no KVM needed.
#include <gtest/gtest.h>

#include <string>

#include "sandbox/boot/boot_params.h"
#include "sandbox/boot/bzimage.h"
#include "sandbox/boot/elf_loader.h"
#include "sandbox/boot/layout.h"
#include "sandbox/boot/long_mode.h"
#include "sandbox/boot/mptable.h"
#include "tests/sandbox/image_builders.h"

namespace thaw::sandbox::boot {
namespace {

using testing::make_bzimage;
using testing::make_elf;
using testing::TestSegment;

constexpr uint64_t kMiB = 1 << 20;

GuestMemory memory(uint64_t size = 16 * kMiB) {
  auto m = GuestMemory::create_anonymous(size);
  EXPECT_TRUE(m) << m.error().message;
  return std::move(*m);
}

std::vector<uint8_t> code(std::initializer_list<uint8_t> b) { return std::vector<uint8_t>(b); }

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- e820 and zero page -------------------------------------------------

TEST(BootParams, E820CoversLowRamAroundTheEbdaHole) {
  auto mem = memory(64 * kMiB);
  auto map = e820_map(mem);
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0].addr, 0u);
  EXPECT_EQ(map[0].size, kEbdaStart);
  EXPECT_EQ(map[1].addr, kHighMemoryStart);
  EXPECT_EQ(map[1].size, 64 * kMiB - kHighMemoryStart);
  for (auto& e : map) EXPECT_EQ(e.type, kE820Ram);
}

TEST(BootParams, E820AddsTheRegionAbove4GiB) {
  // 4 GiB of guest RAM: 3.25 GiB below the MMIO gap, 0.75 GiB above 4 GiB.
  // NORESERVE anonymous memory, nothing is touched.
  auto mem = memory(4ull << 30);
  auto map = e820_map(mem);
  ASSERT_EQ(map.size(), 3u);
  EXPECT_EQ(map[1].addr + map[1].size, kMmioGapStart);
  EXPECT_EQ(map[2].addr, kMmioGapEnd);
  EXPECT_EQ(map[2].size, (4ull << 30) - kMmioGapStart);
}

TEST(BootParams, ZeroPageForElfHasLoaderFieldsCmdlineAndInitrd) {
  auto mem = memory();
  ASSERT_TRUE(write_boot_params(mem, KernelBootInfo{}, 12, InitrdPlacement{0x800000, 0x1234}));
  auto params = mem.read_obj<boot_params>(kZeroPageAddress);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.boot_flag, 0xaa55);
  EXPECT_EQ(params->hdr.header, kSetupHeaderMagic);
  EXPECT_EQ(params->hdr.type_of_loader, kLoaderTypeUndefined);
  EXPECT_EQ(params->hdr.cmd_line_ptr, kCmdlineAddress);
  EXPECT_EQ(params->hdr.cmdline_size, 12u);
  EXPECT_EQ(params->hdr.ramdisk_image, 0x800000u);
  EXPECT_EQ(params->hdr.ramdisk_size, 0x1234u);
  EXPECT_EQ(params->e820_entries, 2);
  EXPECT_EQ(params->e820_table[1].addr, kHighMemoryStart);
}

TEST(BootParams, ZeroPageForBzImageKeepsTheImageHeader) {
  auto mem = memory();
  setup_header h{};
  h.header = kSetupHeaderMagic;
  h.version = 0x020f;
  h.cmdline_size = 255;
  h.xloadflags = 0x3;
  ASSERT_TRUE(write_boot_params(mem, KernelBootInfo{h}, 10, std::nullopt));
  auto params = mem.read_obj<boot_params>(kZeroPageAddress);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.version, 0x020f);
  EXPECT_EQ(params->hdr.xloadflags, 0x3);
  EXPECT_EQ(params->hdr.cmdline_size, 255u) << "the kernel's limit must not be overwritten";
  EXPECT_EQ(params->hdr.type_of_loader, kLoaderTypeUndefined);
  EXPECT_EQ(params->hdr.ramdisk_image, 0u);
}

TEST(BootParams, CmdlineIsWrittenWithItsNul) {
  auto mem = memory();
  ASSERT_TRUE(write_cmdline(mem, "console=ttyS0", 2047));
  std::array<char, 14> buf{};
  ASSERT_TRUE(mem.read(kCmdlineAddress, {reinterpret_cast<uint8_t*>(buf.data()), buf.size()}));
  EXPECT_STREQ(buf.data(), "console=ttyS0");
}

TEST(BootParams, CmdlineOverTheLimitIsRejectedNamingTheLimit) {
  auto mem = memory();
  auto r = write_cmdline(mem, std::string(kCmdlineMaxBytes, 'x'), 100000);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "2047")) << r.error().message;
  r = write_cmdline(mem, std::string(300, 'x'), 255);  // the kernel's own cmdline_size
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "255")) << r.error().message;
  EXPECT_TRUE(write_cmdline(mem, std::string(255, 'x'), 255));
}

TEST(BootParams, CmdlineWithEmbeddedNulIsRejected) {
  auto mem = memory();
  auto r = write_cmdline(mem, std::string_view("a\0b", 3), 2047);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "NUL")) << r.error().message;
}

TEST(BootParams, InitrdGoesToTheTopOfLowRamPageAligned) {
  auto mem = memory(64 * kMiB);
  auto p = place_initrd(mem, 0x1801, 0x200000, kMmioGapStart - 1);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->address % 4096, 0u);
  EXPECT_LE(p->address + p->size, 64 * kMiB);
  EXPECT_GT(p->address + 4096 + p->size, 64 * kMiB);
}

TEST(BootParams, InitrdRespectsTheKernelsAddrMax) {
  auto mem = memory(64 * kMiB);
  auto p = place_initrd(mem, 0x1000, 0x200000, 0x00ffffff);  // below 16 MiB
  ASSERT_TRUE(p);
  EXPECT_LE(p->address + p->size, 0x1000000u);
}

TEST(BootParams, InitrdThatDoesNotFitAboveTheKernelIsRejected) {
  auto mem = memory(16 * kMiB);
  auto r = place_initrd(mem, 15 * kMiB, 2 * kMiB, kMmioGapStart - 1);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "--mem")) << r.error().message;
  EXPECT_FALSE(place_initrd(mem, UINT64_MAX, 2 * kMiB, UINT64_MAX));  // no overflow
  EXPECT_FALSE(place_initrd(mem, 0, 2 * kMiB, kMmioGapStart - 1));
}

// --- GDT, page tables, registers -------------------------------------------

TEST(LongMode, GdtEntriesDecodeToTheSegmentsKvmGets) {
  kvm_segment cs = segment_from_gdt(gdt_entry(0xa09b, 0, 0xfffff), kCodeSelector);
  EXPECT_EQ(cs.l, 1);
  EXPECT_EQ(cs.db, 0);
  EXPECT_EQ(cs.type, 0xb);
  EXPECT_EQ(cs.present, 1);
  EXPECT_EQ(cs.s, 1);
  EXPECT_EQ(cs.g, 1);
  EXPECT_EQ(cs.limit, 0xffffffffu);
  EXPECT_EQ(cs.selector, kCodeSelector);
  kvm_segment ds = segment_from_gdt(gdt_entry(0xc093, 0, 0xfffff), kDataSelector);
  EXPECT_EQ(ds.db, 1);
  EXPECT_EQ(ds.l, 0);
  EXPECT_EQ(ds.type, 0x3);
  kvm_segment odd = segment_from_gdt(gdt_entry(0x0093, 0x12345678, 0xabcde), 0);
  EXPECT_EQ(odd.base, 0x12345678u);
  EXPECT_EQ(odd.limit, 0xabcdeu);
  EXPECT_EQ(odd.unusable, 0);
}

TEST(LongMode, GdtInGuestMemoryMatchesTheSelectors) {
  auto mem = memory();
  ASSERT_TRUE(write_gdt_and_idt(mem));
  auto code_desc = mem.read_obj<uint64_t>(kGdtAddress + kCodeSelector);
  auto data_desc = mem.read_obj<uint64_t>(kGdtAddress + kDataSelector);
  ASSERT_TRUE(code_desc && data_desc);
  EXPECT_EQ(*code_desc, gdt_entry(0xa09b, 0, 0xfffff));
  EXPECT_EQ(*data_desc, gdt_entry(0xc093, 0, 0xfffff));
  EXPECT_EQ(*mem.read_obj<uint64_t>(kGdtAddress), 0u);
}

TEST(LongMode, PageTablesIdentityMapTheFirst4GiB) {
  auto mem = memory();
  ASSERT_TRUE(write_identity_page_tables(mem));
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPml4Address), kPdptAddress | 0x3);
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPml4Address + 8), 0u);
  for (uint64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(*mem.read_obj<uint64_t>(kPdptAddress + 8 * i), (kPdAddress + 0x1000 * i) | 0x3);
  }
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPdptAddress + 32), 0u);
  // Walk three addresses: first page, 1 MiB + 3 MiB, the virtio window.
  for (uint64_t va : {0ull, 0x400000ull, 0xd0000000ull, 0xfffff000ull}) {
    uint64_t pdpte = *mem.read_obj<uint64_t>(kPdptAddress + 8 * (va >> 30));
    uint64_t pde = *mem.read_obj<uint64_t>((pdpte & ~0xfffull) + 8 * ((va >> 21) & 511));
    EXPECT_EQ(pde & 0x83, 0x83u) << std::hex << va;  // present, writable, 2 MiB
    EXPECT_EQ((pde & ~0x1fffffull) | (va & 0x1fffff), va) << std::hex << va;
  }
}

TEST(LongMode, SregsEnterLongModeFromKvmResetState) {
  kvm_sregs sregs{};
  sregs.cr0 = 0x60000010;  // KVM's reset CR0
  setup_long_mode_sregs(sregs);
  EXPECT_TRUE(sregs.cr0 & kCr0Pe);
  EXPECT_TRUE(sregs.cr0 & kCr0Pg);
  EXPECT_TRUE(sregs.cr4 & kCr4Pae);
  EXPECT_TRUE(sregs.efer & kEferLme);
  EXPECT_TRUE(sregs.efer & kEferLma);
  EXPECT_EQ(sregs.cr3, kPml4Address);
  EXPECT_EQ(sregs.cs.selector, kCodeSelector);
  EXPECT_EQ(sregs.ss.selector, kDataSelector);
  EXPECT_EQ(sregs.ds.selector, kDataSelector);
  EXPECT_EQ(sregs.gdt.base, kGdtAddress);
  EXPECT_EQ(sregs.gdt.limit, 31);
  EXPECT_EQ(sregs.idt.base, kIdtAddress);
  EXPECT_EQ(sregs.tr.type, 0xb);
}

TEST(LongMode, BootRegistersFollowTheContract) {
  kvm_regs regs = boot_regs(0x1000200);
  EXPECT_EQ(regs.rip, 0x1000200u);
  EXPECT_EQ(regs.rsi, 0x7000u);
  EXPECT_EQ(regs.rsp, 0x8ff0u);
  EXPECT_EQ(regs.rflags, 0x2u) << "interrupts must be off at entry";
}

TEST(LongMode, LintPinsAreExtIntAndNmi) {
  kvm_lapic_state lapic{};
  std::memset(lapic.regs, 0xff, sizeof(lapic.regs));
  setup_lint_pins(lapic);
  uint32_t lint0, lint1;
  std::memcpy(&lint0, lapic.regs + 0x350, 4);
  std::memcpy(&lint1, lapic.regs + 0x360, 4);
  EXPECT_EQ(lint0 & 0x700, 0x700u);
  EXPECT_EQ(lint1 & 0x700, 0x400u);
  EXPECT_EQ(lint0 & ~0x700u, 0xfffff8ffu) << "other LVT bits are kept";
}

// --- MP table ------------------------------------------------------------------

uint8_t byte_sum(const GuestMemory& mem, uint64_t gpa, uint64_t len) {
  uint8_t sum = 0;
  auto s = mem.slice(gpa, len);
  EXPECT_TRUE(s);
  for (uint8_t b : *s) sum = static_cast<uint8_t>(sum + b);
  return sum;
}

TEST(MpTable, FloatingPointerAndTableAreValidForEveryCpuCount) {
  for (uint32_t vcpus : {1u, 2u, 32u}) {
    auto mem = memory();
    ASSERT_TRUE(write_mptable(mem, vcpus)) << vcpus;
    auto fp = mem.slice(kMpTableAddress, 16);
    ASSERT_TRUE(fp);
    EXPECT_EQ(std::memcmp(fp->data(), "_MP_", 4), 0);
    EXPECT_EQ(byte_sum(mem, kMpTableAddress, 16), 0) << "floating pointer checksum";
    uint32_t table = *mem.read_obj<uint32_t>(kMpTableAddress + 4);
    EXPECT_EQ(table, kMpTableAddress + 16);
    auto header = mem.slice(table, 44);
    ASSERT_TRUE(header);
    EXPECT_EQ(std::memcmp(header->data(), "PCMP", 4), 0);
    uint16_t length = *mem.read_obj<uint16_t>(table + 4);
    EXPECT_EQ(length + 16u, mptable_size(vcpus));
    EXPECT_EQ(byte_sum(mem, table, length), 0) << "configuration table checksum";
    uint16_t entries = *mem.read_obj<uint16_t>(table + 34);
    EXPECT_EQ(entries, vcpus + 2 + kIoapicPins + 2);
    EXPECT_EQ(*mem.read_obj<uint32_t>(table + 36), kLapicAddress);
    // Processor entries: APIC ids in order, only the first is the BSP.
    for (uint32_t i = 0; i < vcpus; ++i) {
      uint64_t e = table + 44 + 20 * i;
      EXPECT_EQ(*mem.read_obj<uint8_t>(e), 0);
      EXPECT_EQ(*mem.read_obj<uint8_t>(e + 1), i);
      EXPECT_EQ(*mem.read_obj<uint8_t>(e + 3), i == 0 ? 3 : 1);
    }
    uint64_t ioapic = table + 44 + 20 * vcpus + 8;
    EXPECT_EQ(*mem.read_obj<uint8_t>(ioapic), 2);
    EXPECT_EQ(*mem.read_obj<uint8_t>(ioapic + 1), vcpus) << "IOAPIC id after the CPUs";
    EXPECT_EQ(*mem.read_obj<uint32_t>(ioapic + 4), kIoapicAddress);
    uint64_t irq5 = ioapic + 8 + 8 * 5;
    EXPECT_EQ(*mem.read_obj<uint8_t>(irq5), 3);
    EXPECT_EQ(*mem.read_obj<uint8_t>(irq5 + 5), 5) << "ISA IRQ 5";
    EXPECT_EQ(*mem.read_obj<uint8_t>(irq5 + 7), 5) << "on IOAPIC pin 5";
  }
}

TEST(MpTable, TooManyCpusForTheEbdaSlotAreRejected) {
  auto mem = memory();
  auto r = write_mptable(mem, 40);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "EBDA")) << r.error().message;
  EXPECT_FALSE(write_mptable(mem, 0));
}

TEST(MpTable, LiesOutsideTheE820Ram) {
  auto mem = memory();
  auto map = e820_map(mem);
  for (auto& e : map) {
    EXPECT_FALSE(e.addr < kMpTableAddress + kMpTableMaxBytes && kMpTableAddress < e.addr + e.size)
        << "e820 RAM entry at " << e.addr << " covers the MP table";
  }
}

// --- ELF ------------------------------------------------------------------

TEST(ElfLoader, LoadsSegmentsAndZeroesTheBss) {
  auto mem = memory();
  ASSERT_TRUE(mem.write_obj<uint64_t>(0x201000, 0xdeadbeefdeadbeef));  // dirty "bss"
  auto image = make_elf(0x100000, {{0x100000, code({0xf4, 0x90}), 2},
                                   {0x200000, code({1, 2, 3, 4}), 0x2000, PF_R | PF_W}});
  auto elf = parse_elf(image);
  ASSERT_TRUE(elf) << elf.error().message;
  EXPECT_EQ(elf->entry, 0x100000u);
  ASSERT_EQ(elf->segments.size(), 2u);
  EXPECT_EQ(elf->end, 0x202000u);
  ASSERT_TRUE(load_elf(mem, *elf, image));
  EXPECT_EQ(*mem.read_obj<uint8_t>(0x100000), 0xf4);
  EXPECT_EQ(*mem.read_obj<uint32_t>(0x200000), 0x04030201u);
  EXPECT_EQ(*mem.read_obj<uint64_t>(0x201000), 0u);
}

struct ElfCase {
  const char* name;
  void (*mutate)(std::vector<uint8_t>&);
  const char* expected;  // a piece of the error message
};

class ElfMalformed : public ::testing::TestWithParam<ElfCase> {};

TEST_P(ElfMalformed, IsRejectedWithAPreciseError) {
  auto image = make_elf(0x100000, {{0x100000, code({0xf4, 0x90}), 2}});
  GetParam().mutate(image);
  auto elf = parse_elf(image);
  ASSERT_FALSE(elf) << GetParam().name;
  EXPECT_TRUE(contains(elf.error().message, GetParam().expected))
      << GetParam().name << ": " << elf.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ElfMalformed,
    ::testing::Values(
        ElfCase{"truncated", [](auto& i) { i.resize(20); }, "shorter than an ELF64 header"},
        ElfCase{"class32", [](auto& i) { i[EI_CLASS] = ELFCLASS32; }, "ELFCLASS64"},
        ElfCase{"bigendian", [](auto& i) { i[EI_DATA] = ELFDATA2MSB; }, "little-endian"},
        ElfCase{"dyn", [](auto& i) { testing::elf_header(i)->e_type = ET_DYN; }, "ET_EXEC"},
        ElfCase{"arm", [](auto& i) { testing::elf_header(i)->e_machine = EM_AARCH64; },
                "EM_X86_64"},
        ElfCase{"phentsize", [](auto& i) { testing::elf_header(i)->e_phentsize = 40; },
                "e_phentsize"},
        ElfCase{"phnum0", [](auto& i) { testing::elf_header(i)->e_phnum = 0; },
                "program headers"},
        ElfCase{"phnum_huge", [](auto& i) { testing::elf_header(i)->e_phnum = 60000; },
                "program headers"},
        ElfCase{"phoff_outside", [](auto& i) { testing::elf_header(i)->e_phoff = ~0ull - 8; },
                "program header table"},
        ElfCase{"segment_past_file", [](auto& i) { testing::elf_phdr(i, 0)->p_filesz = 1 << 20; },
                "outside the"},
        ElfCase{"offset_overflow",
                [](auto& i) { testing::elf_phdr(i, 0)->p_offset = ~0ull; }, "outside the"},
        ElfCase{"filesz_gt_memsz", [](auto& i) { testing::elf_phdr(i, 0)->p_memsz = 0; },
                "no non-empty PT_LOAD"},
        ElfCase{"filesz_gt_memsz2",
                [](auto& i) {
                  testing::elf_phdr(i, 0)->p_memsz = 1;
                  testing::elf_phdr(i, 0)->p_filesz = 2;
                },
                "larger than p_memsz"},
        ElfCase{"wraps",
                [](auto& i) {
                  testing::elf_phdr(i, 0)->p_paddr = ~0ull - 10;
                  testing::elf_phdr(i, 0)->p_memsz = 100;
                },
                "wraps"},
        ElfCase{"below_1mib", [](auto& i) { testing::elf_phdr(i, 0)->p_paddr = 0x7000; },
                "below 1 MiB"},
        ElfCase{"entry_outside", [](auto& i) { testing::elf_header(i)->e_entry = 0x300000; },
                "entry point"},
        ElfCase{"entry_not_exec", [](auto& i) { testing::elf_phdr(i, 0)->p_flags = PF_R; },
                "entry point"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ElfLoader, OverlappingSegmentsAreRejected) {
  auto image = make_elf(0x100000, {{0x100000, code({0xf4}), 0x2000},
                                   {0x101000, code({0x90}), 0x1000}});
  auto elf = parse_elf(image);
  ASSERT_FALSE(elf);
  EXPECT_TRUE(contains(elf.error().message, "overlaps")) << elf.error().message;
}

TEST(ElfLoader, SegmentBeyondGuestRamIsRejectedAtLoad) {
  auto mem = memory(4 * kMiB);
  auto image = make_elf(0x100000, {{0x100000, code({0xf4}), 1}, {0x3ff000, code({1}), 0x2000}});
  auto elf = parse_elf(image);
  ASSERT_TRUE(elf) << elf.error().message;
  auto r = load_elf(mem, *elf, image);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "--mem")) << r.error().message;
}

// --- bzImage ----------------------------------------------------------------

TEST(BzImage, ParsesAndLoadsAt1MiBWithThe64BitEntry) {
  auto mem = memory();
  std::vector<uint8_t> kernel(0x3000, 0xcc);
  auto image = make_bzimage(kernel);
  auto bz = parse_bzimage(image);
  ASSERT_TRUE(bz) << bz.error().message;
  EXPECT_EQ(bz->kernel_offset, 5u * 512);
  EXPECT_EQ(bz->kernel_size, kernel.size());
  auto entry = load_bzimage(mem, *bz, image);
  ASSERT_TRUE(entry) << entry.error().message;
  EXPECT_EQ(*entry, 0x100200u);
  EXPECT_EQ(*mem.read_obj<uint8_t>(0x100000 + 0x2fff), 0xcc);
}

TEST(BzImage, SetupSectsZeroMeansFour) {
  auto image = make_bzimage(std::vector<uint8_t>(0x1000, 1), 4);
  testing::bz_header(image)->setup_sects = 0;
  auto bz = parse_bzimage(image);
  ASSERT_TRUE(bz) << bz.error().message;
  EXPECT_EQ(bz->kernel_offset, 5u * 512);
}

struct BzCase {
  const char* name;
  void (*mutate)(std::vector<uint8_t>&);
  const char* expected;
};

class BzMalformed : public ::testing::TestWithParam<BzCase> {};

TEST_P(BzMalformed, IsRejectedWithAPreciseError) {
  auto image = make_bzimage(std::vector<uint8_t>(0x1000, 0x90));
  GetParam().mutate(image);
  auto bz = parse_bzimage(image);
  ASSERT_FALSE(bz) << GetParam().name;
  EXPECT_TRUE(contains(bz.error().message, GetParam().expected))
      << GetParam().name << ": " << bz.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BzMalformed,
    ::testing::Values(
        BzCase{"short", [](auto& i) { i.resize(0x210); }, "too short"},
        BzCase{"magic", [](auto& i) { testing::bz_header(i)->header = 0x12345678; }, "HdrS"},
        BzCase{"old_protocol", [](auto& i) { testing::bz_header(i)->version = 0x0205; },
               "2.05 is older than 2.06"},
        BzCase{"zimage", [](auto& i) { testing::bz_header(i)->loadflags = 0; }, "LOADED_HIGH"},
        BzCase{"no_64bit_entry", [](auto& i) { testing::bz_header(i)->xloadflags = 0x2; },
               "XLF_KERNEL_64"},
        BzCase{"setup_past_end", [](auto& i) { testing::bz_header(i)->setup_sects = 200; },
               "past the end"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(BzImage, InitSizeLargerThanRamIsRejected) {
  auto mem = memory(4 * kMiB);
  auto image = make_bzimage(std::vector<uint8_t>(0x1000, 0x90));
  testing::bz_header(image)->init_size = 64 << 20;
  auto bz = parse_bzimage(image);
  ASSERT_TRUE(bz);
  auto r = load_bzimage(mem, *bz, image);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.error().message, "raise --mem")) << r.error().message;
}

// --- the whole plan -----------------------------------------------------------

TEST(PrepareBoot, ElfKernelWithInitrdAndCmdline) {
  auto mem = memory(32 * kMiB);
  auto kernel = make_elf(0x100000, {{0x100000, code({0xf4}), 0x1000}});
  std::vector<uint8_t> initrd(5000, 0xab);
  auto plan = prepare_boot(mem, kernel, initrd, "console=ttyS0 thaw.test=hello");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->entry, 0x100000u);
  EXPECT_FALSE(plan->bzimage);
  ASSERT_TRUE(plan->initrd);
  EXPECT_EQ(*mem.read_obj<uint8_t>(plan->initrd->address + 4999), 0xab);
  auto params = mem.read_obj<boot_params>(kZeroPageAddress);
  ASSERT_TRUE(params);
  EXPECT_EQ(params->hdr.ramdisk_image, plan->initrd->address);
  EXPECT_EQ(params->hdr.ramdisk_size, 5000u);
  EXPECT_EQ(params->hdr.cmdline_size, 30u);  // 29 characters and the NUL
  EXPECT_EQ(*mem.read_obj<uint64_t>(kPml4Address), kPdptAddress | 0x3);
}

TEST(PrepareBoot, BzImageUsesTheHeadersLimits) {
  auto mem = memory(32 * kMiB);
  auto kernel = make_bzimage(std::vector<uint8_t>(0x2000, 0x90));
  testing::bz_header(kernel)->cmdline_size = 10;
  auto plan = prepare_boot(mem, kernel, {}, "this is longer than ten");
  ASSERT_FALSE(plan);
  EXPECT_TRUE(contains(plan.error().message, "limit is 10")) << plan.error().message;
  testing::bz_header(kernel)->cmdline_size = 2047;
  plan = prepare_boot(mem, kernel, {}, "console=ttyS0");
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_TRUE(plan->bzimage);
  EXPECT_EQ(plan->entry, 0x100200u);
}

TEST(PrepareBoot, UnknownImageFormatIsRejected) {
  auto mem = memory();
  std::vector<uint8_t> junk(4096, 0x42);
  auto plan = prepare_boot(mem, junk, {}, "");
  ASSERT_FALSE(plan);
  EXPECT_TRUE(contains(plan.error().message, "neither an ELF executable nor a bzImage"))
      << plan.error().message;
}

TEST(PrepareBoot, TooLittleMemoryIsRejected) {
  auto mem = memory(1 * kMiB);
  auto kernel = make_elf(0x100000, {{0x100000, code({0xf4}), 1}});
  auto plan = prepare_boot(mem, kernel, {}, "");
  ASSERT_FALSE(plan);
  EXPECT_TRUE(contains(plan.error().message, "at least 2 MiB")) << plan.error().message;
}

}  // namespace
}  // namespace thaw::sandbox::boot
