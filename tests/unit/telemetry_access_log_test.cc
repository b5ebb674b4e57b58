// The access log's line format, its input digest, the logging section of the config, and how
// the log drops rather than blocks when its writer falls behind.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

#include "gateway/call/call_path.h"
#include "gateway/telemetry/access_log.h"
#include "gateway/telemetry/metrics.h"
#include "nlohmann/json.hpp"
#include "security/sha256.h"
#include "spdlog/sinks/sink.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

using json = nlohmann::json;
using security::Sha256Hex;
using std::chrono::milliseconds;

AccessRecord Sample() {
  AccessRecord r;
  r.time = std::chrono::system_clock::time_point(milliseconds(1764100995123));
  r.request_id = "req-1";
  r.client = "\"CN=alice\"";
  r.peer = "ipv4:127.0.0.1:5000";
  r.rpc = "Predict";
  r.model = "llama3.2";
  r.backend = "gpu-a";
  r.code = "OK";
  r.attempts = 1;
  r.latency = milliseconds(1500);
  r.time_to_first_token = milliseconds(250);
  r.prompt_tokens = 12;
  r.completion_tokens = 34;
  r.input_sha256 = "abc";
  return r;
}

TEST_CASE("an access log line is one JSON object with every audit field", "[access_log]") {
  const json line = json::parse(AccessLogLine(Sample()));
  CHECK(line["time"] == "2025-11-25T20:03:15.123Z");
  CHECK(line["request_id"] == "req-1");
  CHECK(line["client"] == "\"CN=alice\"");
  CHECK(line["peer"] == "ipv4:127.0.0.1:5000");
  CHECK(line["rpc"] == "Predict");
  CHECK(line["model"] == "llama3.2");
  CHECK(line["backend"] == "gpu-a");
  CHECK(line["status"] == "OK");
  CHECK(line["attempts"] == 1);
  CHECK(line["latency_ms"] == Approx(1500));
  CHECK(line["ttft_ms"] == Approx(250));
  CHECK(line["prompt_tokens"] == 12);
  CHECK(line["completion_tokens"] == 34);
  CHECK(line["input_sha256"] == "abc");
  CHECK_FALSE(line.contains("input"));
  CHECK_FALSE(line.contains("output"));
  CHECK_FALSE(line.contains("error"));
}

TEST_CASE("a failed call's line carries its error and a null time to first token", "[access_log]") {
  AccessRecord r = Sample();
  r.code = "UNAVAILABLE";
  r.error = "no backend available for model 'llama3.2'";
  r.time_to_first_token.reset();
  const json line = json::parse(AccessLogLine(r));
  CHECK(line["error"] == "no backend available for model 'llama3.2'");
  CHECK(line["ttft_ms"].is_null());
}

TEST_CASE("content appears only when given, and invalid UTF-8 does not break the line",
          "[access_log]") {
  AccessRecord r = Sample();
  const std::string input = "why\xff is the sky \"blue\"?\n";
  const std::string output = "because";
  r.input = &input;
  r.output = &output;
  const json line = json::parse(AccessLogLine(r));
  CHECK(line["input"] == "why\xef\xbf\xbd is the sky \"blue\"?\n");
  CHECK(line["output"] == "because");
}

TEST_CASE("the input digest is the SHA-256 of the prompt, or of the chat turns", "[access_log]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ollama_gateway::v1::InferenceRequest generate;
  generate.set_input_data("abc");
  generate.set_hash_key("does not count");
  CHECK(InputDigest(generate) == Sha256Hex("abc"));
  ollama_gateway::v1::InferenceRequest chat;
  chat.set_input_data("ignored with messages");
  auto* m = chat.add_messages();
  m->set_role("user");
  m->set_content("hi");
  CHECK(InputDigest(chat) == Sha256Hex("user\nhi\n"));
}

TEST_CASE("the logging section takes a format and an access log", "[access_log][config]") {
  const Config c = testing::Valid(
      testing::With("logging:\n  format: json\n  access_log:\n    path: /var/log/a.log\n"
                    "    max_size_mb: 50\n    max_files: 3\n    log_content: true\n"));
  CHECK(c.logging.format == "json");
  CHECK(c.logging.access_log.path == "/var/log/a.log");
  CHECK(c.logging.access_log.max_size_mb == 50);
  CHECK(c.logging.access_log.max_files == 3);
  CHECK(c.logging.access_log.log_content);
  const Config defaults = testing::Valid(testing::kTwoBackends);
  CHECK(defaults.logging.format == "text");
  CHECK(defaults.logging.access_log.path.empty());
  CHECK_FALSE(defaults.logging.access_log.log_content);
}

TEST_CASE("bad logging values are refused with their line", "[access_log][config]") {
  CHECK(testing::ErrorsOf(testing::With("logging:\n  format: xml\n")) ==
        "test.yaml:10: logging.format: must be one of text, json, got \"xml\"");
  CHECK(testing::ErrorsOf(testing::With("logging:\n  access_log:\n    max_size_mb: 0\n")) ==
        "test.yaml:11: logging.access_log.max_size_mb: must be an integer from 1 to 10240, got "
        "\"0\"");
}

TEST_CASE("an access log that cannot be created is refused", "[access_log]") {
  AccessLogConfig config;
  config.path = "/dev/null/access.log";  // a file where a directory should be
  CHECK_FALSE(AccessLog::Open(config).ok());
  config.path = "";
  auto off = AccessLog::Open(config);
  REQUIRE(off.ok());
  CHECK(*off == nullptr);
}

}  // namespace
}  // namespace og

namespace og {
namespace {

// A sink that holds the writer thread inside its first line until released, as a stalled
// disk does.
class StalledSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg&) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++lines_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  bool WaitForLines(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return lines_ >= n; });
  }
  int lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int lines_ = 0;
  bool released_ = false;
};

TEST_CASE("a full access log queue drops and counts lines instead of blocking the caller",
          "[access_log]") {
  auto sink = std::make_shared<StalledSink>();
  constexpr std::size_t kQueue = 4;
  {
    AccessLog log(sink, kQueue, /*log_content=*/false);
    log.Write(Sample());
    REQUIRE(sink->WaitForLines(1));  // the writer is stuck in that line
    for (std::size_t i = 0; i < kQueue; ++i) log.Write(Sample());
    CHECK(log.dropped() == 0);
    // With a blocking queue these would wait for the disk for ever: on a thread of their own,
    // so that the test fails rather than hangs.
    std::future<void> writes = std::async(std::launch::async, [&log] {
      for (int i = 0; i < 3; ++i) log.Write(Sample());
    });
    const bool returned = writes.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    CHECK(returned);
    CHECK(log.dropped() == 3);
    sink->Release();
    writes.wait();
    // The first line and the newest kQueue: the three oldest queued were dropped.
    CHECK(sink->WaitForLines(1 + int(kQueue)));
  }
  CHECK(sink->lines() == 1 + int(kQueue));
}

TEST_CASE("the access log's drops reach gateway_access_log_dropped_total at scrape time",
          "[access_log]") {
  Metrics metrics;
  CHECK(metrics.Serialize().find("gateway_access_log_dropped_total 0") != std::string::npos);
  std::atomic<std::uint64_t> dropped{7};
  metrics.CountAccessLogDrops([&dropped] { return dropped.load(); });
  CHECK(metrics.Serialize().find("gateway_access_log_dropped_total 7") != std::string::npos);
  dropped = 9;
  CHECK(metrics.Serialize().find("gateway_access_log_dropped_total 9") != std::string::npos);
}

}  // namespace
}  // namespace og
