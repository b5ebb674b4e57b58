// A log-linear latency histogram in the manner of HdrHistogram, and the percentile summary the
// report prints.
//
// Why buckets rather than an exact sorted vector: an open-loop run at 20,000 calls/s for 10 minutes
// records 12 million values (96 MB as int64, and a sort at the end); the histogram is a fixed
// 216 KiB however long the run, merges in O(buckets), and its relative error (at most 1/1024,
// under 0.1%) is far below the run-to-run noise of any network benchmark. Values below 2,048 are
// exact.
#ifndef OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_HISTOGRAM_H_
#define OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace og::bench {

// Percentiles of one histogram, in the histogram's unit. All zero when count is zero.
struct PercentileSummary {
  std::uint64_t count = 0;
  double mean = 0;
  std::uint64_t p50 = 0;
  std::uint64_t p90 = 0;
  std::uint64_t p99 = 0;
  std::uint64_t p999 = 0;
  std::uint64_t max = 0;
};

// Counts non-negative integer values (the bench records microseconds) in buckets: values below
// 2,048 each have their own bucket; above that, every power-of-two range [2^k, 2^(k+1)) is split
// into 1,024 equal sub-buckets. Values above MaxTrackable() are counted at MaxTrackable() (about
// 19 hours in microseconds), though Max() stays exact.
//
// Not thread-safe: the caller serializes Record and Merge (the bench keeps one per recorder,
// under the recorder's lock).
class LogLinearHistogram {
 public:
  LogLinearHistogram();

  // Adds one value.
  void Record(std::uint64_t value);
  // Adds every value counted by `other`.
  void Merge(const LogLinearHistogram& other);

  std::uint64_t Count() const { return count_; }
  // The largest value recorded, exactly (0 when empty).
  std::uint64_t Max() const { return max_; }
  // The smallest value recorded, exactly (0 when empty).
  std::uint64_t Min() const { return count_ == 0 ? 0 : min_; }
  // The exact mean of the recorded values (0 when empty).
  double Mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / count_; }

  // The value at `percentile` (0..100): the highest value equivalent to the bucket holding the
  // ceil(percentile / 100 * count)-th smallest value, capped at Max(). So ValueAt(100) == Max(),
  // and the answer is never below the true percentile and at most 1/1024 above it.
  // 0 when empty.
  std::uint64_t ValueAt(double percentile) const;

  // p50, p90, p99, p99.9, max, count and mean.
  PercentileSummary Summary() const;

  static constexpr std::uint64_t MaxTrackable() { return (std::uint64_t{1} << 36) - 1; }

  // Bucket arithmetic, public for the tests: the index of the bucket holding `value` and the
  // highest value that bucket holds.
  static std::size_t IndexOf(std::uint64_t value);
  static std::uint64_t HighestEquivalent(std::size_t index);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace og::bench

#endif  // OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_HISTOGRAM_H_
