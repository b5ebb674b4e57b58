#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "security/rate_limiter.h"

namespace og::security {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr nanoseconds kTaken{0};

// Lets racing threads go together. A thread woken from a blocking wait starts tens of
// microseconds after the first, which can then take every token alone; threads that yield in a
// loop are still on a core when the last one arrives.
class StartLine {
 public:
  explicit StartLine(int threads) : expected_(threads) {}
  void Wait() {
    arrived_.fetch_add(1);
    while (arrived_.load() < expected_) std::this_thread::yield();
  }

 private:
  const int expected_;
  std::atomic<int> arrived_{0};
};

// ---- TokenBucket (GCRA) ----

TEST_CASE("a full bucket gives its burst at once, then refuses with the wait for one token",
          "[security][token_bucket]") {
  FakeClock clock;
  TokenBucket bucket(/*rate=*/2, /*burst=*/3);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  CHECK(bucket.TryTake(clock.Now()) == milliseconds(500));
}

TEST_CASE("a refusal takes nothing: asking again at once gets the same wait",
          "[security][token_bucket]") {
  FakeClock clock;
  TokenBucket bucket(2, 1);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  CHECK(bucket.TryTake(clock.Now()) == milliseconds(500));
  CHECK(bucket.TryTake(clock.Now()) == milliseconds(500));
}

TEST_CASE("the wait shrinks as time passes", "[security][token_bucket]") {
  FakeClock clock;
  TokenBucket bucket(2, 1);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  clock.Advance(milliseconds(200));
  CHECK(bucket.TryTake(clock.Now()) == milliseconds(300));
}

TEST_CASE("an empty bucket gives one token back every 1/rate", "[security][token_bucket]") {
  FakeClock clock;
  TokenBucket bucket(4, 2);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  for (int i = 0; i < 5; ++i) {
    CHECK(bucket.TryTake(clock.Now()) == milliseconds(250));
    clock.Advance(milliseconds(249));
    CHECK(bucket.TryTake(clock.Now()) == milliseconds(1));
    clock.Advance(milliseconds(1));
    CHECK(bucket.TryTake(clock.Now()) == kTaken);
  }
}

TEST_CASE("a bucket idle for an hour holds its burst and no more", "[security][token_bucket]") {
  FakeClock clock;
  TokenBucket bucket(10, 3);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  clock.Advance(std::chrono::hours(1));
  for (int i = 0; i < 3; ++i) CHECK(bucket.TryTake(clock.Now()) == kTaken);
  CHECK(bucket.TryTake(clock.Now()) == milliseconds(100));
}

TEST_CASE("a rate below one per second waits whole seconds", "[security][token_bucket]") {
  FakeClock clock;
  TokenBucket bucket(0.1, 1);
  CHECK(bucket.TryTake(clock.Now()) == kTaken);
  CHECK(bucket.TryTake(clock.Now()) == std::chrono::seconds(10));
}

TEST_CASE("8 threads racing on a frozen clock take exactly the burst between them",
          "[security][token_bucket]") {
  FakeClock clock;
  TokenBucket bucket(1000, 4000);
  std::atomic<int> taken{0};
  StartLine start(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      start.Wait();
      for (int i = 0; i < 1000; ++i) {
        if (bucket.TryTake(clock.Now()) == kTaken) taken.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(taken.load() == 4000);
}

TEST_CASE("8 threads racing while time moves never take more than burst + elapsed * rate",
          "[security][token_bucket]") {
  FakeClock clock;
  const auto began = clock.Now();
  TokenBucket bucket(/*rate=*/1000, /*burst=*/20);
  std::atomic<int> taken{0};
  StartLine start(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      start.Wait();
      for (int i = 0; i < 1000; ++i) {
        clock.Advance(std::chrono::microseconds(100));
        if (bucket.TryTake(clock.Now()) == kTaken) taken.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double elapsed_s = std::chrono::duration<double>(clock.Now() - began).count();
  INFO("taken " << taken.load() << " in " << elapsed_s << " s");
  CHECK(elapsed_s == Approx(0.8));
  CHECK(taken.load() <= 20 + static_cast<int>(elapsed_s * 1000 + 0.5));
  CHECK(taken.load() >= 20);
}

// ---- RateLimiter: rates ----

RateLimit Rate(double per_second, int burst) {
  RateLimit limit;
  limit.requests_per_second = per_second;
  limit.burst = burst;
  return limit;
}

RateLimit Streams(int max) {
  RateLimit limit;
  limit.max_concurrent_streams = max;
  return limit;
}

TEST_CASE("an identity without a limit of its own gets the default limit",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(1, 2), {});
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  const Admission refused = limiter.Admit("alice", false);
  CHECK(refused.decision == RateDecision::kRateExceeded);
  CHECK(refused.retry_after == std::chrono::seconds(1));
  CHECK(refused.limit == Rate(1, 2));
}

TEST_CASE("identities have buckets of their own", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(1, 1), {});
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kRateExceeded);
  CHECK(limiter.Admit("bob", false).decision == RateDecision::kAllowed);
  CHECK(limiter.tracked_identities() == 2);
}

TEST_CASE("a per-identity limit replaces the default for that identity",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(1, 1), {{"batch", Rate(100, 5)}});
  for (int i = 0; i < 5; ++i)
    CHECK(limiter.Admit("batch", false).decision == RateDecision::kAllowed);
  const Admission refused = limiter.Admit("batch", false);
  CHECK(refused.decision == RateDecision::kRateExceeded);
  CHECK(refused.retry_after == milliseconds(10));
  CHECK(refused.limit == Rate(100, 5));
}

TEST_CASE("a rate of zero admits every call", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(0, 1), {});
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  }
}

