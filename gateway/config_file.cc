// Reading the configuration file from disk; parsing and validation are in config.cc.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "fmt/format.h"
#include "gateway/config.h"

namespace og {
namespace {

// A configuration file is a few kilobytes; the cap only stops `--check-config /dev/zero`.
constexpr std::size_t kMaxFileBytes = std::size_t{16} << 20;

absl::Status Unreadable(const std::string& path, std::string_view reason) {
  return absl::InvalidArgumentError(fmt::format("{}:0: cannot read: {}", path, reason));
}

}  // namespace

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Unreadable(path, std::generic_category().message(errno));
  std::string text;
  char buffer[64 * 1024];
  int read_errno = 0;
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read_errno = errno;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxFileBytes) break;
  }
  ::close(fd);
  if (read_errno != 0) return Unreadable(path, std::generic_category().message(read_errno));
  if (text.size() > kMaxFileBytes) {
    return Unreadable(path, fmt::format("larger than {} MiB", kMaxFileBytes >> 20));
  }
  return ParseConfig(text, path);
}

}  // namespace og
