// Active health checking: when to probe each backend in each tier, what the results mean, and
// who hears about changes. One Checker serves every backend. It owns timing (interval, jitter,
// timeout, all on an injected Clock) and the rise/fall thresholds; the probes (probes.h) only
// perform one check each through a Transport. Tests drive it with a FakeClock and a fake
// Transport, in simulated time and without sockets.
//
// Threading: RunDue is called by one driver (CheckerThread, or a test); probe results arrive on
// any thread. A mutex guards the state; the hot request path never touches the Checker: the
// Observer publishes what routing needs (see gateway/routing/health_bridge.h).
#ifndef OLLAMA_GATEWAY_HEALTH_CHECKER_H_
#define OLLAMA_GATEWAY_HEALTH_CHECKER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "health/probes.h"
#include "health/tier.h"

namespace og::health {

struct CheckerOptions {
  TierOptions connect;
  TierOptions api;
  // The timeout of the /api/ps poll that accompanies each tier 2 check.
  std::chrono::milliseconds ps_timeout{2000};
  TierOptions inference;
  InferenceProbeOptions inference_probe;
  // The key under which model names compare (Ollama names are case-insensitive, with an
  // implicit ":latest"); identity when unset.
  std::function<std::string(std::string_view)> model_key;
};

// A backend to check, and the models tier 3 probes on it.
struct BackendSpec {
  std::string name;
  std::vector<std::string> probe_models;
};

// The last word on one (backend, tier[, model]).
struct TierStatus {
  bool enabled = false;
  State state = State::kUnknown;
  // The latest result; `checks` is 0 before the first.
  std::uint64_t checks = 0;
  std::uint64_t failures = 0;
  bool last_ok = false;
  std::string last_error;
  std::chrono::nanoseconds last_latency{0};
  Clock::TimePoint last_check{};
  // When `state` last changed (or the backend appeared).
  Clock::TimePoint last_change{};
  int consecutive_successes = 0;
  int consecutive_failures = 0;
  // A tier 3 probe skipped because the backend does not list the model.
  bool skipped = false;
};

// A copy of everything the checker knows of one backend (for the admin view).
struct BackendHealth {
  std::string name;
  TierStatus connect;
  TierStatus api;
  std::map<std::string, TierStatus> inference;  // by probe model
  std::string version;
  // /api/tags and /api/ps as last seen; empty optionals before the first answer.
  std::optional<std::vector<std::string>> models;
  std::optional<std::vector<std::string>> loaded;
};

// True when tiers 1 and 2 pass (a disabled tier passes).
bool ActiveChecksPass(const TierStatus& connect, const TierStatus& api);

struct StateChange {
  std::string backend;
  Tier tier = Tier::kConnect;
  std::string model;  // tier 3 only
  State from = State::kUnknown;
  State to = State::kUnknown;
  // The error of the check that caused it, or what passed.
  std::string reason;
  // After the change: whether tiers 1 and 2 both pass.
  bool active_ok = false;
};

// Hears what the checker learns. Calls come one at a time with the checker's lock held: they
// must be quick and must not call back into the checker.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void OnCheck(const std::string& backend, Tier tier, bool ok,
                       std::chrono::nanoseconds latency) = 0;
  virtual void OnStateChange(const StateChange& change) = 0;
  // The models a backend lists in /api/tags, when first seen and whenever the list changes.
  virtual void OnModels(const std::string& backend, const std::vector<std::string>& models) = 0;
  // The models loaded now (/api/ps), when first seen and whenever the list changes.
  virtual void OnLoaded(const std::string& backend, const std::vector<std::string>& loaded) = 0;
};

class Checker {
 public:
  // `transport` and `observer` must outlive the checker; `seed` feeds the jitter.
  Checker(const Clock& clock, Transport& transport, Observer& observer, std::uint64_t seed);
  // Results that arrive later are dropped.
  ~Checker();
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // Sets the options and the backends to check. What is known of a backend that remains is
  // kept; a new backend (or probe model, or re-enabled tier) is first checked within its tier's
  // jitter. A tier disabled, or a probe model dropped, reports a change to kUnknown. Thread-safe.
  void Configure(const CheckerOptions& options, const std::vector<BackendSpec>& backends);

  // Fails the checks that ran past their timeout and starts those that are due. Returns when
  // it next has something to do. Thread-safe; meant for one driver.
  Clock::TimePoint RunDue();

  // True once every backend has a first result in tiers 1 and 2 (or they are disabled).
  bool FirstRoundDone() const;

  std::vector<BackendHealth> Snapshot() const;

  // Called (without the lock) when a result arrived, so a driver can RunDue again early.
  void SetWakeup(std::function<void()> wake);

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

// Runs a Checker on its own thread against a real-time clock until destroyed.
class CheckerThread {
 public:
  // `clock` must be the checker's, and real: the thread sleeps until the next due time.
  CheckerThread(Checker& checker, const Clock& clock);
  ~CheckerThread();
  CheckerThread(const CheckerThread&) = delete;
  CheckerThread& operator=(const CheckerThread&) = delete;

  // Makes the thread RunDue now (after a reconfiguration, or when a result arrived).
  void Wake();

 private:
  // Shared with the checker's wake-up callback, which a result thread may still be running
  // when this object goes away.
  struct Signal {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
    bool stop = false;
    void Raise(bool stop_too);
  };

  void Run();

  Checker& checker_;
  const Clock& clock_;
  const std::shared_ptr<Signal> signal_ = std::make_shared<Signal>();
  std::thread thread_;
};

}  // namespace og::health

#endif  // OLLAMA_GATEWAY_HEALTH_CHECKER_H_
