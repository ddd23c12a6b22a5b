// Writes the seed corpus for zip_intake_fuzz: small valid packages and one of
// each hostile kind the unit tests refuse, so the fuzzer starts next to
// every check. Usage: zip_seed_corpus DIR
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "tests/layers/zip_builder.h"

using thaw::layers::testing::RawZip;
using thaw::layers::testing::ZipBuilder;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds = {
      {"valid", ZipBuilder()
                    .file("bootstrap", "#!/bin/sh\necho hi\n", 0755)
                    .dir("lib/", 0750)
                    .file("lib/a.py", "import os\n")
                    .symlink("lib/b.py", "a.py")
                    .build()},
      {"stored", ZipBuilder().file("a", "stored data").dir("d/").build(false)},
      {"symlink_chain", ZipBuilder().symlink("d/s", "..").symlink("x", "d/s/..").build()},
      {"symlink_escape", ZipBuilder().symlink("l", "../../etc/passwd").build()},
      {"through_link", ZipBuilder().dir("sub/").symlink("e", "sub").file("e/f", "x").build()},
      {"dotdot", RawZip().add({"../evil", "x"}).build()},
      {"absolute", RawZip().add({"/etc/x", "x"}).build()},
      {"duplicate", RawZip().add({"a/b", "1"}).add({"./a//b", "2"}).build()},
      {"fifo", RawZip().add({"p", "", 0010644}).build()},
      {"encrypted", RawZip().add({"s", std::string(16, 'z'), 0100644, 1}).build()},
      {"zeros", ZipBuilder().file("z", std::string(1 << 16, '\0')).build()},
  };
  for (const auto& [name, bytes] : seeds) {
    std::ofstream out(std::string(argv[1]) + "/" + name + ".zip", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::perror(name.c_str());
      return 1;
    }
  }
  return 0;
}