TEST_CASE("before any Configure, every call is admitted", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  for (int i = 0; i < 100; ++i)
    REQUIRE(limiter.Admit("alice", true).decision == RateDecision::kAllowed);
}

TEST_CASE("the limiter reads time from its clock", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(1, 1), {});
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kRateExceeded);
  clock.Advance(std::chrono::seconds(1));
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
}

// ---- RateLimiter: streams ----

TEST_CASE("streams beyond the cap are refused until one ends", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(2), {});
  Admission first = limiter.Admit("alice", true);
  Admission second = limiter.Admit("alice", true);
  CHECK(first.decision == RateDecision::kAllowed);
  CHECK(second.decision == RateDecision::kAllowed);
  const Admission third = limiter.Admit("alice", true);
  CHECK(third.decision == RateDecision::kTooManyStreams);
  CHECK(third.limit == Streams(2));

  first = Admission{};  // the first stream ends: its permit is destroyed
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kAllowed);
}

TEST_CASE("calls that are not streams take no stream place", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(1), {});
  const Admission stream = limiter.Admit("alice", true);
  REQUIRE(stream.decision == RateDecision::kAllowed);
  for (int i = 0; i < 10; ++i)
    CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
}

TEST_CASE("each identity has its own stream places", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(1), {});
  const Admission alice = limiter.Admit("alice", true);
  CHECK(alice.decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("bob", true).decision == RateDecision::kAllowed);
}

TEST_CASE("a moved permit holds its place until the permit it moved to is destroyed",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(1), {});
  StreamPermit outer;
  {
    Admission admission = limiter.Admit("alice", true);
    REQUIRE(admission.decision == RateDecision::kAllowed);
    StreamPermit moved(std::move(admission.permit));
    outer = std::move(moved);
  }
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kTooManyStreams);
  outer = StreamPermit();
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kAllowed);
}

TEST_CASE("assigning over a permit releases the place it held", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(2), {});
  Admission a = limiter.Admit("alice", true);
  Admission b = limiter.Admit("alice", true);
  REQUIRE(limiter.Admit("alice", true).decision == RateDecision::kTooManyStreams);
  a.permit = std::move(b.permit);  // a's place is released, b's now held by a
  Admission c = limiter.Admit("alice", true);
  CHECK(c.decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kTooManyStreams);
}

