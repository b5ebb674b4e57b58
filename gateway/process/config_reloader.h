// Keeps the running configuration in step with its file. On SIGHUP, and whenever the file's
// content changes (polled, so it also sees Kubernetes ConfigMap updates, which swap a symlink
// rather than write the file), the file is loaded, validated and applied by swapping the
// router's snapshot: calls in progress keep the backends they have, new calls see the new
// config. An invalid file is refused with its FILE:LINE errors and the running config stays.
#ifndef OLLAMA_GATEWAY_GATEWAY_PROCESS_CONFIG_RELOADER_H_
#define OLLAMA_GATEWAY_GATEWAY_PROCESS_CONFIG_RELOADER_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/config/config.h"
#include "gateway/routing/router.h"
#include "gateway/telemetry/metrics.h"

namespace og {

// Not thread-safe: driven by the process's signal loop.
class ConfigReloader {
 public:
  // The content hash of `path` now (nullopt if unreadable). Take it BEFORE loading the file the
  // running config comes from: a change made between the two is then still seen as a change.
  static std::optional<std::size_t> ContentHash(const std::string& path);

  // `path` is the file the running config came from; `loaded_hash` is ContentHash(path) taken
  // just before it was loaded.
  ConfigReloader(std::string path, std::optional<std::size_t> loaded_hash, Router& router,
                 Metrics& metrics);

  // Runs after each config that was applied (to reconfigure what the router does not own, such
  // as the health checker).
  void OnApplied(std::function<void(const Config&)> callback) { on_applied_ = std::move(callback); }

  // Also watches the API keys file the running config names (auth.api_keys_file, resolved; empty:
  // none), so a change to it alone reloads too.
  void WatchKeysFile(std::string path);

  // Loads and applies the file now; `trigger` says why, for the log ("SIGHUP", "file change").
  // Counts gateway_config_reloads_total{result="ok"|"invalid"}. Returns whether it applied.
  bool Reload(std::string_view trigger);

  // Reloads if the file's content differs from what was last read (applied or refused), so an
  // invalid file is reported once, not at every poll. Returns whether it reloaded.
  bool ReloadIfChanged();

 private:
  // The content hash of the config file and, if any, the keys file together.
  std::optional<std::size_t> CurrentHash() const;

  const std::string path_;
  std::string keys_path_;
  Router& router_;
  Metrics& metrics_;
  std::optional<std::size_t> last_hash_;
  std::function<void(const Config&)> on_applied_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_PROCESS_CONFIG_RELOADER_H_
