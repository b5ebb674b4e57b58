#include "bench/gateway-bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace og::bench {
namespace {

// 2^kSubBits sub-buckets per power of two above kSubCount: relative precision 2^-kSubBits.
constexpr int kSubBits = 10;
constexpr std::uint64_t kSubHalf = std::uint64_t{1} << kSubBits;  // 1,024
constexpr std::uint64_t kSubCount = kSubHalf * 2;                 // 2,048: exact below this

// Which power-of-two range a value falls in: 0 for values below kSubCount, then 1, 2, ...
int BucketOf(std::uint64_t value) {
  const int msb = 63 - std::countl_zero(value | 1);
  return std::max(0, msb - kSubBits);
}

}  // namespace

LogLinearHistogram::LogLinearHistogram() : counts_(IndexOf(MaxTrackable()) + 1, 0) {}

std::size_t LogLinearHistogram::IndexOf(std::uint64_t value) {
  // Bucket b >= 1 holds sub-indices [kSubHalf, kSubCount) (value >> b), so bucket 0 takes
  // indices [0, 2048) and bucket b takes [(b + 1) * 1024, (b + 2) * 1024): one flat array.
  const int bucket = BucketOf(value);
  return static_cast<std::size_t>(bucket) * kSubHalf + (value >> bucket);
}

std::uint64_t LogLinearHistogram::HighestEquivalent(std::size_t index) {
  if (index < kSubCount) return index;
  const std::uint64_t bucket = index / kSubHalf - 1;
  const std::uint64_t sub = index - bucket * kSubHalf;
  return ((sub + 1) << bucket) - 1;
}

void LogLinearHistogram::Record(std::uint64_t value) {
  min_ = count_ == 0 ? value : std::min(min_, value);
  max_ = std::max(max_, value);
  ++count_;
  sum_ += value;
  ++counts_[IndexOf(std::min(value, MaxTrackable()))];
}

void LogLinearHistogram::Merge(const LogLinearHistogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

std::uint64_t LogLinearHistogram::ValueAt(double percentile) const {
  if (count_ == 0) return 0;
  // 99.9% of 1,000 is 999.0000000000001 in floating point; the relative nudge keeps exact
  // products from rounding up to the next rank.
  const double exact = std::clamp(percentile, 0.0, 100.0) / 100.0 * static_cast<double>(count_);
  const auto rank =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(exact * (1 - 1e-12))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(HighestEquivalent(i), max_);
  }
  return max_;
}

PercentileSummary LogLinearHistogram::Summary() const {
  PercentileSummary s;
  s.count = count_;
  s.mean = Mean();
  s.p50 = ValueAt(50);
  s.p90 = ValueAt(90);
  s.p99 = ValueAt(99);
  s.p999 = ValueAt(99.9);
  s.max = max_;
  return s;
}

}  // namespace og::bench
