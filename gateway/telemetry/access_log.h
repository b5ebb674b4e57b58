// The access log: one JSON object per line for every finished call, for operators (what
// happened, how long it took, where) and auditors (who asked which model what, and when). The
// input is recorded as a SHA-256 digest: an auditor holding a prompt can prove it was (or was
// not) sent, while the log itself never holds prompts or answers, unless the debugging option
// logging.access_log.log_content is on.
//
// Lines are written by a background thread (spdlog's async logger) to a file rotated by size.
// Write never blocks the thread that calls it (an event loop): when the writer is thousands of
// lines behind (a slow or stalled disk), the oldest queued line is dropped and counted instead
// (dropped(), exported as gateway_access_log_dropped_total).
#ifndef OLLAMA_GATEWAY_GATEWAY_TELEMETRY_ACCESS_LOG_H_
#define OLLAMA_GATEWAY_GATEWAY_TELEMETRY_ACCESS_LOG_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
namespace sinks {
class sink;
}
}  // namespace spdlog

namespace og {

// One finished call. Views must stay valid during Write.
struct AccessRecord {
  // When the call arrived.
  std::chrono::system_clock::time_point time;
  std::string_view request_id;
  // The verified client certificate ("-" without one) and the peer address.
  std::string_view client;
  std::string_view peer;
  std::string_view rpc;
  // Who the call ran as ("anonymous" without credentials; "" when authentication failed), how
  // it was authenticated ("api_key", "mtls", "none") and the authorization decision ("allow",
  // "deny", or "" when not reached).
  std::string_view identity;
  std::string_view auth;
  std::string_view authz;
  // The model as the caller named it; the backend that served the last attempt ("" if none).
  std::string_view model;
  std::string_view backend;
  // A call of a rollout: its name, the target ("baseline", "candidate") and the target's model
  // (what the backend got); empty otherwise.
  std::string_view rollout;
  std::string_view target;
  std::string_view target_model;
  // The gRPC status code name, and the status message when not OK.
  std::string_view code;
  std::string_view error;
  int attempts = 0;
  // How many times the stream was continued on another backend after its backend failed.
  int continued = 0;
  std::chrono::nanoseconds latency{0};
  std::optional<std::chrono::nanoseconds> time_to_first_token;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  // Lower-case hex SHA-256 of the input (see InputDigest in call_path.h).
  std::string_view input_sha256;
  // Only with log_content.
  const std::string* input = nullptr;
  const std::string* output = nullptr;
};

// The JSON line of a record, without its newline.
std::string AccessLogLine(const AccessRecord& record);

class AccessLog {
 public:
  // Opens the log `config` describes; null when it is off. Fails when the file cannot be
  // opened (say, its directory is missing or not writable).
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const AccessLogConfig& config);
  // A log writing to `sink` with a queue of `queue_lines`; Open uses it (tests too, with a sink
  // of their own).
  AccessLog(std::shared_ptr<spdlog::sinks::sink> sink, std::size_t queue_lines, bool log_content);
  ~AccessLog();

  // Thread-safe; never blocks on the writer (see the file comment).
  void Write(const AccessRecord& record);
  bool log_content() const { return log_content_; }
  // Lines dropped so far because the queue was full. Thread-safe.
  std::uint64_t dropped() const;

 private:
  // The writer thread and its queue, this log's own (so its drop count is too).
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::logger> logger_;
  const bool log_content_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_TELEMETRY_ACCESS_LOG_H_
