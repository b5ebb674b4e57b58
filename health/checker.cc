#include "health/checker.h"

#include <algorithm>
#include <random>
#include <set>
#include <utility>

namespace og::health {

const char* TierName(Tier tier) {
  switch (tier) {
    case Tier::kConnect:
      return "connect";
    case Tier::kApi:
      return "api";
    case Tier::kInference:
      return "inference";
  }
  return "?";
}

const char* StateName(State state) {
  switch (state) {
    case State::kUnknown:
      return "unknown";
    case State::kHealthy:
      return "healthy";
    case State::kUnhealthy:
      return "unhealthy";
  }
  return "?";
}

bool ActiveChecksPass(const TierStatus& connect, const TierStatus& api) {
  auto passes = [](const TierStatus& s) { return !s.enabled || s.state == State::kHealthy; };
  return passes(connect) && passes(api);
}

namespace {

// One (backend, tier[, model]) and its schedule.
struct Slot {
  Tier tier = Tier::kConnect;
  std::string model;
  Thresholds thresholds;
  TierStatus status;
  Clock::TimePoint next_due{};
  bool in_flight = false;
  // Identifies the check in flight, so a late result of a timed-out check is dropped.
  std::uint64_t seq = 0;
  Clock::TimePoint started{};
};

struct Record {
  std::string name;
  Slot connect;
  Slot api;
  std::map<std::string, Slot> inference;
  std::string version;
  std::optional<std::vector<std::string>> models;
  std::optional<std::vector<std::string>> loaded;
  bool ps_in_flight = false;
};

// A probe to start once the lock is released (a transport may complete it synchronously).
struct Launch {
  std::string backend;
  Tier tier;
  std::string model;
  std::uint64_t seq;
  std::chrono::milliseconds timeout;
};

}  // namespace

struct Checker::Core : std::enable_shared_from_this<Core> {
  Core(const Clock& c, Transport& t, Observer& o, std::uint64_t seed)
      : clock(c), transport(t), observer(o), rng(seed) {}

  const Clock& clock;
  Transport& transport;
  Observer& observer;

  mutable std::mutex mu;
  bool closed = false;
  CheckerOptions options;
  std::map<std::string, std::unique_ptr<Record>, std::less<>> records;
  std::mt19937_64 rng;
  std::uint64_t next_seq = 1;
  std::function<void()> wake;

  const TierOptions& OptionsOf(Tier tier) const {
    switch (tier) {
      case Tier::kConnect:
        return options.connect;
      case Tier::kApi:
        return options.api;
      case Tier::kInference:
        break;
    }
    return options.inference;
  }

  std::string Key(std::string_view model) const {
    return options.model_key ? options.model_key(model) : std::string(model);
  }

  // Next start of a slot whose check started at `started`: at most `interval` later, minus a
  // random share of the jitter, and never in the past.
  Clock::TimePoint NextDue(const TierOptions& tier, Clock::TimePoint started,
                           Clock::TimePoint now) {
    auto wait = tier.interval;
    if (tier.jitter.count() > 0) {
      std::uniform_int_distribution<std::int64_t> dist(0, tier.jitter.count());
      wait -= std::chrono::milliseconds(dist(rng));
    }
    return std::max(started + wait, now);
  }

  bool ModelListed(const Record& record, const std::string& model) const {
    if (!options.api.enabled || !record.models.has_value()) return true;  // nothing known
    const std::string key = Key(model);
    return std::any_of(record.models->begin(), record.models->end(),
                       [&](const std::string& m) { return Key(m) == key; });
  }

