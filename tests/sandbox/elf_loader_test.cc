// Tests of sandbox/boot/elf_loader with valid and malformed ELF images.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "sandbox/boot/elf_loader.h"
#include "tests/sandbox/boot_test_util.h"

namespace thaw::sandbox::boot {
namespace {

using testing::make_bzimage;
using testing::make_elf;
using testing::TestSegment;

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

}  // namespace
}  // namespace thaw::sandbox::boot
