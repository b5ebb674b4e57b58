// The gateway's admission queue: calls whose every candidate backend is at its max_in_flight
// wait here, first come first served, until an attempt elsewhere completes and frees a slot.
//
// One queue serves every model. It is bounded (max_queue) and every waiter has an expiry
// (max_queue_wait, or the caller's deadline when that comes first). A waiter leaves the queue
// exactly once: admitted, expired, cancelled or turned away; whoever removes it from the list
// under the queue's mutex reports the outcome, outside the mutex.
//
// Expiry is checked by ExpireDue(); Start() runs one small timer thread that calls it, so no
// gRPC or upstream loop thread ever waits. Unit tests skip Start() and drive a FakeClock.
#ifndef OLLAMA_GATEWAY_GATEWAY_CALL_ADMISSION_QUEUE_H_
#define OLLAMA_GATEWAY_GATEWAY_CALL_ADMISSION_QUEUE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "common/clock.h"

namespace og {

class Metrics;

// A call waiting for a backend slot.
class AdmissionWaiter {
 public:
  virtual ~AdmissionWaiter() = default;
  // Tries to reserve a backend slot for the call; true when it got one. Runs under the queue's
  // mutex, so it must be quick and must not call back into the queue.
  virtual bool TryAdmit() = 0;
  // True when the call no longer wants a slot (cancelled). Checked under the queue's mutex
  // before the waiter is queued, so a cancel that raced with queueing is not lost: the canceller
  // sets its flag first, then calls Remove().
  virtual bool Abandoned() = 0;
  // Called exactly once per Enqueue that returned kQueued, outside the queue's mutex: OK when
  // TryAdmit succeeded (the slot is the caller's), else why the call left the queue.
  virtual void OnQueueExit(const absl::Status& status) = 0;
};

struct AdmissionLimits {
  std::size_t max_queue = 1000;
  std::chrono::milliseconds max_queue_wait{30000};
};

class AdmissionQueue {
 public:
  enum class EnqueueResult {
    kAdmitted,   // TryAdmit succeeded at once; OnQueueExit will not be called
    kQueued,     // waiting; OnQueueExit will be called exactly once
    kFull,       // max_queue calls already wait; OnQueueExit will not be called
    kAbandoned,  // Abandoned() was true; OnQueueExit will not be called
  };

  // `metrics` may be null.
  AdmissionQueue(const Clock& clock, AdmissionLimits limits, Metrics* metrics);
  ~AdmissionQueue();
  AdmissionQueue(const AdmissionQueue&) = delete;
  AdmissionQueue& operator=(const AdmissionQueue&) = delete;

  // Starts the timer thread (real time). Call at most once.
  void Start();

  // Queues `waiter` unless the queue is full. After queueing, it tries TryAdmit once, so a slot
  // freed between the caller's failed choice and this call is not missed. `deadline` is the
  // caller's own deadline (Clock time); TimePoint::max() for none. `model` names the call in
  // the rejection message.
  EnqueueResult Enqueue(AdmissionWaiter* waiter, const std::string& model,
                        Clock::TimePoint deadline);

  // A slot was freed: offers it to waiters in FIFO order; every waiter whose TryAdmit succeeds
  // leaves the queue admitted.
  void Wake();

  // Removes `waiter` if it still waits and reports `status` to it (a cancelled call). Returns
  // false when it had already left.
  bool Remove(AdmissionWaiter* waiter, const absl::Status& status);

  // Ends every waiter whose expiry passed (Clock time). The timer thread calls it; tests too.
  void ExpireDue();

  std::size_t depth() const;
  const AdmissionLimits& limits() const { return limits_; }
  const Clock& clock() const { return clock_; }

  // The message of a call turned away because the queue is full.
  static std::string FullMessage(const std::string& model, std::size_t max_queue);

 private:
  struct Entry {
    AdmissionWaiter* waiter;
    std::string model;
    Clock::TimePoint enqueued;
    Clock::TimePoint expiry;
    bool caller_deadline;  // expiry is the caller's deadline, not max_queue_wait
  };
  struct Exit {
    AdmissionWaiter* waiter;
    absl::Status status;
  };

  // Under mu_: records the wait and removes `it`.
  void EraseLocked(std::list<Entry>::iterator it, const char* rejected_reason);
  void TimerLoop();

  const Clock& clock_;
  const AdmissionLimits limits_;
  Metrics* const metrics_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // the timer thread: a new earliest expiry, or stop
  std::list<Entry> entries_;
  bool stop_ = false;
  std::thread timer_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CALL_ADMISSION_QUEUE_H_
