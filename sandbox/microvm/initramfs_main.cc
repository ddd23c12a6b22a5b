// thaw-initramfs: writes the initramfs of a thaw microVM, whose /init is
// the given static thaw-init (guest_initramfs.h). Run by meson (guest/) and
// by operators who install thaw-init elsewhere.
//   thaw-initramfs THAW_INIT OUTPUT.cpio
#include <cstdio>

#include "sandbox/microvm/guest_initramfs.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: thaw-initramfs THAW_INIT OUTPUT.cpio\n");
    return 2;
  }
  if (auto ok = thaw::write_thaw_init_initramfs(argv[1], argv[2]); !ok) {
    std::fprintf(stderr, "thaw-initramfs: %s\n", ok.error().message.c_str());
    return 1;
  }
  return 0;
}
