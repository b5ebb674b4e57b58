#include "bench/gateway-bench/schedule.h"

#include <cmath>

namespace og::bench {

ArrivalSchedule::ArrivalSchedule(double rate, Arrivals arrivals, std::uint64_t seed)
    : rate_(rate), arrivals_(arrivals), random_(seed), exponential_(rate) {}

std::chrono::nanoseconds ArrivalSchedule::Next() {
  // Uniform offsets are n / rate rather than a running sum, which would drift by the rounding
  // of each 1 / rate (43 us after 3 million arrivals at 3/s).
  at_seconds_ = arrivals_ == Arrivals::kPoisson ? at_seconds_ + exponential_(random_)
                                                : static_cast<double>(arrivals_so_far_) / rate_;
  ++arrivals_so_far_;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(at_seconds_ * 1e9)));
}

}  // namespace og::bench