TEST_CASE("a permit released by hand is not released again when destroyed",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(1), {});
  {
    Admission first = limiter.Admit("alice", true);
    first.permit.Release();
    first.permit.Release();
    Admission second = limiter.Admit("alice", true);
    REQUIRE(second.decision == RateDecision::kAllowed);
    // `first` is destroyed after `second` is admitted; it must not free second's place.
    Admission holder = std::move(second);
    first = Admission{};
    CHECK(limiter.Admit("alice", true).decision == RateDecision::kTooManyStreams);
  }
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kAllowed);
}

TEST_CASE("a stream refused for its rate leaves no stream place taken",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  RateLimit limit = Rate(1, 1);
  limit.max_concurrent_streams = 1;
  limiter.Configure(limit, {});
  REQUIRE(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  const Admission refused = limiter.Admit("alice", true);
  CHECK(refused.decision == RateDecision::kRateExceeded);
  clock.Advance(std::chrono::seconds(1));
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kAllowed);
}

TEST_CASE("a stream refused for the cap takes no token", "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  RateLimit limit = Rate(1, 2);
  limit.max_concurrent_streams = 1;
  limiter.Configure(limit, {});
  const Admission stream = limiter.Admit("alice", true);
  REQUIRE(stream.decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kTooManyStreams);
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
}

TEST_CASE("a permit outliving its limiter releases safely", "[security][rate_limiter]") {
  FakeClock clock;
  StreamPermit permit;
  {
    RateLimiter limiter(clock);
    limiter.Configure(Streams(1), {});
    Admission admission = limiter.Admit("alice", true);
    REQUIRE(admission.decision == RateDecision::kAllowed);
    permit = std::move(admission.permit);
  }
  permit.Release();
  SUCCEED("released after the limiter was destroyed");
}

// ---- RateLimiter: Configure ----

TEST_CASE("Configure with an unchanged limit keeps an identity's tokens",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(1, 2), {{"alice", Rate(1, 1)}});
  REQUIRE(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  REQUIRE(limiter.Admit("bob", false).decision == RateDecision::kAllowed);
  REQUIRE(limiter.Admit("bob", false).decision == RateDecision::kAllowed);
  limiter.Configure(Rate(1, 2), {{"alice", Rate(1, 1)}, {"carol", Rate(5, 5)}});
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kRateExceeded);
  CHECK(limiter.Admit("bob", false).decision == RateDecision::kRateExceeded);
  CHECK(limiter.tracked_identities() == 2);
}

TEST_CASE("Configure with a changed limit gives the identity a full bucket",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(1, 1), {{"alice", Rate(1, 1)}});
  REQUIRE(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  REQUIRE(limiter.Admit("bob", false).decision == RateDecision::kAllowed);
  limiter.Configure(Rate(1, 1), {{"alice", Rate(1, 2)}});
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("alice", false).decision == RateDecision::kRateExceeded);
  CHECK(limiter.Admit("bob", false).decision == RateDecision::kRateExceeded);
}

TEST_CASE("Configure moving an identity onto the default limit gives it a fresh state",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Rate(1, 1), {{"alice", Rate(1, 3)}});
  for (int i = 0; i < 3; ++i)
    REQUIRE(limiter.Admit("alice", false).decision == RateDecision::kAllowed);
  limiter.Configure(Rate(1, 1), {});
  const Admission admission = limiter.Admit("alice", false);
  CHECK(admission.decision == RateDecision::kAllowed);
  CHECK(admission.limit == Rate(1, 1));
}

TEST_CASE("Configure with an unchanged limit keeps the streams in progress counted",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(1), {});
  const Admission stream = limiter.Admit("alice", true);
  REQUIRE(stream.decision == RateDecision::kAllowed);
  limiter.Configure(Streams(1), {});
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kTooManyStreams);
}

