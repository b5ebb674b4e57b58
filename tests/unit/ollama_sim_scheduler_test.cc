// The simulator's model scheduler (tools/ollama-sim/scheduler.h): decode slots, the bounded
// pending queue for loads, aborted loads and keep-alive. Driven by polling an io_context; loads
// that must not finish during a test take an hour.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <vector>

#include "tools/ollama-sim/scheduler.h"

namespace {

using namespace og::sim;
using namespace std::chrono_literals;

class SchedulerTest {
 public:
  explicit SchedulerTest(int parallel, int max_queue = 512)
      : catalog_(Models()), scheduler_(io_, Scheduler::Options{parallel, max_queue, 5min}, [this] {
          return load_delay;
        }) {}
  ~SchedulerTest() {
    scheduler_.Shutdown();
    Poll();
  }

  // A request for llama3.2 that records what happened to it in `events`.
  std::shared_ptr<Scheduler::Claim> Request(const std::string& name, bool wants_slot = true,
                                            std::optional<std::chrono::nanoseconds> keep = {}) {
    return scheduler_.Acquire(
        model(), keep, wants_slot, io_.get_executor(),
        [this, name] { events.push_back(name + " loaded"); },
        [this, name] { events.push_back(name + " slot"); });
  }

  void Poll() {
    for (int i = 0; i < 10; ++i) {
      io_.restart();
      io_.poll();
    }
  }

  Scheduler& scheduler() { return scheduler_; }
  const ModelInfo& model() const { return *catalog_.Find("llama3.2"); }
  std::vector<std::string> events;
  std::chrono::milliseconds load_delay{0};

 private:
  static Catalog Models() {
    std::vector<ModelInfo> models;
    models.push_back(DescribeModel(*ParseModelName("llama3.2")));
    return Catalog(std::move(models));
  }
  boost::asio::io_context io_;
  Catalog catalog_;
  Scheduler scheduler_;
};

using Events = std::vector<std::string>;

TEST_CASE("decode slots are granted first come, first served", "[sim]") {
  SchedulerTest t(/*parallel=*/1);
  auto a = t.Request("a");
  t.Poll();
  CHECK(t.events == Events{"a loaded", "a slot"});
  auto b = t.Request("b");
  auto c = t.Request("c");
  t.Poll();
  CHECK(t.events == Events{"a loaded", "a slot", "b loaded", "c loaded"});
  t.scheduler().Release(a);
  t.Poll();
  CHECK(t.events.back() == "b slot");
  t.scheduler().Release(c);  // leaves the queue without ever running
  t.scheduler().Release(b);
  auto d = t.Request("d");
  t.Poll();
  CHECK(t.events.back() == "d slot");
  t.scheduler().Release(d);
}

TEST_CASE("parallel 0 runs every request at once", "[sim]") {
  SchedulerTest t(/*parallel=*/0);
  std::vector<std::shared_ptr<Scheduler::Claim>> claims;
  for (int i = 0; i < 20; ++i) claims.push_back(t.Request("r"));
  t.Poll();
  CHECK(std::count(t.events.begin(), t.events.end(), "r slot") == 20);
  for (auto& claim : claims) t.scheduler().Release(claim);
}

TEST_CASE("only requests that need a load count against the queue limit", "[sim]") {
  SchedulerTest t(/*parallel=*/1, /*max_queue=*/2);
  t.load_delay = 1h;
  auto a = t.Request("a");
  auto b = t.Request("b");
  CHECK(a != nullptr);
  CHECK(b != nullptr);
  CHECK(t.Request("c") == nullptr);  // pending queue full: 503
  t.scheduler().Release(b);
  auto d = t.Request("d");
  CHECK(d != nullptr);  // room again
  t.scheduler().Release(a);
  t.scheduler().Release(d);
}

TEST_CASE("a loaded model never refuses, however many wait for a slot", "[sim]") {
  SchedulerTest t(/*parallel=*/1, /*max_queue=*/1);
  auto first = t.Request("first");
  t.Poll();
  std::vector<std::shared_ptr<Scheduler::Claim>> waiting;
  for (int i = 0; i < 10; ++i) waiting.push_back(t.Request("w"));
  for (const auto& claim : waiting) CHECK(claim != nullptr);
  t.scheduler().Release(first);
  for (auto& claim : waiting) t.scheduler().Release(claim);
}

TEST_CASE("a load is aborted when the request that started it leaves", "[sim]") {
  SchedulerTest t(/*parallel=*/0);
  t.load_delay = 1h;
  auto owner = t.Request("owner");
  auto other = t.Request("other");
  t.Poll();
  CHECK(t.events.empty());
  t.load_delay = 0ms;  // the new load, for the request still waiting, is quick
  t.scheduler().Release(owner);
  t.Poll();
  CHECK(t.events == Events{"other loaded", "other slot"});
  CHECK(t.scheduler().loads() == 1);
  t.scheduler().Release(other);
}

TEST_CASE("a load nobody waits for any more leaves the model unloaded", "[sim]") {
  SchedulerTest t(/*parallel=*/0);
  t.load_delay = 1h;
  auto only = t.Request("only");
  t.scheduler().Release(only);
  t.Poll();
  CHECK(t.scheduler().Loaded().empty());
  CHECK(t.scheduler().loads() == 0);
}

TEST_CASE("keep_alive 0 unloads the model as soon as it is idle", "[sim]") {
  SchedulerTest t(/*parallel=*/0);
  auto a = t.Request("a", true, std::chrono::nanoseconds(0));
  t.Poll();
  CHECK(t.scheduler().Loaded().size() == 1);
  t.scheduler().Release(a);
  CHECK(t.scheduler().Loaded().empty());
  CHECK(t.scheduler().unloads() == 1);
}

TEST_CASE("an unload request waits for the model's running requests", "[sim]") {
  SchedulerTest t(/*parallel=*/0);
  auto busy = t.Request("busy");
  t.Poll();
  t.scheduler().Unload(t.model());
  CHECK(t.scheduler().Loaded().size() == 1);
  t.scheduler().Release(busy);
  CHECK(t.scheduler().Loaded().empty());
}

TEST_CASE("a load-only request is assigned without a slot", "[sim]") {
  SchedulerTest t(/*parallel=*/1);
  auto running = t.Request("run");
  t.Poll();
  auto load = t.Request("load", /*wants_slot=*/false);
  t.Poll();
  CHECK(t.events == Events{"run loaded", "run slot", "load loaded"});
  t.scheduler().Release(load);
  t.scheduler().Release(running);
  CHECK(t.scheduler().Loaded().size() == 1);  // default keep-alive: stays loaded
}

}  // namespace
