#include "gateway/upstream/backend_tls.h"

#include <ctime>

#include "spdlog/spdlog.h"
#include "tls/pem.h"

namespace og {

absl::Status CheckBackendTlsFiles(const Config& config) {
  for (const BackendConfig& b : config.backends) {
    const BackendTlsConfig& t = b.tls;
    if (!t.ca_file.empty()) {
      auto pem = tls::ReadFileToString(t.ca_file);
      if (!pem.ok()) return pem.status();
      if (auto count = tls::CheckCaBundle(*pem, t.ca_file); !count.ok()) return count.status();
    }
    if (!t.cert_file.empty()) {
      auto cert = tls::ReadFileToString(t.cert_file);
      if (!cert.ok()) return cert.status();
      auto key = tls::ReadFileToString(t.key_file);
      if (!key.ok()) return key.status();
      auto info = tls::CheckKeyPair(*cert, *key, std::time(nullptr), t.cert_file, t.key_file);
      if (!info.ok()) return info.status();
    }
  }
  return absl::OkStatus();
}

void WarnAboutUnverifiedBackends(const Config& config) {
  for (const BackendConfig& b : config.backends) {
    if (b.url.starts_with("https://") && !b.tls.verify) {
      spdlog::warn(
          "backend {}: tls.verify is false: its certificate and host name are NOT "
          "checked, so anyone on the path can impersonate it",
          b.name);
    }
  }
}

}  // namespace og
