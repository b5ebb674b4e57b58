// Fakes shared by the health tests: a Transport that records each request and lets the test
// answer it later (in any order), and an Observer that records what it hears.
#ifndef OLLAMA_GATEWAY_TESTS_FAKES_HEALTH_FAKES_H_
#define OLLAMA_GATEWAY_TESTS_FAKES_HEALTH_FAKES_H_

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "health/checker.h"
#include "health/probes.h"

namespace og::health::testing {

inline ProbeResponse Connected() {
  ProbeResponse r;
  r.completed = true;
  return r;
}

inline ProbeResponse Http(long status, std::string body) {
  ProbeResponse r;
  r.completed = true;
  r.status = status;
  r.body = std::move(body);
  return r;
}

inline ProbeResponse Broken(std::string error) {
  ProbeResponse r;
  r.completed = false;
  r.error = std::move(error);
  return r;
}

// Records every request; the test answers them when it likes. Single-threaded use only.
class FakeTransport final : public Transport {
 public:
  struct Sent {
    std::string backend;
    ProbeRequest request;
    Done done;
    bool answered = false;
  };

  void Send(const std::string& backend, ProbeRequest request, Done done) override {
    sent_.push_back({backend, std::move(request), std::move(done), false});
  }

  std::size_t size() const { return sent_.size(); }
  const Sent& at(std::size_t i) const { return sent_.at(i); }

  // Answers request `i` (a probe may Send again from inside the callback).
  void Answer(std::size_t i, ProbeResponse response) {
    Sent& sent = sent_.at(i);
    if (sent.answered) throw std::logic_error("request answered twice");
    sent.answered = true;
    Done done = std::move(sent.done);
    done(std::move(response));
  }

  // Requests to `backend` with this method and path ("" for kConnect).
  std::size_t Count(const std::string& backend, ProbeRequest::Method method,
                    const std::string& path = "") const {
    std::size_t n = 0;
    for (const Sent& s : sent_) n += Matches(s, backend, method, path) ? 1 : 0;
    return n;
  }

  // The oldest unanswered request matching, if any.
  std::optional<std::size_t> Pending(const std::string& backend, ProbeRequest::Method method,
                                     const std::string& path = "") const {
    for (std::size_t i = 0; i < sent_.size(); ++i) {
      if (!sent_[i].answered && Matches(sent_[i], backend, method, path)) return i;
    }
    return std::nullopt;
  }

  // Answers the oldest unanswered matching request; false when there is none.
  bool AnswerPending(const std::string& backend, ProbeRequest::Method method,
                     const std::string& path, ProbeResponse response) {
    auto i = Pending(backend, method, path);
    if (!i) return false;
    Answer(*i, std::move(response));
    return true;
  }

  // Answers every unanswered request (including those sent while answering) with `response`.
  void AnswerAll(const ProbeResponse& response) {
    for (std::size_t i = 0; i < sent_.size(); ++i) {
      if (!sent_[i].answered) Answer(i, response);
    }
  }

 private:
  static bool Matches(const Sent& s, const std::string& backend, ProbeRequest::Method method,
                      const std::string& path) {
    return s.backend == backend && s.request.method == method && s.request.path == path;
  }

  std::deque<Sent> sent_;
};

// Records every call. Single-threaded use only.
class RecordingObserver final : public Observer {
 public:
  struct CheckCall {
    std::string backend;
    Tier tier;
    bool ok;
  };

  void OnCheck(const std::string& backend, Tier tier, bool ok,
               std::chrono::nanoseconds /*latency*/) override {
    checks.push_back({backend, tier, ok});
  }
  void OnStateChange(const StateChange& change) override { changes.push_back(change); }
  void OnModels(const std::string& backend, const std::vector<std::string>& list) override {
    models.emplace_back(backend, list);
  }
  void OnLoaded(const std::string& backend, const std::vector<std::string>& list) override {
    loaded.emplace_back(backend, list);
  }

  std::size_t CheckCount(const std::string& backend, Tier tier) const {
    std::size_t n = 0;
    for (const CheckCall& c : checks) n += (c.backend == backend && c.tier == tier) ? 1 : 0;
    return n;
  }
  std::vector<StateChange> ChangesOf(const std::string& backend, Tier tier) const {
    std::vector<StateChange> out;
    for (const StateChange& c : changes) {
      if (c.backend == backend && c.tier == tier) out.push_back(c);
    }
    return out;
  }
  std::size_t Calls() const {
    return checks.size() + changes.size() + models.size() + loaded.size();
  }

  std::vector<CheckCall> checks;
  std::vector<StateChange> changes;
  std::vector<std::pair<std::string, std::vector<std::string>>> models;
  std::vector<std::pair<std::string, std::vector<std::string>>> loaded;
};

inline void AdvanceTo(FakeClock& clock, Clock::TimePoint when) {
  const Clock::TimePoint now = clock.Now();
  if (when > now) clock.Advance(when - now);
}

}  // namespace og::health::testing

#endif  // OLLAMA_GATEWAY_TESTS_FAKES_HEALTH_FAKES_H_
