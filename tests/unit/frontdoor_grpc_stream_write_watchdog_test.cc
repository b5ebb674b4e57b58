// StreamWriteWatchdog: a stream whose write the caller has not taken within the timeout is
// expired once; streams writing in time, idle or unwatched are left alone. Simulated time.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "gateway/frontdoor/grpc/inference_service.h"

namespace og {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A stream that is writing since `write_started`, or idle without one.
class FakeStream final : public WatchedStream {
 public:
  bool ClaimWriteTimeout(Clock::TimePoint cutoff) override {
    if (!write_started || *write_started > cutoff || claimed) return false;
    claimed = true;
    return true;
  }
  void ExpireWrite() override { ++expired; }

  std::optional<Clock::TimePoint> write_started;
  // Set on the watchdog's thread, read on the test's.
  std::atomic<bool> claimed{false};
  std::atomic<int> expired{0};
};

TEST_CASE("a write not taken within the timeout expires its stream once", "[watchdog]") {
  FakeClock clock;
  StreamWriteWatchdog watchdog(clock, seconds(60), milliseconds(0));
  FakeStream stalled;
  stalled.write_started = clock.Now();
  watchdog.Watch(&stalled);
  clock.Advance(seconds(59));
  CHECK(watchdog.Sweep() == 0);
  clock.Advance(seconds(1));
  CHECK(watchdog.Sweep() == 1);
  CHECK(stalled.expired.load() == 1);
  clock.Advance(seconds(60));
  CHECK(watchdog.Sweep() == 0);
  CHECK(stalled.expired.load() == 1);
  watchdog.Unwatch(&stalled);
}

TEST_CASE("streams writing in time, idle or unwatched are not expired", "[watchdog]") {
  FakeClock clock;
  StreamWriteWatchdog watchdog(clock, seconds(10), milliseconds(0));
  FakeStream recent, idle, gone;
  gone.write_started = clock.Now();
  clock.Advance(seconds(9));
  recent.write_started = clock.Now();
  for (FakeStream* stream : {&recent, &idle, &gone}) watchdog.Watch(stream);
  watchdog.Unwatch(&gone);
  clock.Advance(seconds(5));
  CHECK(watchdog.Sweep() == 0);
  CHECK(recent.expired.load() + idle.expired.load() + gone.expired.load() == 0);
  clock.Advance(seconds(5));
  CHECK(watchdog.Sweep() == 1);
  CHECK(recent.expired.load() == 1);
  watchdog.Unwatch(&recent);
  watchdog.Unwatch(&idle);
}

TEST_CASE("the watchdog's own thread sweeps every period", "[watchdog]") {
  FakeClock clock;
  FakeStream stalled;
  stalled.write_started = clock.Now();
  clock.Advance(seconds(2));
  StreamWriteWatchdog watchdog(clock, seconds(1), milliseconds(5));
  watchdog.Watch(&stalled);
  const auto until = std::chrono::steady_clock::now() + seconds(10);
  while (!stalled.claimed.load() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  watchdog.Unwatch(&stalled);
  CHECK(stalled.claimed.load());
}

}  // namespace
}  // namespace og