  void Finish(Record& record, Slot& slot, bool ok, std::string error,
              std::chrono::nanoseconds latency, Clock::TimePoint now) {
    const TierOptions& tier = OptionsOf(slot.tier);
    slot.in_flight = false;
    slot.next_due = NextDue(tier, slot.started, now);
    TierStatus& s = slot.status;
    ++s.checks;
    if (!ok) ++s.failures;
    s.last_ok = ok;
    s.last_error = ok ? std::string() : error;
    s.last_latency = latency;
    s.last_check = now;
    s.skipped = false;
    observer.OnCheck(record.name, slot.tier, ok, latency);
    const State before = slot.thresholds.state();
    const bool changed =
        slot.thresholds.Record(ok, tier.healthy_threshold, tier.unhealthy_threshold);
    s.state = slot.thresholds.state();
    s.consecutive_successes = slot.thresholds.consecutive_successes();
    s.consecutive_failures = slot.thresholds.consecutive_failures();
    if (!changed) return;
    s.last_change = now;
    StateChange change;
    change.backend = record.name;
    change.tier = slot.tier;
    change.model = slot.model;
    change.from = before;
    change.to = s.state;
    if (ok) {
      change.reason = before == State::kUnknown
                          ? "first check passed"
                          : std::to_string(s.consecutive_successes) + " checks passed in a row";
    } else {
      change.reason = before == State::kUnknown ? error
                                                : std::to_string(s.consecutive_failures) +
                                                      " checks failed in a row, last: " + error;
    }
    change.active_ok = ActiveChecksPass(record.connect.status, record.api.status);
    observer.OnStateChange(change);
  }

  void OnResult(const std::string& backend, Tier tier, const std::string& model, std::uint64_t seq,
                CheckResult result) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed) return;
      auto it = records.find(backend);
      if (it == records.end()) return;
      Record& record = *it->second;
      Slot* slot = SlotOf(record, tier, model);
      if (slot == nullptr || !slot->in_flight || slot->seq != seq) return;  // timed out before
      const Clock::TimePoint now = clock.Now();
      if (tier == Tier::kApi && result.ok) {
        record.version = result.version;
        if (record.models != result.models) {
          record.models = result.models;
          observer.OnModels(record.name, *record.models);
        }
      }
      Finish(record, *slot, result.ok, std::move(result.error), now - slot->started, now);
    }
    Wake();
  }

  void OnLoaded(const std::string& backend, std::optional<std::vector<std::string>> loaded) {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    auto it = records.find(backend);
    if (it == records.end()) return;
    Record& record = *it->second;
    record.ps_in_flight = false;
    if (!loaded.has_value() || record.loaded == loaded) return;
    record.loaded = std::move(loaded);
    observer.OnLoaded(record.name, *record.loaded);
  }

  void Wake() {
    std::function<void()> w;
    {
      std::lock_guard<std::mutex> lock(mu);
      w = wake;
    }
    if (w) w();
  }

  static Slot* SlotOf(Record& record, Tier tier, const std::string& model) {
    switch (tier) {
      case Tier::kConnect:
        return &record.connect;
      case Tier::kApi:
        return &record.api;
      case Tier::kInference:
        break;
    }
    auto it = record.inference.find(model);
    return it == record.inference.end() ? nullptr : &it->second;
  }

  void Start(const Launch& launch) {
    auto self = shared_from_this();
    auto done = [self, launch](CheckResult result) {
      self->OnResult(launch.backend, launch.tier, launch.model, launch.seq, std::move(result));
    };
    switch (launch.tier) {
      case Tier::kConnect:
        return RunConnectProbe(transport, launch.backend, launch.timeout, std::move(done));
      case Tier::kApi:
        return RunApiProbe(transport, launch.backend, launch.timeout, std::move(done));
      case Tier::kInference: {
        InferenceProbeOptions probe;
        {
          std::lock_guard<std::mutex> lock(mu);
          probe = options.inference_probe;
        }
        return RunInferenceProbe(transport, launch.backend, launch.model, probe, launch.timeout,
                                 std::move(done));
      }
    }
  }

  // Times out or starts `slot` as due; updates `next` with when it needs attention again.
  void Visit(Record& record, Slot& slot, Clock::TimePoint now, std::vector<Launch>* launches,
             Clock::TimePoint* next) {
    const TierOptions& tier = OptionsOf(slot.tier);
    if (!tier.enabled) return;
    if (slot.in_flight) {
      const Clock::TimePoint deadline = slot.started + tier.timeout;
      if (now < deadline) {
        *next = std::min(*next, deadline);
        return;
      }
      ++slot.seq;  // a late result is now stale
      Finish(record, slot, false, "timed out after " + std::to_string(tier.timeout.count()) + " ms",
             now - slot.started, now);
    }
    if (now < slot.next_due) {
      *next = std::min(*next, slot.next_due);
      return;
    }
    if (slot.tier == Tier::kInference && options.api.enabled && !record.models.has_value()) {
      // Wait for the first /api/tags, rather than probe a model the backend may not have.
      slot.next_due = now + std::min(options.api.timeout, tier.interval);
      *next = std::min(*next, slot.next_due);
      return;
    }
    if (slot.tier == Tier::kInference && !ModelListed(record, slot.model)) {
      // Not installed there: nothing to learn from a probe, and the router does not send the
      // model there anyway.
      slot.status.skipped = true;
      slot.next_due = now + tier.interval;
      *next = std::min(*next, slot.next_due);
      return;
    }
    slot.in_flight = true;
    slot.seq = next_seq++;
    slot.started = now;
    launches->push_back({record.name, slot.tier, slot.model, slot.seq, tier.timeout});
    *next = std::min(*next, now + tier.timeout);
  }
};

