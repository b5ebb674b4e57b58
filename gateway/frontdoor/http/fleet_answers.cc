#include "gateway/frontdoor/http/fleet_answers.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "gateway/config/values.h"
#include "gateway/upstream/json_reading.h"

namespace og {
namespace {

using Json = nlohmann::json;

// A model's layers are a handful (weights, template, params, license...); past this many
// digests a stream's lines pass on without the fleet's totals, so a backend cannot grow them.
constexpr std::size_t kMaxLayers = 256;

// The `models` array of a listing answer, or null.
const Json* ModelsOf(const Json& answer) {
  if (!answer.is_object()) return nullptr;
  auto it = answer.find("models");
  return it != answer.end() && it->is_array() ? &*it : nullptr;
}

std::string StringOf(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t IntegerOf(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

// Each answer parsed, with its backend; those that do not parse are left out.
std::vector<std::pair<const std::string*, Json>> Parsed(const std::vector<BackendAnswer>& answers,
                                                        int max_depth) {
  std::vector<std::pair<const std::string*, Json>> parsed;
  for (const BackendAnswer& answer : answers) {
    absl::StatusOr<Json> j = ParseJson(answer.body, max_depth, "a backend's answer");
    if (j.ok() && j->is_object()) parsed.emplace_back(&answer.backend, *std::move(j));
  }
  return parsed;
}

// Calls visit(backend, entry, name) for every named entry of every listing's `models`.
template <typename Visit>
void ForEachModel(const std::vector<BackendAnswer>& answers, int max_depth, Visit visit) {
  for (auto& [backend, answer] : Parsed(answers, max_depth)) {
    const Json* models = ModelsOf(answer);
    if (models == nullptr) continue;
    for (const Json& m : *models) {
      const std::string name = m.is_object() ? StringOf(m, "name") : std::string();
      if (!name.empty()) visit(*backend, m, name);
    }
  }
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

Json MergeTags(const std::vector<BackendAnswer>& answers, int max_depth) {
  std::map<std::string, Json> by_name;
  ForEachModel(answers, max_depth,
               [&](const std::string& backend, const Json& m, const std::string& name) {
                 auto [it, first] = by_name.emplace(name, m);
                 Json& entry = it->second;
                 if (first) entry["backends"] = Json::array();
                 entry["backends"].push_back(backend);
                 entry["digests"][backend] = StringOf(m, "digest");
               });
  Json models = Json::array();
  for (auto& [name, entry] : by_name) {
    // `digests` stays only where they differ.
    const Json& digests = entry["digests"];
    const bool mismatch = std::any_of(digests.begin(), digests.end(),
                                      [&](const Json& d) { return d != *digests.begin(); });
    if (mismatch) {
      entry["digest_mismatch"] = true;
    } else {
      entry.erase("digests");
    }
    models.push_back(std::move(entry));
  }
  return Json{{"models", std::move(models)}};
}

Json MergeLoaded(const std::vector<BackendAnswer>& answers, int max_depth) {
  std::map<std::string, Json> by_name;
  Json copies = Json::array();
  ForEachModel(answers, max_depth,
               [&](const std::string& backend, const Json& m, const std::string& name) {
                 Json copy = m;
                 copy["backend"] = backend;
                 copies.push_back(std::move(copy));
                 auto [it, first] = by_name.emplace(name, m);
                 Json& entry = it->second;
                 Json backends = first ? Json::array() : std::move(entry["backends"]);
                 backends.push_back(backend);
                 // RFC 3339 times compared as text (Ollama writes them alike): the later one is the
                 // copy that stays loaded longest, which Ollama's own answer for one server would
                 // show.
                 if (!first && StringOf(m, "expires_at") > StringOf(entry, "expires_at")) entry = m;
                 entry["backends"] = std::move(backends);
               });
  std::vector<Json> merged;
  merged.reserve(by_name.size());
  for (auto& [name, entry] : by_name) merged.push_back(std::move(entry));
  std::stable_sort(merged.begin(), merged.end(), [](const Json& a, const Json& b) {
    return StringOf(a, "expires_at") > StringOf(b, "expires_at");
  });
  return Json{{"models", std::move(merged)}, {"copies", std::move(copies)}};
}

bool VersionLess(std::string_view a, std::string_view b) {
  if (a.starts_with('v')) a.remove_prefix(1);
  if (b.starts_with('v')) b.remove_prefix(1);
  const auto release = [](std::string_view v) { return v.substr(0, v.find_first_of("-+")); };
  std::string_view ra = release(a);
  std::string_view rb = release(b);
  while (!ra.empty() || !rb.empty()) {
    const auto next = [](std::string_view* v) {
      std::uint64_t n = 0;
      std::size_t i = 0;
      while (i < v->size() && std::isdigit(static_cast<unsigned char>((*v)[i])) &&
             n < (1ull << 60)) {
        n = n * 10 + static_cast<std::uint64_t>((*v)[i] - '0');
        ++i;
      }
      const std::size_t dot = v->find('.');
      *v = dot == std::string_view::npos ? std::string_view() : v->substr(dot + 1);
      return n;
    };
    const std::uint64_t na = next(&ra);
    const std::uint64_t nb = next(&rb);
    if (na != nb) return na < nb;
  }
  // Same release: a pre-release comes before it; two pre-releases compare as text.
  const bool pre_a = a.size() > release(a).size() && a[release(a).size()] == '-';
  const bool pre_b = b.size() > release(b).size() && b[release(b).size()] == '-';
  if (pre_a != pre_b) return pre_a;
  return pre_a && a < b;
}

Json MergeVersions(const std::vector<BackendAnswer>& answers, int max_depth) {
  Json versions = Json::object();
  std::string lowest;
  for (auto& [backend, answer] : Parsed(answers, max_depth)) {
    const std::string version = StringOf(answer, "version");
    if (version.empty()) continue;
    versions[*backend] = version;
    if (lowest.empty() || VersionLess(version, lowest)) lowest = version;
  }
  return Json{{"version", lowest}, {"versions", std::move(versions)}};
}

std::string_view FleetOpName(FleetOp op) {
  switch (op) {
    case FleetOp::kPull:
      return "pull";
    case FleetOp::kPush:
      return "push";
    case FleetOp::kCreate:
      return "create";
    case FleetOp::kCopy:
      return "copy";
    case FleetOp::kDelete:
      return "delete";
    case FleetOp::kHeadBlob:
      return "head_blob";
    case FleetOp::kPostBlob:
      return "post_blob";
  }
  return "unknown";
}

bool StreamsProgress(FleetOp op) {
  return op == FleetOp::kPull || op == FleetOp::kPush || op == FleetOp::kCreate;
}

FleetMerge::FleetMerge(FleetOp op, std::vector<std::string> backends, int max_depth)
    : op_(op), max_depth_(max_depth) {
  legs_.reserve(backends.size());
  for (std::string& backend : backends) {
    Leg leg;
    leg.backend = std::move(backend);
    legs_.push_back(std::move(leg));
  }
}

std::string FleetMerge::OnLine(std::size_t leg, std::string_view line) {
  Leg& l = legs_[leg];
  absl::StatusOr<Json> parsed = ParseJson(line, max_depth_, "a backend's progress");
  if (!parsed.ok() || !parsed->is_object()) return {};
  Json& j = *parsed;
  if (auto error = j.find("error"); error != j.end()) {
    if (l.error.empty()) l.error = error->is_string() ? error->get<std::string>() : Dump(*error);
    return {};
  }
  const std::string status = StringOf(j, "status");
  if (status == "success") return {};
  j["backend"] = l.backend;
  const std::string digest = StringOf(j, "digest");
  if (!digest.empty() && j.contains("total") &&
      (layers_.count(digest) != 0 || layers_.size() < kMaxLayers)) {
    Layer& layer = layers_[digest];
    layer.by_leg[leg] = {IntegerOf(j, "total"), IntegerOf(j, "completed")};
    std::int64_t total = 0;
    std::int64_t completed = 0;
    for (const auto& [_, progress] : layer.by_leg) {
      total += progress.first;
      completed += progress.second;
    }
    j["total"] = total;
    j["completed"] = completed;
  }
  return Dump(j);
}

void FleetMerge::OnEnd(std::size_t leg, int http_status, std::string_view error) {
  Leg& l = legs_[leg];
  l.ended = true;
  l.http_status = http_status;
  const bool http_ok = http_status >= 200 && http_status < 300;
  if ((op_ == FleetOp::kDelete || op_ == FleetOp::kCopy || op_ == FleetOp::kHeadBlob) &&
      http_status == 404) {
    l.absent = true;
  }
  if (l.error.empty() && (!http_ok || !error.empty())) {
    l.error = !error.empty() ? std::string(error) : fmt::format("HTTP {}", http_status);
  }
}

bool FleetMerge::LegOk(std::size_t leg) const {
  const Leg& l = legs_[leg];
  return l.ended && (l.error.empty() || l.absent);
}

bool FleetMerge::ok() const {
  bool any_present = false;
  for (std::size_t i = 0; i < legs_.size(); ++i) {
    if (!LegOk(i)) return false;
    any_present = any_present || !legs_[i].absent;
  }
  return any_present;
}

int FleetMerge::http_status() const {
  if (ok()) {
    for (const Leg& l : legs_) {
      if (!l.absent) return l.http_status;
    }
  }
  // Every backend failed the same way (an invalid name, a model no backend has): the caller
  // gets that status, as from one Ollama. Mixed failures are the gateway's to report.
  int common = 0;
  bool any_ok = false;
  for (std::size_t i = 0; i < legs_.size(); ++i) {
    const Leg& l = legs_[i];
    if (LegOk(i) && !l.absent) any_ok = true;
    if (l.error.empty() && !l.absent) continue;
    const int status = l.http_status >= 400 ? l.http_status : 502;
    if (common == 0) common = status;
    if (common != status) common = 502;
  }
  if (any_ok || common == 0) return 502;
  return common;
}

std::string FleetMerge::FailureSummary() const {
  std::vector<std::string> failed;
  std::vector<std::string> succeeded;
  bool all_absent = true;
  for (std::size_t i = 0; i < legs_.size(); ++i) {
    const Leg& l = legs_[i];
    if (!l.absent) all_absent = false;
    if (LegOk(i) && !l.absent) {
      succeeded.push_back(fmt::format("'{}'", l.backend));
    } else if (!l.error.empty() || !l.ended) {
      failed.push_back(fmt::format("backend '{}': {}", l.backend,
                                   l.ended ? l.error : std::string("did not answer")));
    }
  }
  if (all_absent && !legs_.empty()) {
    // Ollama's own words, from the first backend.
    return legs_.front().error;
  }
  std::string summary = fmt::format("{} failed on {} of {} backends: {}", FleetOpName(op_),
                                    failed.size(), legs_.size(), absl::StrJoin(failed, "; "));
  if (!succeeded.empty()) {
    summary += fmt::format(" (it succeeded on {})", absl::StrJoin(succeeded, ", "));
  }
  return summary;
}

std::string FleetMerge::FinalLine() const {
  if (!ok()) return Dump(Json{{"error", FailureSummary()}});
  if (!StreamsProgress(op_)) return {};
  Json backends = Json::array();
  for (const Leg& l : legs_) backends.push_back(l.backend);
  return Dump(Json{{"status", "success"}, {"backends", std::move(backends)}});
}

void AddRolloutEntries(const std::vector<RolloutListing>& rollouts, nlohmann::json* tags) {
  if (!tags->is_object() || !tags->contains("models") || !(*tags)["models"].is_array()) return;
  nlohmann::json& models = (*tags)["models"];
  auto find = [&models](const std::string& name) -> const nlohmann::json* {
    const std::string canonical = CanonicalModelName(name);
    for (const nlohmann::json& entry : models) {
      if (entry.is_object() && entry.contains("name") && entry["name"].is_string() &&
          CanonicalModelName(entry["name"].get<std::string>()) == canonical) {
        return &entry;
      }
    }
    return nullptr;
  };
  for (const RolloutListing& r : rollouts) {
    if (find(r.name) != nullptr) continue;
    const nlohmann::json* baseline = find(r.baseline);
    if (baseline == nullptr) continue;
    // Spelled as Ollama lists every model: with its tag.
    nlohmann::json entry = *baseline;
    entry["name"] = CanonicalModelName(r.name);
    entry["model"] = CanonicalModelName(r.name);
    entry["rollout"] = {{"baseline", r.baseline}, {"candidate", r.candidate}};
    models.push_back(std::move(entry));
  }
}

}  // namespace og
