#include "layers/erofs_builder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "common/file_util.h"
#include "layers/child_process.h"

namespace thaw::layers {

Result<void> build_erofs_image(const std::string& source_dir, const std::string& image_path,
                               const ErofsOptions& options) {
  // mkfs.erofs overwrites an existing file; claim the name first so two
  // builders can never write the same path.
  {
    auto claim = open_file(image_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (!claim) return std::move(claim).error().context("creating the image");
  }
  std::vector<std::string> argv = {options.mkfs_path, "--quiet", "--all-root", "-x-1",
                                   "--preserve-mtime"};
  switch (options.compression) {
    case ImageCompression::kNone: break;
    case ImageCompression::kLz4: argv.push_back("-zlz4"); break;
    case ImageCompression::kLz4hc: argv.push_back("-zlz4hc"); break;
  }
  argv.push_back(image_path);
  argv.push_back(source_dir);
  auto fail = [&](Error e) {
    ::unlink(image_path.c_str());
    return e;
  };
  auto ran = run_child(argv, options.timeout);
  if (!ran) return fail(std::move(ran).error());
  if (ran->signal != 0 || ran->exit_code != 0) {
    std::string how = ran->signal != 0 ? fmt::format("was killed by signal {}", ran->signal)
                                       : fmt::format("exited with status {}", ran->exit_code);
    return fail(Error::format("mkfs.erofs {} building {} from {}: {}", how, image_path,
                              source_dir, ran->output.empty() ? "(no output)" : ran->output));
  }
  // The image is renamed into the store next; it must be on disk before the
  // name that promises it is.
  auto fd = open_file(image_path, O_RDONLY);
  if (!fd) return fail(std::move(fd).error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return fail(Error::from_errno("stat {}", image_path));
  if (st.st_size == 0) {
    return fail(Error::format("mkfs.erofs exited 0 but left {} empty; output: {}", image_path,
                              ran->output));
  }
  if (::fchmod(fd->get(), 0444) != 0) return fail(Error::from_errno("chmod {}", image_path));
  if (::fsync(fd->get()) != 0) return fail(Error::from_errno("fsync {}", image_path));
  return Ok();
}

}  // namespace thaw::layers
