#include "tools/ollama-sim/scheduler.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <limits>

namespace og::sim {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

struct Scheduler::Claim {
  enum class Stage { kWaitingLoad, kWaitingSlot, kRunning, kAssigned, kDone };
  ModelState* model = nullptr;
  Stage stage = Stage::kWaitingLoad;
  bool wants_slot = false;
  net::any_io_executor executor;
  std::function<void()> on_loaded;
  std::function<void()> on_slot;
};

struct Scheduler::ModelState {
  enum class Status { kUnloaded, kQueued, kLoading, kLoaded };
  ModelState(net::io_context& io_context, const ModelInfo& model_info,
             std::chrono::nanoseconds keep)
      : info(model_info), keep_alive(keep), load_timer(io_context), expiry_timer(io_context) {}

  const ModelInfo info;  // a copy: the catalog it came from may be replaced at run time
  Status status = Status::kUnloaded;
  std::chrono::nanoseconds keep_alive;
  // Waiting for the load; claims that left stay until the load ends but are not counted.
  std::deque<std::shared_ptr<Claim>> load_waiters;
  int live_load_waiters = 0;
  Claim* load_owner = nullptr;  // the claim whose arrival started the running load
  std::uint64_t load_seq = 0;   // invalidates the completion of an aborted load
  net::steady_timer load_timer;
  std::deque<std::shared_ptr<Claim>> slot_waiters;  // FIFO; claims that left are skipped
  int active = 0;                                   // slots in use
  int in_flight = 0;                                // assigned claims not yet released
  std::uint64_t expiry_seq = 0;
  net::steady_timer expiry_timer;
  bool forever = false;
  std::chrono::system_clock::time_point expires_at;
};

namespace {

// Callbacks are destroyed outside the lock: they may hold the last reference to a request.
struct Garbage {
  std::vector<std::function<void()>> callbacks;
  std::vector<std::shared_ptr<Scheduler::Claim>> claims;
};

}  // namespace

Scheduler::Scheduler(net::io_context& io_context, Options options,
                     std::function<std::chrono::milliseconds()> load_delay)
    : io_context_(io_context), options_(options), load_delay_(std::move(load_delay)) {}

Scheduler::~Scheduler() = default;

Scheduler::ModelState& Scheduler::StateOf(const ModelInfo& model) {
  for (const auto& m : models_) {
    if (m->info.key == model.key) return *m;
  }
  // States are never destroyed, so pointers to them (claims, the load queue) stay valid.
  models_.push_back(std::make_unique<ModelState>(io_context_, model, options_.default_keep_alive));
  return *models_.back();
}

std::shared_ptr<Scheduler::Claim> Scheduler::Acquire(
    const ModelInfo& model, std::optional<std::chrono::nanoseconds> keep_alive, bool wants_slot,
    net::any_io_executor executor, std::function<void()> on_loaded, std::function<void()> on_slot) {
  auto claim = std::make_shared<Claim>();
  claim->wants_slot = wants_slot;
  claim->executor = std::move(executor);
  claim->on_loaded = std::move(on_loaded);
  claim->on_slot = std::move(on_slot);

  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return nullptr;
  ModelState& m = StateOf(model);
  claim->model = &m;
  if (keep_alive) m.keep_alive = *keep_alive;
  if (m.status == ModelState::Status::kLoaded) {
    Assign(m, claim);
    GrantSlots(m);
    return claim;
  }
  // Only requests that need a load go through the bounded pending queue.
  if (pending_ >= options_.max_queue) return nullptr;
  ++pending_;
  ++m.live_load_waiters;
  claim->stage = Claim::Stage::kWaitingLoad;
  m.load_waiters.push_back(claim);
  EnqueueLoad(m);
  return claim;
}

void Scheduler::EnqueueLoad(ModelState& m) {
  if (m.status != ModelState::Status::kUnloaded) return;
  m.status = ModelState::Status::kQueued;
  load_queue_.push_back(&m);
  StartNextLoad();
}

void Scheduler::StartNextLoad() {
  while (loading_ == nullptr && !load_queue_.empty() && !shutdown_) {
    ModelState& m = *load_queue_.front();
    load_queue_.pop_front();
    if (m.live_load_waiters == 0) {
      m.status = ModelState::Status::kUnloaded;
      m.load_waiters.clear();
      continue;
    }
    m.status = ModelState::Status::kLoading;
    loading_ = &m;
    m.load_owner = nullptr;
    for (const auto& waiter : m.load_waiters) {
      if (waiter->stage == Claim::Stage::kWaitingLoad) {
        m.load_owner = waiter.get();
        break;
      }
    }
    const std::uint64_t seq = ++m.load_seq;
    m.load_timer.expires_after(load_delay_());
    m.load_timer.async_wait([this, &m, seq](const boost::system::error_code& ec) {
      if (!ec) OnLoadDone(m, seq);
    });
  }
}

void Scheduler::OnLoadDone(ModelState& m, std::uint64_t load_seq) {
  std::deque<std::shared_ptr<Claim>> waiters;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ || m.load_seq != load_seq || m.status != ModelState::Status::kLoading) return;
    m.status = ModelState::Status::kLoaded;
    m.load_owner = nullptr;
    loading_ = nullptr;
    ++loads_;
    waiters.swap(m.load_waiters);
    for (const auto& claim : waiters) {
      if (claim->stage != Claim::Stage::kWaitingLoad) continue;
      --pending_;
      --m.live_load_waiters;
      Assign(m, claim);
    }
    GrantSlots(m);
    MaybeIdle(m);
    StartNextLoad();
  }
}