TEST_CASE("a permit from before a limit change releases into the old state, not the new one",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock);
  limiter.Configure(Streams(1), {});
  Admission old_stream = limiter.Admit("alice", true);
  REQUIRE(old_stream.decision == RateDecision::kAllowed);
  limiter.Configure(Streams(2), {});
  Admission a = limiter.Admit("alice", true);
  Admission b = limiter.Admit("alice", true);
  REQUIRE(a.decision == RateDecision::kAllowed);
  REQUIRE(b.decision == RateDecision::kAllowed);
  old_stream = Admission{};
  CHECK(limiter.Admit("alice", true).decision == RateDecision::kTooManyStreams);
}

// ---- RateLimiter: bounded memory ----

TEST_CASE("past the identity cap, new identities share one state under the default limit",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock, /*max_identities=*/3);
  limiter.Configure(Rate(1, 1), {});
  for (const char* name : {"a", "b", "c"}) {
    REQUIRE(limiter.Admit(name, false).decision == RateDecision::kAllowed);
  }
  CHECK(limiter.Admit("d", false).decision == RateDecision::kAllowed);
  const Admission e = limiter.Admit("e", false);
  CHECK(e.decision == RateDecision::kRateExceeded);
  CHECK(e.limit == Rate(1, 1));
  CHECK(limiter.tracked_identities() == 3);
  // Identities tracked before the cap was reached keep their own state.
  CHECK(limiter.Admit("a", false).decision == RateDecision::kRateExceeded);
  clock.Advance(std::chrono::seconds(1));
  CHECK(limiter.Admit("a", false).decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("f", false).decision == RateDecision::kAllowed);
  CHECK(limiter.Admit("d", false).decision == RateDecision::kRateExceeded);
}

TEST_CASE("past the identity cap, an identity with a limit of its own is still tracked apart",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock, /*max_identities=*/1);
  limiter.Configure(Rate(1, 1), {{"vip", Rate(10, 3)}});
  REQUIRE(limiter.Admit("a", false).decision == RateDecision::kAllowed);
  REQUIRE(limiter.Admit("b", false).decision == RateDecision::kAllowed);  // overflow state
  for (int i = 0; i < 3; ++i) {
    const Admission vip = limiter.Admit("vip", false);
    CHECK(vip.decision == RateDecision::kAllowed);
    CHECK(vip.limit == Rate(10, 3));
  }
  CHECK(limiter.tracked_identities() == 2);
}

TEST_CASE("past the identity cap, a new default limit gives the overflow state a fresh start",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock, /*max_identities=*/1);
  // "vip" keeps its limit across the Configure below, so the cap stays reached.
  limiter.Configure(Rate(1, 1), {{"vip", Rate(5, 5)}});
  REQUIRE(limiter.Admit("vip", false).decision == RateDecision::kAllowed);
  REQUIRE(limiter.Admit("b", false).decision == RateDecision::kAllowed);
  REQUIRE(limiter.Admit("c", false).decision == RateDecision::kRateExceeded);
  limiter.Configure(Rate(1, 2), {{"vip", Rate(5, 5)}});
  for (int i = 0; i < 2; ++i) {
    const Admission admission = limiter.Admit("c", false);
    CHECK(admission.decision == RateDecision::kAllowed);
    CHECK(admission.limit == Rate(1, 2));
  }
  CHECK(limiter.Admit("b", false).decision == RateDecision::kRateExceeded);
}

TEST_CASE("many threads admitting many identities keep the tracked count at the cap",
          "[security][rate_limiter]") {
  FakeClock clock;
  RateLimiter limiter(clock, /*max_identities=*/100);
  limiter.Configure(Streams(1000), {});
  std::atomic<int> refused{0};  // Catch2's CHECK is not thread-safe
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        Admission admission = limiter.Admit(std::to_string(t * 1000 + i), i % 2 == 0);
        if (admission.decision != RateDecision::kAllowed) refused.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(refused.load() == 0);
  CHECK(limiter.tracked_identities() == 100);
}

}  // namespace
}  // namespace og::security
