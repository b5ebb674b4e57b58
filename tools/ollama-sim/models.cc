#include "tools/ollama-sim/models.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/text.h"

namespace og::sim {
namespace {

constexpr std::string_view kDefaultHost = "registry.ollama.ai";
constexpr std::string_view kDefaultNamespace = "library";
constexpr std::string_view kDefaultTag = "latest";

// "7b" -> 7e9, "1.5B" -> 1.5e9, "22m" -> 22e6; 0 if `tag` is not a size.
double ParameterCountFromTag(std::string_view tag) {
  if (tag.size() < 2) return 0;
  const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(tag.back())));
  double scale = unit == 'b' ? 1e9 : unit == 'm' ? 1e6 : 0;
  if (scale == 0) return 0;
  const std::string number(tag.substr(0, tag.size() - 1));
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || value <= 0) return 0;
  return value * scale;
}

std::string FormatParameterSize(double count) {
  char buf[32];
  if (count >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.1fB", count / 1e9);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0fM", count / 1e6);
  }
  return buf;
}

// Sizes of the three small layers of every simulated manifest (template, params, config).
constexpr std::uint64_t kTemplateLayerSize = 485;
constexpr std::uint64_t kParamsLayerSize = 96;
constexpr std::uint64_t kConfigLayerSize = 487;

bool IsValidPart(std::string_view part, bool host, bool name_space) {
  const std::size_t max = host ? 350 : 80;
  if (part.empty() || part.size() > max) return false;
  const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(part[0])) return false;
  for (char c : part.substr(1)) {
    if (word(c) || c == '-') continue;
    if (c == '.' && !name_space) continue;
    if (c == ':' && host) continue;
    return false;
  }
  return true;
}

}  // namespace

// A sha256-looking digest: FNV-1a of the seed, spread by SplitMix64 steps.
std::string HexDigest(std::string_view seed) {
  std::uint64_t state = Fnv1a64(seed);
  std::string digest;
  for (int part = 0; part < 4; ++part) {
    state += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(z));
    digest += buf;
  }
  return digest;
}

std::string HumanBytes2(std::uint64_t bytes) {
  constexpr double kKiB = 1024.0;
  char buf[48];
  const auto value = static_cast<double>(bytes);
  if (value >= kKiB * kKiB * kKiB) {
    std::snprintf(buf, sizeof(buf), "%.1f GiB", value / (kKiB * kKiB * kKiB));
  } else if (value >= kKiB * kKiB) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", value / (kKiB * kKiB));
  } else if (value >= kKiB) {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", value / kKiB);
  } else {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

bool IsValidStoredName(const ModelName& name) {
  return IsValidPart(name.host, true, false) && IsValidPart(name.name_space, false, true) &&
         IsValidPart(name.model, false, false) && IsValidPart(name.tag, false, false);
}

std::string ModelName::Key() const {
  return absl::AsciiStrToLower(absl::StrCat(host, "/", name_space, "/", model, ":", tag));
}

std::string ModelName::Display() const {
  std::string out;
  if (host != kDefaultHost) absl::StrAppend(&out, host, "/");
  if (host != kDefaultHost || name_space != kDefaultNamespace) {
    absl::StrAppend(&out, name_space, "/");
  }
  absl::StrAppend(&out, model, ":", tag);
  return out;
}

std::string ModelName::Full() const {
  return absl::StrCat(host, "/", name_space, "/", model, ":", tag);
}

absl::StatusOr<ModelName> ParseModelName(std::string_view name) {
  ModelName parsed;
  std::string_view rest = name;
  const std::size_t colon = rest.rfind(':');
  const std::size_t slash = rest.rfind('/');
  parsed.tag = std::string(kDefaultTag);
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    parsed.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (parsed.tag.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid model name '", std::string(name), "'"));
    }
  }
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t next = rest.find('/', start);
    parts.push_back(rest.substr(start, next == std::string_view::npos ? next : next - start));
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  if (parts.size() > 3 || parts.back().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid model name '", std::string(name), "'"));
  }
  parsed.model = std::string(parts.back());
  parsed.name_space =
      parts.size() >= 2 ? std::string(parts[parts.size() - 2]) : std::string(kDefaultNamespace);
  parsed.host = parts.size() == 3 ? std::string(parts[0]) : std::string(kDefaultHost);
  if (parsed.name_space.empty() || parsed.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid model name '", std::string(name), "'"));
  }
  return parsed;
}