void Scheduler::Assign(ModelState& m, const std::shared_ptr<Claim>& claim) {
  ++m.in_flight;
  ++m.expiry_seq;  // an idle timer that fires now must not unload a model in use
  m.expiry_timer.cancel();
  if (claim->on_loaded) net::post(claim->executor, std::move(claim->on_loaded));
  claim->on_loaded = nullptr;
  if (claim->wants_slot) {
    claim->stage = Claim::Stage::kWaitingSlot;
    m.slot_waiters.push_back(claim);
  } else {
    claim->stage = Claim::Stage::kAssigned;
  }
}

void Scheduler::GrantSlots(ModelState& m) {
  while (!m.slot_waiters.empty() && (options_.parallel == 0 || m.active < options_.parallel)) {
    std::shared_ptr<Claim> claim = std::move(m.slot_waiters.front());
    m.slot_waiters.pop_front();
    if (claim->stage != Claim::Stage::kWaitingSlot) continue;
    claim->stage = Claim::Stage::kRunning;
    ++m.active;
    if (claim->on_slot) net::post(claim->executor, std::move(claim->on_slot));
    claim->on_slot = nullptr;
  }
}

void Scheduler::Release(const std::shared_ptr<Claim>& claim) {
  if (!claim) return;
  Garbage garbage;
  std::lock_guard<std::mutex> lock(mu_);
  garbage.callbacks.push_back(std::move(claim->on_loaded));
  garbage.callbacks.push_back(std::move(claim->on_slot));
  claim->on_loaded = nullptr;
  claim->on_slot = nullptr;
  const Claim::Stage stage = claim->stage;
  claim->stage = Claim::Stage::kDone;
  if (claim->model == nullptr || shutdown_) return;
  ModelState& m = *claim->model;
  switch (stage) {
    case Claim::Stage::kWaitingLoad: {
      --pending_;
      --m.live_load_waiters;
      if (m.load_owner != claim.get()) break;
      // The request that started the load left: Ollama aborts the load, and whoever still waits
      // starts a new one.
      m.load_owner = nullptr;
      ++m.load_seq;
      m.load_timer.cancel();
      loading_ = nullptr;
      if (m.live_load_waiters > 0) {
        m.status = ModelState::Status::kQueued;
        load_queue_.push_front(&m);
      } else {
        m.status = ModelState::Status::kUnloaded;
        for (auto& waiter : m.load_waiters) garbage.claims.push_back(std::move(waiter));
        m.load_waiters.clear();
      }
      StartNextLoad();
      break;
    }
    case Claim::Stage::kWaitingSlot:
      --m.in_flight;
      MaybeIdle(m);
      break;
    case Claim::Stage::kRunning:
      --m.active;
      --m.in_flight;
      GrantSlots(m);
      MaybeIdle(m);
      break;
    case Claim::Stage::kAssigned:
      --m.in_flight;
      MaybeIdle(m);
      break;
    case Claim::Stage::kDone:
      break;
  }
}