Checker::Checker(const Clock& clock, Transport& transport, Observer& observer, std::uint64_t seed)
    : core_(std::make_shared<Core>(clock, transport, observer, seed)) {}

Checker::~Checker() {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->closed = true;
  core_->wake = nullptr;
}

void Checker::SetWakeup(std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->wake = std::move(wake);
}

void Checker::Configure(const CheckerOptions& options, const std::vector<BackendSpec>& backends) {
  std::lock_guard<std::mutex> lock(core_->mu);
  Core& core = *core_;
  core.options = options;
  const Clock::TimePoint now = core.clock.Now();
  // A new slot's first check comes within its tier's jitter, not at once: hundreds of
  // backends checked in the same instant would time each other out, and a first result
  // decides the state at once.
  auto init = [&](Slot& slot, Tier tier, std::string model) {
    slot.tier = tier;
    slot.model = std::move(model);
    const std::int64_t jitter = core.OptionsOf(tier).jitter.count();
    std::uniform_int_distribution<std::int64_t> spread(0, std::max<std::int64_t>(jitter, 0));
    slot.next_due = now + std::chrono::milliseconds(spread(core.rng));
    slot.status.last_change = now;
  };
  // A slot that stops being checked says so, so whoever acted on its state (the router marks
  // a model failing on a backend) can let go of it.
  auto forget = [&](Record& record, const Slot& slot, State from, const char* why) {
    if (from == State::kUnknown) return;
    StateChange change;
    change.backend = record.name;
    change.tier = slot.tier;
    change.model = slot.model;
    change.from = from;
    change.to = State::kUnknown;
    change.reason = why;
    change.active_ok = ActiveChecksPass(record.connect.status, record.api.status);
    core.observer.OnStateChange(change);
  };
  // A disabled tier forgets what it knew (a result still in flight is dropped); enabled again,
  // it starts over as for a new backend.
  auto set_enabled = [&](Record& record, Slot& slot, bool enabled) {
    if (slot.status.enabled == enabled) return;
    const State from = slot.thresholds.state();
    if (!enabled) {
      ++slot.seq;
      slot.in_flight = false;
      slot.thresholds = Thresholds();
      slot.status = TierStatus();
    }
    init(slot, slot.tier, slot.model);
    slot.status.enabled = enabled;
    // Reported after the reset, so active_ok counts the disabled tier as passing.
    if (!enabled) forget(record, slot, from, "the tier was disabled");
  };
  std::set<std::string, std::less<>> names;
  for (const BackendSpec& spec : backends) {
    names.insert(spec.name);
    auto& record = core.records[spec.name];
    if (record == nullptr) {
      record = std::make_unique<Record>();
      record->name = spec.name;
      init(record->connect, Tier::kConnect, "");
      init(record->api, Tier::kApi, "");
    }
    set_enabled(*record, record->connect, options.connect.enabled);
    set_enabled(*record, record->api, options.api.enabled);
    std::map<std::string, Slot> inference;
    for (const std::string& model : spec.probe_models) {
      auto old = record->inference.find(model);
      if (old != record->inference.end()) {
        inference.emplace(model, std::move(old->second));
        record->inference.erase(old);
        continue;
      }
      init(inference[model], Tier::kInference, model);
    }
    for (auto& [model, slot] : record->inference) {
      forget(*record, slot, slot.thresholds.state(), "no longer probed");
    }
    record->inference = std::move(inference);
    for (auto& [model, slot] : record->inference) {
      set_enabled(*record, slot, options.inference.enabled);
    }
  }
  for (auto it = core.records.begin(); it != core.records.end();) {
    it = names.count(it->first) == 0 ? core.records.erase(it) : std::next(it);
  }
}

