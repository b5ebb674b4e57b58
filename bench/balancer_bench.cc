// Micro-benchmarks of the balancer policies: what one pick costs at 3, 100 and 1,000 hosts, and
// what rebuilding a picker costs when a pool's membership changes. Results: bench/README.md.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "balancer/ketama.h"
#include "balancer/least_connections.h"
#include "balancer/policy.h"
#include "balancer/round_robin.h"
#include "balancer/testing/fake_pool.h"

namespace og::balancer {
namespace {

// `count` hosts with weights cycling 1..max_weight, ketama labels "10.0.X.Y:11434", and varied
// in-flight counts (0..31).
testing::FakePool MakePool(std::size_t count, std::uint32_t max_weight = 10) {
  std::mt19937_64 random(42);
  testing::FakePool pool;
  for (std::size_t i = 0; i < count; ++i) {
    pool.Add(absl::StrCat("backend-", i), static_cast<std::uint32_t>(1 + i % max_weight),
             absl::StrCat("10.0.", i / 256, ".", i % 256, ":11434"));
    pool.SetInFlight(i, static_cast<std::int64_t>(random() % 32));
  }
  return pool;
}

std::vector<std::string> RandomKeys(std::size_t count) {
  std::mt19937_64 random(7);
  std::vector<std::string> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) keys.push_back(absl::StrCat("session-", random()));
  return keys;
}

// Each pick gets fresh randomness, as the gateway gives it.
std::uint64_t NextRandom(std::uint64_t& state) { return state += 0x9e3779b97f4a7c15ULL; }

void RunPicks(benchmark::State& state, const Picker& picker) {
  std::uint64_t seed = 1;
  PickContext context;
  for (auto _ : state) {
    context.random = NextRandom(seed);
    benchmark::DoNotOptimize(picker.Pick(context));
  }
}

void BM_RoundRobinPick(benchmark::State& state) {
  const testing::FakePool pool = MakePool(static_cast<std::size_t>(state.range(0)));
  RoundRobinPicker picker(pool.hosts());
  RunPicks(state, picker);
}
BENCHMARK(BM_RoundRobinPick)->Arg(3)->Arg(100)->Arg(1000);

void BM_LeastConnectionsPick(benchmark::State& state) {
  const testing::FakePool pool = MakePool(static_cast<std::size_t>(state.range(0)));
  LeastConnectionsPicker picker(pool.hosts(), /*choice_count=*/0);
  RunPicks(state, picker);
}
BENCHMARK(BM_LeastConnectionsPick)->Arg(3)->Arg(100)->Arg(1000);

void BM_LeastConnectionsP2CPick(benchmark::State& state) {
  const testing::FakePool pool = MakePool(static_cast<std::size_t>(state.range(0)));
  LeastConnectionsPicker picker(pool.hosts(), /*choice_count=*/2);
  RunPicks(state, picker);
}
BENCHMARK(BM_LeastConnectionsP2CPick)->Arg(3)->Arg(100)->Arg(1000);

void KetamaPicks(benchmark::State& state, double bounded_load_factor) {
  const testing::FakePool pool = MakePool(static_cast<std::size_t>(state.range(0)));
  KetamaPicker picker(pool.hosts(), bounded_load_factor);
  const std::vector<std::string> keys = RandomKeys(4096);
  std::size_t next = 0;
  PickContext context;
  for (auto _ : state) {
    context.hash_key = keys[next++ % keys.size()];
    benchmark::DoNotOptimize(picker.Pick(context));
  }
}

void BM_KetamaPick(benchmark::State& state) { KetamaPicks(state, 0); }
BENCHMARK(BM_KetamaPick)->Arg(3)->Arg(100)->Arg(1000);

void BM_KetamaBoundedLoadPick(benchmark::State& state) { KetamaPicks(state, 1.25); }
BENCHMARK(BM_KetamaBoundedLoadPick)->Arg(3)->Arg(100)->Arg(1000);

// The hash alone, to tell it apart from the ring search.
void BM_KetamaHashKey(benchmark::State& state) {
  const std::vector<std::string> keys = RandomKeys(4096);
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(KetamaPicker::HashKey(keys[next++ % keys.size()]));
  }
}
BENCHMARK(BM_KetamaHashKey);

void BM_KetamaRingBuild(benchmark::State& state) {
  const testing::FakePool pool = MakePool(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    KetamaPicker picker(pool.hosts());
    benchmark::DoNotOptimize(&picker);
  }
}
BENCHMARK(BM_KetamaRingBuild)->Arg(1000)->Unit(benchmark::kMillisecond);

// Arguments: hosts, largest weight (weights cycle 1..max).
void BM_RoundRobinScheduleBuild(benchmark::State& state) {
  const testing::FakePool pool = MakePool(static_cast<std::size_t>(state.range(0)),
                                          static_cast<std::uint32_t>(state.range(1)));
  std::uint64_t period = 0;
  for (auto _ : state) {
    RoundRobinPicker picker(pool.hosts());
    period = picker.period();
    benchmark::DoNotOptimize(&picker);
  }
  state.counters["period"] = static_cast<double>(period);
}
BENCHMARK(BM_RoundRobinScheduleBuild)
    ->Args({1000, 10})
    ->Args({1000, 1000})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace og::balancer

BENCHMARK_MAIN();