void Scheduler::Unload(const ModelInfo& model) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return;
  ModelState& m = StateOf(model);
  m.keep_alive = std::chrono::nanoseconds(0);
  MaybeIdle(m);
}

void Scheduler::MaybeIdle(ModelState& m) {
  if (m.status != ModelState::Status::kLoaded || m.in_flight > 0) return;
  if (m.keep_alive == std::chrono::nanoseconds(0)) {
    UnloadNow(m);
    return;
  }
  const std::uint64_t seq = ++m.expiry_seq;
  if (m.keep_alive < std::chrono::nanoseconds(0)) {
    m.forever = true;
    m.expiry_timer.cancel();
    return;
  }
  m.forever = false;
  m.expires_at = std::chrono::system_clock::now() +
                 std::chrono::duration_cast<std::chrono::system_clock::duration>(m.keep_alive);
  m.expiry_timer.expires_after(m.keep_alive);
  m.expiry_timer.async_wait([this, &m, seq](const boost::system::error_code& ec) {
    if (ec) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_ || seq != m.expiry_seq || m.in_flight > 0) return;
    UnloadNow(m);
  });
}

void Scheduler::UnloadNow(ModelState& m) {
  if (m.status != ModelState::Status::kLoaded) return;
  m.status = ModelState::Status::kUnloaded;
  ++m.expiry_seq;
  m.expiry_timer.cancel();
  ++unloads_;
  // Unless a request says otherwise, the next load gets the server's default again.
  m.keep_alive = options_.default_keep_alive;
}

bool Scheduler::IsLoaded(const ModelInfo& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& m : models_) {
    if (m->info.key == model.key) {
      return m->status == ModelState::Status::kLoaded || m->status == ModelState::Status::kLoading;
    }
  }
  return false;
}

std::vector<Scheduler::LoadedModel> Scheduler::Loaded() const {
  std::vector<LoadedModel> loaded;
  const auto now = std::chrono::system_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& m : models_) {
    if (m->status != ModelState::Status::kLoaded) continue;
    std::chrono::system_clock::time_point expires = m->expires_at;
    bool forever = m->forever && m->in_flight == 0;
    if (m->in_flight > 0) {
      // In use: the keep-alive clock starts when it goes idle.
      if (m->keep_alive < std::chrono::nanoseconds(0)) {
        forever = true;
      } else {
        expires =
            now + std::chrono::duration_cast<std::chrono::system_clock::duration>(m->keep_alive);
      }
    }
    LoadedModel entry{&m->info, 0, 0};
    if (forever) {
      // Like Go's time.Now().Add(math.MaxInt64): about the year 2318.
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
      entry.expires_at_seconds = seconds + std::numeric_limits<std::int64_t>::max() / 1'000'000'000;
    } else {
      const auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(expires.time_since_epoch()).count();
      entry.expires_at_seconds = ns / 1'000'000'000;
      entry.expires_at_nanos = ns % 1'000'000'000;
    }
    loaded.push_back(entry);
  }
  std::sort(loaded.begin(), loaded.end(), [](const LoadedModel& a, const LoadedModel& b) {
    return std::tie(a.expires_at_seconds, a.expires_at_nanos) >
           std::tie(b.expires_at_seconds, b.expires_at_nanos);
  });
  return loaded;
}

std::uint64_t Scheduler::loads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loads_;
}

std::uint64_t Scheduler::unloads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unloads_;
}

void Scheduler::Shutdown() {
  Garbage garbage;
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  load_queue_.clear();
  loading_ = nullptr;
  for (const auto& m : models_) {
    m->load_timer.cancel();
    m->expiry_timer.cancel();
    for (auto& claim : m->load_waiters) garbage.claims.push_back(std::move(claim));
    for (auto& claim : m->slot_waiters) garbage.claims.push_back(std::move(claim));
    m->load_waiters.clear();
    m->slot_waiters.clear();
  }
  for (const auto& claim : garbage.claims) {
    garbage.callbacks.push_back(std::move(claim->on_loaded));
    garbage.callbacks.push_back(std::move(claim->on_slot));
    claim->on_loaded = nullptr;
    claim->on_slot = nullptr;
  }
}

}  // namespace og::sim
