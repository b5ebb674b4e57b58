// Reading the configuration file from disk (LoadConfigFile in load.h); parsing and validation are
// in load.cc.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "fmt/format.h"
#include "gateway/config/load.h"

namespace og {
namespace {

// A configuration file is a few kilobytes; the cap only stops `--check-config /dev/zero`.
constexpr std::size_t kMaxFileBytes = std::size_t{16} << 20;

absl::Status Unreadable(const std::string& path, std::string_view reason) {
  return absl::InvalidArgumentError(fmt::format("{}:0: cannot read: {}", path, reason));
}

// The whole file, or `PATH:0: reason`.
absl::StatusOr<std::string> ReadText(const std::string& path) {
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
  return text;
}

// `path` as seen from the directory of the file `relative_to`, unless absolute.
std::string ResolveBeside(const std::string& relative_to, const std::string& path) {
  if (path.starts_with('/')) return path;
  const std::size_t slash = relative_to.rfind('/');
  return slash == std::string::npos ? path : relative_to.substr(0, slash + 1) + path;
}

}  // namespace

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadText(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Config> config = ParseConfig(*text, path);
  if (!config.ok() || config->auth.api_keys_file.empty()) return config;
  const std::string keys_path = ResolveBeside(path, config->auth.api_keys_file);
  absl::StatusOr<std::string> keys = ReadText(keys_path);
  if (!keys.ok()) return keys.status();
  if (absl::Status s = ParseApiKeysFile(*keys, keys_path, &config->auth); !s.ok()) return s;
  config->auth.api_keys_file = keys_path;
  return config;
}

}  // namespace og
