// The open-loop arrival schedule of gateway-bench (bench/gateway-bench/schedule.h).
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <vector>

#include "bench/gateway-bench/schedule.h"

namespace {

using namespace std::chrono_literals;
using og::bench::Arrivals;
using og::bench::ArrivalSchedule;

TEST_CASE("uniform arrivals start at once and are exactly 1/rate apart", "[bench]") {
  ArrivalSchedule schedule(4, Arrivals::kUniform, 1);
  CHECK(schedule.Next() == 0ms);
  CHECK(schedule.Next() == 250ms);
  CHECK(schedule.Next() == 500ms);
  CHECK(schedule.Next() == 750ms);
  CHECK(schedule.Next() == 1000ms);
}

TEST_CASE("uniform arrivals do not drift over a long run through rounding", "[bench]") {
  ArrivalSchedule schedule(3, Arrivals::kUniform, 1);  // 333,333,333.33 ns gaps
  std::chrono::nanoseconds at{};
  for (int i = 0; i <= 3'000'000; ++i) at = schedule.Next();
  CHECK(at == 1'000'000s);
}

TEST_CASE("poisson arrivals keep the mean rate and exponential gaps", "[bench]") {
  constexpr double kRate = 1000;
  constexpr int kArrivals = 200000;
  ArrivalSchedule schedule(kRate, Arrivals::kPoisson, 99);
  std::chrono::nanoseconds previous{};
  int gaps_over_mean = 0;
  double sum_sq = 0;
  for (int i = 0; i < kArrivals; ++i) {
    const auto at = schedule.Next();
    REQUIRE(at >= previous);
    const double gap_ms = std::chrono::duration<double, std::milli>(at - previous).count();
    if (gap_ms > 1.0) ++gaps_over_mean;
    sum_sq += (gap_ms - 1.0) * (gap_ms - 1.0);
    previous = at;
  }
  // Mean rate within 1%; P(gap > mean) = 1/e for an exponential; its std dev equals its mean.
  CHECK(std::chrono::duration<double>(previous).count() == Approx(kArrivals / kRate).epsilon(0.01));
  CHECK(gaps_over_mean / double{kArrivals} == Approx(std::exp(-1.0)).epsilon(0.02));
  CHECK(std::sqrt(sum_sq / kArrivals) == Approx(1.0).epsilon(0.03));
}

TEST_CASE("the same seed gives the same schedule, another seed another", "[bench]") {
  ArrivalSchedule a(50, Arrivals::kPoisson, 5), b(50, Arrivals::kPoisson, 5),
      c(50, Arrivals::kPoisson, 6);
  std::vector<std::chrono::nanoseconds> xs, ys, zs;
  for (int i = 0; i < 100; ++i) {
    xs.push_back(a.Next());
    ys.push_back(b.Next());
    zs.push_back(c.Next());
  }
  CHECK(xs == ys);
  CHECK(xs != zs);
}

TEST_CASE("the first poisson arrival is after the start, not at it", "[bench]") {
  ArrivalSchedule schedule(10, Arrivals::kPoisson, 3);
  CHECK(schedule.Next() > 0ns);
}

}  // namespace
