#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "gateway/call/retry_budget.h"

namespace og {
namespace {

TEST_CASE("at least three retries are allowed however few calls are in progress", "[retry]") {
  RetryBudget budget(20);
  CHECK(budget.TryAcquire(1));
  CHECK(budget.TryAcquire(1));
  CHECK(budget.TryAcquire(1));
  CHECK_FALSE(budget.TryAcquire(1));
  budget.Release();
  CHECK(budget.TryAcquire(1));
  CHECK(budget.in_progress() == 3);
}

TEST_CASE("retries in progress stay below the share of calls in progress", "[retry]") {
  RetryBudget budget(20);
  int granted = 0;
  while (budget.TryAcquire(100)) ++granted;
  CHECK(granted == 20);
  // More calls in progress widen the budget: 110 calls allow 22 retries.
  CHECK(budget.TryAcquire(110));
  CHECK(budget.TryAcquire(110));
  CHECK_FALSE(budget.TryAcquire(110));
}

TEST_CASE("a budget of 0 percent still allows the floor", "[retry]") {
  RetryBudget budget(0);
  int granted = 0;
  while (budget.TryAcquire(1000)) ++granted;
  CHECK(granted == RetryBudget::kMinRetries);
}

TEST_CASE("racing threads never exceed the budget", "[retry]") {
  RetryBudget budget(10);
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (budget.TryAcquire(100)) granted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(granted == 10);
  CHECK(budget.in_progress() == 10);
}

}  // namespace
}  // namespace og
