#include "gateway/telemetry/access_log.h"

#include "absl/strings/str_cat.h"
#include "common/time_format.h"
#include "nlohmann/json.hpp"
#include "spdlog/async.h"
#include "spdlog/async_logger.h"
#include "spdlog/sinks/rotating_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace og {
namespace {

using json = nlohmann::ordered_json;

// Lines the writer thread may be behind before the oldest is dropped.
constexpr std::size_t kQueueLines = 8192;

double Millis(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string S(std::string_view v) { return std::string(v); }

// Flushes after every line, on the writer thread. Rather than the logger's flush_on, which
// queues a flush message after each line: then the queue's drop count would mix lines and
// flushes.
class FlushEachLine final : public spdlog::sinks::sink {
 public:
  explicit FlushEachLine(spdlog::sink_ptr target) : target_(std::move(target)) {}
  void log(const spdlog::details::log_msg& msg) override {
    target_->log(msg);
    target_->flush();
  }
  void flush() override { target_->flush(); }
  void set_pattern(const std::string& pattern) override { target_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    target_->set_formatter(std::move(formatter));
  }

 private:
  spdlog::sink_ptr target_;
};

}  // namespace

std::string AccessLogLine(const AccessRecord& r) {
  json line = {{"time", Rfc3339Millis(r.time)},
               {"request_id", S(r.request_id)},
               {"client", S(r.client)},
               {"peer", S(r.peer)},
               {"rpc", S(r.rpc)},
               {"identity", S(r.identity)},
               {"auth", S(r.auth)},
               {"authz", S(r.authz)},
               {"model", S(r.model)},
               {"backend", S(r.backend)},
               {"status", S(r.code)},
               {"attempts", r.attempts},
               {"latency_ms", Millis(r.latency)},
               {"ttft_ms", r.time_to_first_token ? json(Millis(*r.time_to_first_token)) : json()},
               {"prompt_tokens", r.prompt_tokens},
               {"completion_tokens", r.completion_tokens},
               {"input_sha256", S(r.input_sha256)}};
  if (!r.rollout.empty()) {
    line["rollout"] = S(r.rollout);
    line["target"] = S(r.target);
    line["target_model"] = S(r.target_model);
  }
  if (r.continued > 0) line["continued"] = r.continued;
  if (!r.error.empty()) line["error"] = S(r.error);
  if (r.input != nullptr) line["input"] = *r.input;
  if (r.output != nullptr) line["output"] = *r.output;
  // Invalid UTF-8 (a prompt is bytes) is replaced rather than failing the whole line.
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const AccessLogConfig& config) {
  if (config.path.empty()) return std::unique_ptr<AccessLog>();
  spdlog::sink_ptr sink;
  try {
    if (config.path == "-") {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          config.path, static_cast<std::size_t>(config.max_size_mb) << 20,
          static_cast<std::size_t>(config.max_files));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return absl::InvalidArgumentError(absl::StrCat("access log ", config.path, ": ", e.what()));
  }
  return std::make_unique<AccessLog>(std::move(sink), kQueueLines, config.log_content);
}

AccessLog::AccessLog(std::shared_ptr<spdlog::sinks::sink> sink, std::size_t queue_lines,
                     bool log_content)
    : pool_(std::make_shared<spdlog::details::thread_pool>(queue_lines, 1)),
      log_content_(log_content) {
  // overrun_oldest: a full queue drops its oldest line (counted by the pool) rather than make
  // the caller, an event loop serving many calls, wait for the disk.
  logger_ = std::make_shared<spdlog::async_logger>(
      "access", std::make_shared<FlushEachLine>(std::move(sink)), pool_,
      spdlog::async_overflow_policy::overrun_oldest);
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
}

AccessLog::~AccessLog() {
  logger_->flush();
  // The pool's destructor joins the writer thread once it has written what is queued; the logger
  // and its sink go after that, so nothing the writer still reads is freed under it.
  pool_.reset();
}

void AccessLog::Write(const AccessRecord& record) { logger_->info(AccessLogLine(record)); }

std::uint64_t AccessLog::dropped() const { return pool_->overrun_counter(); }

}  // namespace og
