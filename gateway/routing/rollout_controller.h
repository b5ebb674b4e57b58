// Drives the router's rollouts (rollout.h) in time: takes their steps, runs their analysis (on
// this gateway's counters, or PromQL against the fleet's Prometheus), logs and counts what
// happens, keeps their state in the state file, and carries out operators' actions from the
// admin API.
//
// Tick() is called about once a second by the process's main loop. A PromQL analysis runs its
// queries on the upstream client; their answers conclude it on the client's loop thread. Every
// method is thread-safe.
#ifndef OLLAMA_GATEWAY_GATEWAY_ROUTING_ROLLOUT_CONTROLLER_H_
#define OLLAMA_GATEWAY_GATEWAY_ROUTING_ROLLOUT_CONTROLLER_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "gateway/routing/rollout.h"
#include "gateway/routing/router.h"
#include "gateway/telemetry/metrics.h"
#include "gateway/upstream/request.h"

namespace og {

// The wall clock, injectable next to the steady one (the state file and the admin view show
// wall times).
using WallClock = std::function<std::chrono::system_clock::time_point()>;

class RolloutController {
 public:
  // All must outlive the controller.
  RolloutController(
      Router& router, Upstream& upstream, Metrics& metrics, const Clock& clock,
      WallClock wall = [] { return std::chrono::system_clock::now(); });
  ~RolloutController();

  // Where state is kept across restarts ("" for nowhere); on a change of file, the new one is
  // read. Call once at start (after the router has its config) and after each reload.
  void UseStateFile(const std::string& path);

  // Steps, due analyses, gauges and the state file.
  void Tick();

  // GET /admin/rollouts.
  std::string Json() const;
  // POST /admin/rollouts/NAME/ACTION: the HTTP status (200, 404 unknown rollout, 409 the action
  // does not apply now) and the body (the rollout's JSON, or a reason in words).
  int Act(std::string_view name, std::string_view action, std::string* body);

 private:
  struct PromQuery;
  // Starts the analysis of `rollout` against Prometheus; concluded when its queries return.
  void QueryPrometheus(const std::shared_ptr<Rollout>& rollout);
  void Conclude(Rollout& rollout, Verdict verdict);
  void Note(Rollout& rollout, const std::string& line, bool aborted);
  void SaveState();
  void LoadState(const std::string& path);
  std::string RolloutJson(const Rollout& rollout) const;

  Router& router_;
  Upstream& upstream_;
  Metrics& metrics_;
  const Clock& clock_;
  const WallClock wall_;

  mutable std::mutex mu_;
  std::string state_file_;
  // The state file read at start or since (so a reload with the same file does not read it).
  std::optional<std::string> loaded_;
  // The versions of the rollouts as last written, by name, and why the last write failed.
  std::map<std::string, std::uint64_t> saved_;
  std::string save_error_;
  // Rollouts whose metrics were declared, by name; those with a PromQL analysis in flight (each
  // held by its query meanwhile).
  std::set<std::string> declared_;
  std::set<const Rollout*> querying_;
  // Reasons last logged for an analysis without numbers, by rollout, so each is logged once.
  std::map<std::string, std::string> unavailable_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ROUTING_ROLLOUT_CONTROLLER_H_
