#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/call/admission_queue.h"
#include "gateway/telemetry/metrics.h"

namespace og {
namespace {

using std::chrono::milliseconds;

// Backend slots shared by the fake waiters; TryAdmit runs under the queue's mutex, the test
// adds slots from its own threads.
struct Slots {
  std::atomic<int> free{0};
  bool Take() {
    int n = free.load();
    do {
      if (n <= 0) return false;
    } while (!free.compare_exchange_weak(n, n - 1));
    return true;
  }
};

// Records, in order, which waiters left the queue and how.
struct ExitLog {
  std::mutex mu;
  std::vector<int> order;
};

class FakeWaiter final : public AdmissionWaiter {
 public:
  FakeWaiter(int id, Slots& slots, ExitLog& log) : id_(id), slots_(slots), log_(log) {}
  bool TryAdmit() override { return slots_.Take(); }
  bool Abandoned() override { return abandoned; }
  void OnQueueExit(const absl::Status& s) override {
    {
      std::lock_guard<std::mutex> lock(log_.mu);
      log_.order.push_back(id_);
      status = s;
    }
    exits.fetch_add(1);
  }

  bool abandoned = false;
  std::atomic<int> exits{0};
  absl::Status status;

 private:
  const int id_;
  Slots& slots_;
  ExitLog& log_;
};

constexpr Clock::TimePoint kNoDeadline = Clock::TimePoint::max();

struct Fixture {
  explicit Fixture(std::size_t max_queue = 100, milliseconds wait = milliseconds(1000))
      : queue(clock, AdmissionLimits{max_queue, wait}, &metrics) {}
  std::unique_ptr<FakeWaiter> Waiter(int id) {
    return std::make_unique<FakeWaiter>(id, slots, log);
  }
  FakeClock clock;
  Metrics metrics;
  Slots slots;
  ExitLog log;
  AdmissionQueue queue;
};

TEST_CASE("a free slot admits at once without queueing", "[admission]") {
  Fixture f;
  f.slots.free = 1;
  auto w = f.Waiter(1);
  CHECK(f.queue.Enqueue(w.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kAdmitted);
  CHECK(f.queue.depth() == 0);
  CHECK(w->exits == 0);
}

TEST_CASE("an abandoned waiter is not queued", "[admission]") {
  Fixture f;
  auto w = f.Waiter(1);
  w->abandoned = true;
  CHECK(f.queue.Enqueue(w.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kAbandoned);
  CHECK(f.queue.depth() == 0);
}

TEST_CASE("freed slots go to waiters in arrival order", "[admission]") {
  Fixture f;
  std::vector<std::unique_ptr<FakeWaiter>> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.push_back(f.Waiter(i));
    REQUIRE(f.queue.Enqueue(waiters.back().get(), "m", kNoDeadline) ==
            AdmissionQueue::EnqueueResult::kQueued);
  }
  CHECK(f.queue.depth() == 4);
  f.queue.Wake();  // nothing free yet
  CHECK(f.log.order.empty());
  f.slots.free = 1;
  f.queue.Wake();
  CHECK(f.log.order == std::vector<int>{0});
  f.slots.free = 2;
  f.queue.Wake();
  CHECK(f.log.order == std::vector<int>{0, 1, 2});
  CHECK(waiters[2]->status.ok());
  CHECK(f.queue.depth() == 1);
  CHECK(f.metrics.Serialize().find("gateway_queue_depth 1") != std::string::npos);
}

TEST_CASE("a call beyond max_queue is refused naming the model and the limit", "[admission]") {
  Fixture f(/*max_queue=*/2);
  auto a = f.Waiter(1);
  auto b = f.Waiter(2);
  auto c = f.Waiter(3);
  REQUIRE(f.queue.Enqueue(a.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kQueued);
  REQUIRE(f.queue.Enqueue(b.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kQueued);
  CHECK(f.queue.Enqueue(c.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kFull);
  CHECK(c->exits == 0);
  const std::string message = AdmissionQueue::FullMessage("llama3.2", 2);
  CHECK(message.find("'llama3.2'") != std::string::npos);
  CHECK(message.find("queue is full (max_queue 2") != std::string::npos);
  CHECK(f.metrics.Serialize().find("gateway_queue_rejected_total{reason=\"full\"} 1") !=
        std::string::npos);
}

TEST_CASE("a waiter leaves with RESOURCE_EXHAUSTED once max_queue_wait passed", "[admission]") {
  Fixture f(100, milliseconds(100));
  auto w = f.Waiter(1);
  REQUIRE(f.queue.Enqueue(w.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kQueued);
  f.clock.Advance(milliseconds(99));
  f.queue.ExpireDue();
  CHECK(w->exits == 0);
  f.clock.Advance(milliseconds(1));
  f.queue.ExpireDue();
  REQUIRE(w->exits == 1);
  CHECK(w->status.code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::string(w->status.message()).find("freed within max_queue_wait") != std::string::npos);
  CHECK(f.queue.depth() == 0);
  f.slots.free = 1;
  f.queue.Wake();
  CHECK(w->exits == 1);
  CHECK(f.slots.free == 1);
}

TEST_CASE("a caller deadline before max_queue_wait ends the wait with DEADLINE_EXCEEDED",
          "[admission]") {
  Fixture f(100, milliseconds(1000));
  auto w = f.Waiter(1);
  REQUIRE(f.queue.Enqueue(w.get(), "m", f.clock.Now() + milliseconds(50)) ==
          AdmissionQueue::EnqueueResult::kQueued);
  f.clock.Advance(milliseconds(50));
  f.queue.ExpireDue();
  REQUIRE(w->exits == 1);
  CHECK(w->status.code() == absl::StatusCode::kDeadlineExceeded);
}

TEST_CASE("a removed waiter leaves at once with the given status, only once", "[admission]") {
  Fixture f;
  auto a = f.Waiter(1);
  auto b = f.Waiter(2);
  REQUIRE(f.queue.Enqueue(a.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kQueued);
  REQUIRE(f.queue.Enqueue(b.get(), "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kQueued);
  CHECK(f.queue.Remove(a.get(), absl::CancelledError("bye")));
  CHECK_FALSE(f.queue.Remove(a.get(), absl::CancelledError("again")));
  CHECK(a->exits == 1);
  CHECK(a->status.code() == absl::StatusCode::kCancelled);
  f.slots.free = 1;
  f.queue.Wake();
  CHECK(b->exits == 1);
  CHECK(b->status.ok());
}

TEST_CASE("every waiter leaves exactly once under concurrent wake, expiry and cancel",
          "[admission]") {
  constexpr int kWaiters = 400;
  Fixture f(kWaiters, milliseconds(100));
  std::vector<std::unique_ptr<FakeWaiter>> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.push_back(f.Waiter(i));
  std::atomic<bool> go{false};
  std::atomic<int> admitted_at_once{0};
  std::vector<std::thread> threads;
  // Two threads queue half the waiters each.
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      for (int i = t; i < kWaiters; i += 2) {
        if (f.queue.Enqueue(waiters[i].get(), "m", kNoDeadline) ==
            AdmissionQueue::EnqueueResult::kAdmitted) {
          admitted_at_once.fetch_add(1);
        }
      }
    });
  }
  threads.emplace_back([&] {  // frees slots
    while (!go) std::this_thread::yield();
    for (int i = 0; i < 150; ++i) {
      f.slots.free.fetch_add(1);
      f.queue.Wake();
    }
  });
  threads.emplace_back([&] {  // expires
    while (!go) std::this_thread::yield();
    for (int i = 0; i < 50; ++i) {
      f.clock.Advance(milliseconds(3));
      f.queue.ExpireDue();
    }
  });
  threads.emplace_back([&] {  // cancels
    while (!go) std::this_thread::yield();
    for (int i = 0; i < kWaiters; i += 3)
      f.queue.Remove(waiters[i].get(), absl::CancelledError(""));
  });
  go = true;
  for (auto& t : threads) t.join();
  // Whatever is left expires.
  f.clock.Advance(milliseconds(1000));
  f.queue.ExpireDue();
  CHECK(f.queue.depth() == 0);
  int ok = 0;
  for (auto& w : waiters) {
    const bool at_once = w->exits == 0;
    if (at_once) continue;
    CHECK(w->exits == 1);
    if (w->status.ok()) ++ok;
  }
  int total_exits = 0;
  for (auto& w : waiters) total_exits += w->exits;
  CHECK(total_exits + admitted_at_once == kWaiters);
  // Every slot handed out went to exactly one waiter.
  CHECK(ok + admitted_at_once + f.slots.free == 150);
}

TEST_CASE("the timer thread expires waiters in real time", "[admission]") {
  Metrics metrics;
  AdmissionQueue queue(SystemClock::Get(), AdmissionLimits{10, milliseconds(30)}, &metrics);
  queue.Start();
  Slots slots;
  ExitLog log;
  FakeWaiter w(1, slots, log);
  REQUIRE(queue.Enqueue(&w, "m", kNoDeadline) == AdmissionQueue::EnqueueResult::kQueued);
  for (int i = 0; i < 200 && w.exits == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  REQUIRE(w.exits == 1);
  CHECK(w.status.code() == absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace og