void Derive(ModelInfo& model, const Derivation& derivation) {
  model.size_bytes = model.natural_size;
  for (const auto& [key, bytes] : derivation.sizes) {
    if (key == model.key) model.size_bytes = bytes;
  }
  const std::string seed =
      derivation.salt.empty() ? model.seed : absl::StrCat(model.seed, "\n", derivation.salt);
  model.digest = HexDigest(seed);
  const std::uint64_t small = kTemplateLayerSize + kParamsLayerSize + kConfigLayerSize;
  const std::uint64_t weights = model.size_bytes > small ? model.size_bytes - small : 1;
  model.layers = {
      {absl::StrCat("sha256:", HexDigest(absl::StrCat("model\n", seed))), weights},
      {absl::StrCat("sha256:", HexDigest(absl::StrCat("template\n", seed))), kTemplateLayerSize},
      {absl::StrCat("sha256:", HexDigest(absl::StrCat("params\n", seed))), kParamsLayerSize},
      {absl::StrCat("sha256:", HexDigest(absl::StrCat("config\n", seed))), kConfigLayerSize}};
}

ModelInfo DescribeModel(const ModelName& name, const Derivation& derivation) {
  ModelInfo info;
  info.name = name;
  info.key = name.Key();
  info.display = name.Display();
  const std::string lower_model = absl::AsciiStrToLower(name.model);
  info.embedding_only = lower_model.find("embed") != std::string::npos ||
                        lower_model.find("minilm") != std::string::npos;
  const auto has = [&](std::string_view part) {
    return lower_model.find(part) != std::string::npos;
  };
  info.thinking = !info.embedding_only && (has("qwen3") || has("deepseek-r1") || has("gpt-oss") ||
                                           has("magistral") || has("think"));
  info.harmony = !info.embedding_only && has("gpt-oss");
  // Gemma's templates carry no tool calls, so Ollama reports no "tools" capability for them.
  info.tools = !info.embedding_only && !has("gemma");
  // Fill-in-the-middle templates (with .Suffix) belong to code models.
  info.insert = !info.embedding_only && has("code");
  std::size_t letters = 0;
  while (letters < lower_model.size() &&
         std::isalpha(static_cast<unsigned char>(lower_model[letters]))) {
    ++letters;
  }
  info.family = info.embedding_only ? "bert"
                : letters > 0       ? lower_model.substr(0, letters)
                                    : "llama";
  double count = ParameterCountFromTag(name.tag);
  if (count == 0) count = info.embedding_only ? 22.6e6 : 3.21e9;
  info.parameter_count = static_cast<std::uint64_t>(count);
  info.parameter_size = FormatParameterSize(count);
  // About 4.9 bits per weight (Q4_K_M) plus a little metadata.
  info.natural_size = static_cast<std::uint64_t>(count * 0.61) + 4'000'000;
  info.seed = info.key;
  info.quantization = info.embedding_only ? "F16" : "Q4_K_M";
  Derive(info, derivation);
  info.context_length = info.embedding_only ? 512 : 131072;
  info.embedding_length = info.embedding_only ? 384 : 3072;
  return info;
}

const ModelInfo* Catalog::Find(std::string_view name) const {
  auto parsed = ParseModelName(name);
  if (!parsed.ok()) return nullptr;
  const std::string key = parsed->Key();
  for (const ModelInfo& model : models_) {
    if (model.key == key) return &model;
  }
  return nullptr;
}

absl::StatusOr<std::chrono::nanoseconds> ParseGoDuration(std::string_view text) {
  const std::string quoted = absl::StrCat("\"", std::string(text), "\"");
  const auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat("time: invalid duration ", quoted));
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return invalid();
  double total = 0;
  while (!s.empty()) {
    std::size_t i = 0;
    double value = 0;
    bool digits = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      value = value * 10 + (s[i] - '0');
      digits = true;
      ++i;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      double scale = 0.1;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        value += (s[i] - '0') * scale;
        scale /= 10;
        digits = true;
        ++i;
      }
    }
    if (!digits) return invalid();
    std::size_t unit_end = i;
    while (unit_end < s.size() && s[unit_end] != '.' &&
           !std::isdigit(static_cast<unsigned char>(s[unit_end]))) {
      ++unit_end;
    }
    const std::string_view unit = s.substr(i, unit_end - i);
    if (unit.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("time: missing unit in duration ", quoted));
    }
    double scale;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("time: unknown unit \"", std::string(unit), "\" in duration ", quoted));
    }
    total += value * scale;
    if (total > 9.2e18) return invalid();
    s.remove_prefix(unit_end);
  }
  const auto nanos = static_cast<std::int64_t>(std::llround(total));
  return std::chrono::nanoseconds(negative ? -nanos : nanos);
}

}  // namespace og::sim
