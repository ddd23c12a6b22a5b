#include "common/result.h"

#include <cstring>

namespace thaw {

std::string Error::errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns a pointer that may or may not be buf.
  const char* text = strerror_r(err, buf, sizeof buf);
  return text;
}

}  // namespace thaw
