// The log-linear latency histogram of gateway-bench (bench/gateway-bench/histogram.h).
#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "bench/gateway-bench/histogram.h"

namespace {

using og::bench::LogLinearHistogram;

// The exact percentile by the same rank rule, the ceil(p / 100 * n)-th smallest value, in integer
// arithmetic (p in tenths of a percent) so the reference itself has no rounding to get wrong.
std::uint64_t ExactPercentile(std::vector<std::uint64_t> values, std::size_t tenths) {
  std::sort(values.begin(), values.end());
  const std::size_t rank = std::max<std::size_t>(1, (tenths * values.size() + 999) / 1000);
  return values[rank - 1];
}

TEST_CASE("an empty histogram reports zeros", "[bench]") {
  const LogLinearHistogram h;
  const auto s = h.Summary();
  CHECK(s.count == 0);
  CHECK(s.p50 == 0);
  CHECK(s.max == 0);
  CHECK(s.mean == 0);
}

TEST_CASE("values below 2048 are exact", "[bench]") {
  LogLinearHistogram h;
  for (std::uint64_t v = 1; v <= 1000; ++v) h.Record(v);
  CHECK(h.ValueAt(50) == 500);
  CHECK(h.ValueAt(90) == 900);
  CHECK(h.ValueAt(99) == 990);
  CHECK(h.ValueAt(99.9) == 999);
  CHECK(h.ValueAt(100) == 1000);
  CHECK(h.Min() == 1);
  CHECK(h.Mean() == Approx(500.5));
}

TEST_CASE("bucket indices are contiguous across powers of two", "[bench]") {
  CHECK(LogLinearHistogram::IndexOf(2047) == 2047);
  CHECK(LogLinearHistogram::IndexOf(2048) == 2048);
  CHECK(LogLinearHistogram::IndexOf(2049) == 2048);
  CHECK(LogLinearHistogram::IndexOf(4095) == 3071);
  CHECK(LogLinearHistogram::IndexOf(4096) == 3072);
  CHECK(LogLinearHistogram::HighestEquivalent(2048) == 2049);
  CHECK(LogLinearHistogram::HighestEquivalent(3071) == 4095);
  CHECK(LogLinearHistogram::HighestEquivalent(3072) == 4099);
}

TEST_CASE("every value maps into a bucket whose range holds it", "[bench]") {
  std::mt19937_64 random(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t v = random() % LogLinearHistogram::MaxTrackable();
    const std::size_t index = LogLinearHistogram::IndexOf(v);
    REQUIRE(LogLinearHistogram::HighestEquivalent(index) >= v);
    if (index > 0) REQUIRE(LogLinearHistogram::HighestEquivalent(index - 1) < v);
  }
}

TEST_CASE("percentiles of a wide distribution are within 0.1% above the exact ones", "[bench]") {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(9.0, 1.5);  // median ~8 ms in microseconds
  std::vector<std::uint64_t> values;
  LogLinearHistogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency(random));
    values.push_back(v);
    h.Record(v);
  }
  for (std::size_t tenths : {500, 900, 990, 999}) {
    const std::uint64_t exact = ExactPercentile(values, tenths);
    const std::uint64_t reported = h.ValueAt(static_cast<double>(tenths) / 10);
    INFO("p" << tenths / 10.0 << " exact " << exact << " reported " << reported);
    CHECK(reported >= exact);
    CHECK(static_cast<double>(reported) <= static_cast<double>(exact) * (1 + 1.0 / 1024) + 1);
  }
  CHECK(h.ValueAt(100) == *std::max_element(values.begin(), values.end()));
}

TEST_CASE("percentiles are ordered and capped at the exact maximum", "[bench]") {
  LogLinearHistogram h;
  h.Record(1'000'001);
  h.Record(3);
  const auto s = h.Summary();
  CHECK(s.p50 == 3);
  CHECK(s.p99 == 1'000'001);  // the bucket's top would be higher; the exact max caps it
  CHECK(s.p50 <= s.p90);
  CHECK(s.p90 <= s.p99);
  CHECK(s.p99 <= s.p999);
  CHECK(s.p999 <= s.max);
}

TEST_CASE("values past the trackable range count at its top but keep an exact max", "[bench]") {
  LogLinearHistogram h;
  h.Record(LogLinearHistogram::MaxTrackable() * 4);
  CHECK(h.Count() == 1);
  CHECK(h.Max() == LogLinearHistogram::MaxTrackable() * 4);
  CHECK(h.ValueAt(50) >=
        LogLinearHistogram::MaxTrackable() - LogLinearHistogram::MaxTrackable() / 1024);
}

TEST_CASE("merging two histograms equals recording into one", "[bench]") {
  LogLinearHistogram a, b, both;
  for (std::uint64_t v = 0; v < 5000; v += 7) {
    (v % 2 ? a : b).Record(v * 13);
    both.Record(v * 13);
  }
  a.Merge(b);
  CHECK(a.Count() == both.Count());
  CHECK(a.Min() == both.Min());
  CHECK(a.Max() == both.Max());
  CHECK(a.Mean() == Approx(both.Mean()));
  for (double p : {1.0, 50.0, 99.0, 99.9}) CHECK(a.ValueAt(p) == both.ValueAt(p));
}

}  // namespace
