// The /sim/config knobs of model management and memory (ParseModelKnob, request_json.h).
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/request_json.h"

namespace og::sim {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxSaltBytes = 256;
constexpr std::size_t kMaxListEntries = 4096;

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

std::string Show(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::optional<absl::Status> ParseModelKnob(std::string_view key, const json& value,
                                           KnobUpdate& update) {
  if (key == "memory_bytes") {
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
        (value.is_number_unsigned() &&
         value.get<std::uint64_t>() >
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      return Invalid("knob 'memory_bytes' must be a non-negative integer (0 = unlimited)");
    }
    update.memory_bytes = value.get<std::int64_t>();
    return absl::OkStatus();
  }
  if (key == "digest_salt") {
    if (!value.is_string() || value.get_ref<const std::string&>().size() > kMaxSaltBytes) {
      return Invalid(absl::StrCat("knob 'digest_salt' must be a string of at most ", kMaxSaltBytes,
                                  " bytes (\"\" = no salt)"));
    }
    update.digest_salt = value.get<std::string>();
    return absl::OkStatus();
  }
  if (key == "model_sizes") {
    if (!value.is_object() || value.size() > kMaxListEntries) {
      return Invalid("knob 'model_sizes' must be an object of model names to sizes in bytes");
    }
    std::vector<std::pair<std::string, std::uint64_t>> sizes;
    for (const auto& [name, bytes] : value.items()) {
      auto parsed = ParseModelName(name);
      if (!parsed.ok()) {
        return Invalid(absl::StrCat("knob 'model_sizes' has an invalid model name: ", name));
      }
      if (!bytes.is_number_integer() || bytes.get<std::int64_t>() < 0 ||
          bytes.get<std::uint64_t>() < kMinModelSize) {
        return Invalid(absl::StrCat("knob 'model_sizes' needs an integer of at least ",
                                    kMinModelSize, " bytes for ", name));
      }
      sizes.emplace_back(parsed->Key(), bytes.get<std::uint64_t>());
    }
    update.model_sizes = std::move(sizes);
    return absl::OkStatus();
  }
  if (key == "pull_fail") {
    if (!value.is_array() || value.size() > kMaxListEntries) {
      return Invalid("knob 'pull_fail' must be an array of model names (or \"*\")");
    }
    std::vector<std::string> names;
    for (const json& element : value) {
      if (!element.is_string() ||
          (element != "*" && !ParseModelName(element.get<std::string>()).ok())) {
        return Invalid(absl::StrCat("knob 'pull_fail' has an invalid model name: ", Show(element)));
      }
      names.push_back(element.get<std::string>());
    }
    update.pull_fail = std::move(names);
    return absl::OkStatus();
  }
  return std::nullopt;
}

}  // namespace og::sim
