// The open-loop arrival schedule: when each call is meant to be sent, independent of how long
// earlier calls take.
#ifndef OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_SCHEDULE_H_
#define OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_SCHEDULE_H_

#include <chrono>
#include <cstdint>
#include <random>

namespace og::bench {

// How arrivals are spaced at a given mean rate.
enum class Arrivals {
  kPoisson,  // exponential gaps: a Poisson process, like independent users
  kUniform,  // equal gaps of 1/rate
};

// Yields the intended send time of each arrival as an offset from the start of the run. Offsets
// are kept in double-precision seconds and rounded only when returned, so a long run does not
// drift from its rate through rounding of each gap. The generator is seeded, so the same seed
// gives the same schedule (tests pin one).
//
// Not thread-safe: one thread (the bench's scheduler) owns it.
class ArrivalSchedule {
 public:
  // `rate` is in arrivals per second and must be > 0.
  ArrivalSchedule(double rate, Arrivals arrivals, std::uint64_t seed);

  // The intended offset of the next arrival. Uniform arrivals are at 0, 1/rate, 2/rate, ...
  // (exactly rate x D of them in a window of D); the first Poisson arrival is one random gap
  // after the start, as the process is memoryless.
  std::chrono::nanoseconds Next();

 private:
  double rate_;
  Arrivals arrivals_;
  std::mt19937_64 random_;
  std::exponential_distribution<double> exponential_;
  std::uint64_t arrivals_so_far_ = 0;
  double at_seconds_ = 0;
};

}  // namespace og::bench

#endif  // OLLAMA_GATEWAY_BENCH_GATEWAY_BENCH_SCHEDULE_H_
