#include "gateway/call/admission_queue.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/telemetry/metrics.h"

namespace og {

AdmissionQueue::AdmissionQueue(const Clock& clock, AdmissionLimits limits, Metrics* metrics)
    : clock_(clock), limits_(limits), metrics_(metrics) {}

AdmissionQueue::~AdmissionQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void AdmissionQueue::Start() {
  timer_ = std::thread([this] { TimerLoop(); });
}

std::string AdmissionQueue::FullMessage(const std::string& model, std::size_t max_queue) {
  return absl::StrCat("every backend for model '", model,
                      "' is at its max_in_flight and the gateway queue is full (max_queue ",
                      max_queue, " calls waiting); retry later");
}

AdmissionQueue::EnqueueResult AdmissionQueue::Enqueue(AdmissionWaiter* waiter,
                                                      const std::string& model,
                                                      Clock::TimePoint deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiter->Abandoned()) return EnqueueResult::kAbandoned;
    // A slot may have been freed since the caller's choice failed, before we held mu_; Wake()
    // ran then with nothing to offer it to.
    if (waiter->TryAdmit()) return EnqueueResult::kAdmitted;
    if (entries_.size() >= limits_.max_queue) {
      if (metrics_ != nullptr) metrics_->RecordQueueRejected("full");
      return EnqueueResult::kFull;
    }
    const Clock::TimePoint now = clock_.Now();
    const Clock::TimePoint wait_end = now + limits_.max_queue_wait;
    const bool caller_deadline = deadline < wait_end;
    const bool earliest = std::all_of(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return e.expiry > std::min(wait_end, deadline);
    });
    entries_.push_back(Entry{waiter, model, now, std::min(wait_end, deadline), caller_deadline});
    if (metrics_ != nullptr) metrics_->SetQueueDepth(entries_.size());
    if (earliest) cv_.notify_all();
  }
  return EnqueueResult::kQueued;
}

void AdmissionQueue::EraseLocked(std::list<Entry>::iterator it, const char* rejected_reason) {
  if (metrics_ != nullptr) {
    metrics_->RecordQueueWait(clock_.Now() - it->enqueued);
    if (rejected_reason != nullptr) metrics_->RecordQueueRejected(rejected_reason);
  }
  entries_.erase(it);
  if (metrics_ != nullptr) metrics_->SetQueueDepth(entries_.size());
}

void AdmissionQueue::Wake() {
  std::vector<AdmissionWaiter*> admitted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      auto next = std::next(it);
      if (it->waiter->TryAdmit()) {
        admitted.push_back(it->waiter);
        EraseLocked(it, nullptr);
      }
      it = next;
    }
  }
  for (AdmissionWaiter* waiter : admitted) waiter->OnQueueExit(absl::OkStatus());
}

bool AdmissionQueue::Remove(AdmissionWaiter* waiter, const absl::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.waiter == waiter; });
    if (it == entries_.end()) return false;
    EraseLocked(it, nullptr);
  }
  waiter->OnQueueExit(status);
  return true;
}

void AdmissionQueue::ExpireDue() {
  std::vector<Exit> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const Clock::TimePoint now = clock_.Now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      auto next = std::next(it);
      if (it->expiry <= now) {
        if (it->caller_deadline) {
          expired.push_back({it->waiter, absl::DeadlineExceededError(absl::StrCat(
                                             "deadline exceeded while waiting in the gateway "
                                             "queue for a backend slot for model '",
                                             it->model, "'"))});
          EraseLocked(it, nullptr);
        } else {
          expired.push_back(
              {it->waiter, absl::ResourceExhaustedError(absl::StrCat(
                               "no backend slot for model '", it->model,
                               "' freed within max_queue_wait (", limits_.max_queue_wait.count(),
                               " ms); every backend is at its "
                               "max_in_flight"))});
          EraseLocked(it, "timeout");
        }
      }
      it = next;
    }
  }
  for (Exit& exit : expired) exit.waiter->OnQueueExit(exit.status);
}

std::size_t AdmissionQueue::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

void AdmissionQueue::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    // Real time only (Start() is for the system clock): wake at the earliest expiry, and at
    // least once a second.
    auto wait = std::chrono::steady_clock::duration(std::chrono::seconds(1));
    const Clock::TimePoint now = clock_.Now();
    for (const Entry& e : entries_) wait = std::min(wait, e.expiry - now);
    if (wait > wait.zero()) {
      cv_.wait_for(lock, wait);
      continue;
    }
    lock.unlock();
    ExpireDue();
    lock.lock();
  }
}

}  // namespace og