Clock::TimePoint Checker::RunDue() {
  std::vector<Launch> launches;
  std::vector<std::string> polls;
  std::chrono::milliseconds ps_timeout;
  Clock::TimePoint next = Clock::TimePoint::max();
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    Core& core = *core_;
    if (core.closed) return next;
    const Clock::TimePoint now = core.clock.Now();
    ps_timeout = core.options.ps_timeout;
    for (auto& [name, record] : core.records) {
      core.Visit(*record, record->connect, now, &launches, &next);
      const std::size_t before = launches.size();
      core.Visit(*record, record->api, now, &launches, &next);
      // /api/ps rides along with each tier 2 check, one poll at a time per backend.
      if (launches.size() > before && !record->ps_in_flight) {
        record->ps_in_flight = true;
        polls.push_back(name);
      }
      for (auto& [model, slot] : record->inference) {
        core.Visit(*record, slot, now, &launches, &next);
      }
    }
  }
  for (const Launch& launch : launches) core_->Start(launch);
  for (const std::string& backend : polls) {
    auto core = core_;
    RunLoadedPoll(core_->transport, backend, ps_timeout,
                  [core, backend](std::optional<std::vector<std::string>> loaded) {
                    core->OnLoaded(backend, std::move(loaded));
                  });
  }
  return next;
}

bool Checker::FirstRoundDone() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  for (const auto& [name, record] : core_->records) {
    for (const Slot* slot : {&record->connect, &record->api}) {
      if (slot->status.enabled && slot->status.checks == 0) return false;
    }
  }
  return true;
}

std::vector<BackendHealth> Checker::Snapshot() const {
  std::lock_guard<std::mutex> lock(core_->mu);
  std::vector<BackendHealth> out;
  out.reserve(core_->records.size());
  for (const auto& [name, record] : core_->records) {
    BackendHealth& h = out.emplace_back();
    h.name = name;
    h.connect = record->connect.status;
    h.api = record->api.status;
    for (const auto& [model, slot] : record->inference) h.inference.emplace(model, slot.status);
    h.version = record->version;
    h.models = record->models;
    h.loaded = record->loaded;
  }
  return out;
}

CheckerThread::CheckerThread(Checker& checker, const Clock& clock)
    : checker_(checker), clock_(clock) {
  checker_.SetWakeup([signal = signal_] { signal->Raise(false); });
  thread_ = std::thread([this] { Run(); });
}

CheckerThread::~CheckerThread() {
  checker_.SetWakeup(nullptr);
  signal_->Raise(true);
  thread_.join();
}

void CheckerThread::Signal::Raise(bool stop_too) {
  {
    std::lock_guard<std::mutex> lock(mu);
    woken = true;
    stop = stop || stop_too;
  }
  cv.notify_one();
}

void CheckerThread::Wake() { signal_->Raise(false); }

void CheckerThread::Run() {
  Signal& s = *signal_;
  std::unique_lock<std::mutex> lock(s.mu);
  while (!s.stop) {
    s.woken = false;
    lock.unlock();
    const Clock::TimePoint next = checker_.RunDue();
    lock.lock();
    if (s.stop || s.woken) continue;
    // Capped, so an empty checker (next is "never") still looks again now and then.
    const auto wait =
        std::min<Clock::TimePoint::duration>(next - clock_.Now(), std::chrono::seconds(1));
    if (wait.count() > 0) s.cv.wait_for(lock, wait, [&s] { return s.stop || s.woken; });
  }
}

}  // namespace og::health
