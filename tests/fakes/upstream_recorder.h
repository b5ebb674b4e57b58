// An UpstreamHandler for tests of the upstream client: collects the lines and the result a
// request reports (on the client's loop thread) and lets the test thread wait for them.
#ifndef OLLAMA_GATEWAY_TESTS_FAKES_UPSTREAM_RECORDER_H_
#define OLLAMA_GATEWAY_TESTS_FAKES_UPSTREAM_RECORDER_H_

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/upstream/request.h"

namespace og::testing {

class Recorder final : public UpstreamHandler {
 public:
  // With `stop_after_lines` >= 0, OnLine returns false (aborting the request) at that line.
  explicit Recorder(int stop_after_lines = -1) : stop_after_(stop_after_lines) {}
  bool OnLine(std::string_view line) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.emplace_back(line);
    cv_.notify_all();
    return stop_after_ < 0 || static_cast<int>(lines_.size()) < stop_after_;
  }
  void OnComplete(UpstreamResult result) override {
    std::lock_guard<std::mutex> lock(mu_);
    result_ = std::move(result);
    done_ = true;
    cv_.notify_all();
  }
  // The result, once reported (fails the test after 10 s).
  UpstreamResult Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    REQUIRE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done_; }));
    return result_;
  }
  void WaitForLines(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    REQUIRE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return lines_.size() >= n; }));
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  const int stop_after_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  UpstreamResult result_;
  bool done_ = false;
};

}  // namespace og::testing

#endif  // OLLAMA_GATEWAY_TESTS_FAKES_UPSTREAM_RECORDER_H_
