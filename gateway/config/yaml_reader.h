// Internal to the config loader: the error list and the YAML map reader that load.cc and every
// *_section.cc share, with the readers of lists and maps of names that serve every section.
// Not part of the gateway's public interface.
#ifndef OLLAMA_GATEWAY_GATEWAY_CONFIG_YAML_READER_H_
#define OLLAMA_GATEWAY_GATEWAY_CONFIG_YAML_READER_H_

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "common/absl_compat.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "gateway/config/values.h"
#include "yaml-cpp/yaml.h"

namespace og::config_internal {

using KeyList = std::span<const std::string_view>;

constexpr std::size_t kMaxQuotedChars = 80;

// Errors in the order found; rendered sorted by line (stable, so errors on one line keep the
// order in which the walk met them).
class ErrorList {
 public:
  void Add(int line, std::string reason) { errors_.push_back({line, std::move(reason)}); }
  bool empty() const { return errors_.empty(); }

  absl::Status ToStatus(std::string_view source) {
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const Error& a, const Error& b) { return a.line < b.line; });
    std::string message;
    for (const Error& error : errors_) {
      if (!message.empty()) message += '\n';
      fmt::format_to(std::back_inserter(message), "{}:{}: {}", source, error.line, error.reason);
    }
    return absl::InvalidArgumentError(message);
  }

 private:
  struct Error {
    int line;
    std::string reason;
  };
  std::vector<Error> errors_;
};

// 1-based line of a node. yaml-cpp marks an empty (null) value at the token after it, often the
// next line, so those take the line of their key instead.
inline int LineOf(const YAML::Node& node, int fallback) {
  if (!node.IsDefined() || node.IsNull()) return fallback;
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? fallback : mark.line + 1;
}

// A value quoted and escaped for a message, cut short if long.
inline std::string Quoted(std::string_view text) {
  if (text.size() > kMaxQuotedChars) return fmt::format("{:?}...", text.substr(0, kMaxQuotedChars));
  return fmt::format("{:?}", text);
}

// `text` as it is when it has no control characters, else quoted and escaped (Quoted), so that
// one error stays one line whatever a file holds.
inline std::string Printable(std::string_view text) {
  const bool plain = std::none_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  return plain ? std::string(text) : Quoted(text);
}

// What a node is, for "got ..." in messages.
inline std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return Quoted(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

// A scalar that YAML may read as `type` ("int", "bool"): written plain, or with that explicit
// tag (`!!int 5`). A quoted one is a string: `weight: "5"` is not a number.
inline bool IsScalarOf(const YAML::Node& node, std::string_view type) {
  return node.IsScalar() &&
         (node.Tag() == "?" || node.Tag() == fmt::format("tag:yaml.org,2002:{}", type));
}

// For a quoted value that would be accepted without its quotes. yaml-cpp tags every quoted
// scalar "!".
inline std::string QuoteHint(const YAML::Node& node, bool valid_unquoted) {
  return node.IsScalar() && node.Tag() == "!" && valid_unquoted ? " (remove the quotes)" : "";
}

inline std::optional<std::int64_t> ParseInteger(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const char* digits = text.data() + (!text.empty() && text.front() == '-' ? 1 : 0);
  if (digits == end || !std::all_of(digits, end, absl::ascii_isdigit)) return std::nullopt;
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Optimal string alignment distance (edits plus adjacent swaps), case-insensitive: "polcy",
// "Policy" and "plociy" are all one edit from "policy".
inline std::size_t EditDistance(std::string_view a, std::string_view b) {
  const std::string x = absl::AsciiStrToLower(std::string(a));
  const std::string y = absl::AsciiStrToLower(std::string(b));
  std::vector<std::vector<std::size_t>> d(x.size() + 1, std::vector<std::size_t>(y.size() + 1));
  for (std::size_t i = 0; i <= x.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= y.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= x.size(); ++i) {
    for (std::size_t j = 1; j <= y.size(); ++j) {
      const std::size_t cost = x[i - 1] == y[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[x.size()][y.size()];
}

// How far `word` is from `name` for a suggestion, or nullopt when too far: a few edits (one for
// short names), or one being a prefix of the other ("warning" for "warn"), ranked after edits.
inline std::optional<std::size_t> SuggestionDistance(std::string_view word, std::string_view name) {
  const std::size_t limit = name.size() <= 4 ? 1 : 2;
  const std::size_t distance = EditDistance(word, name);
  if (distance <= limit) return distance;
  const std::string lower_word = absl::AsciiStrToLower(std::string(word));
  const std::string_view shorter = word.size() < name.size() ? lower_word : name;
  const std::string_view longer = word.size() < name.size() ? name : lower_word;
  if (shorter.size() >= 3 && longer.starts_with(shorter)) return limit + 1;
  return std::nullopt;
}

// "; did you mean 'x'?" for the closest of `names`, or "" when none is close.
template <typename Names>
std::string DidYouMean(std::string_view word, const Names& names, char quote) {
  std::string_view best;
  std::size_t best_distance = 0;
  for (std::string_view name : names) {
    const std::optional<std::size_t> distance = SuggestionDistance(word, name);
    if (distance && (best.empty() || *distance < best_distance)) {
      best = name;
      best_distance = *distance;
    }
  }
  if (best.empty()) return "";
  return fmt::format("; did you mean {0}{1}{0}?", quote, best);
}

struct Field {
  std::string name;
  int line;
  YAML::Node value;
};

// One entry of a YAML list: its key path (`health.inference.models[2]`), its line and its value.
struct ListItem {
  std::string path;
  int line;
  YAML::Node value;
};

// One entry of a YAML map of names (`auth.groups`): its key as written (for messages), the key's
// text ("" when it is not a string), the entry's key path (`auth.groups.NAME`), line and value.
struct MapEntry {
  YAML::Node key;
  std::string name;
  std::string path;
  int line;
  YAML::Node value;
};

// The items of `node`, a list written at `path` and `line`, each with its path and line. Null
// is an empty list; anything else that is not a list is an error, `PATH: must be a list of WHAT,
// got ...`, and gives no items. In yaml_reader.cc.
std::vector<ListItem> ListItems(const YAML::Node& node, std::string_view path, int line,
                                std::string_view what, ErrorList* errors);

// One YAML map of the configuration (the top level, a section or a backend) with its key path
// for messages. Construction reports a value that is not a map, unknown and duplicate keys;
// the typed readers report a value of the wrong type or out of range and leave the output as
// it was (the default) when the key is absent or the value is refused.
class MapReader {
 public:
  MapReader(const YAML::Node& node, std::string path, int line, KeyList valid_keys,
            ErrorList* errors)
      : path_(std::move(path)), line_(line), errors_(errors) {
    // An absent section, or one written as `admin:` with nothing under it, takes the defaults.
    if (!node.IsDefined() || node.IsNull()) return;
    if (!node.IsMap()) {
      ok_ = false;
      errors_->Add(line_, fmt::format("{}: must be a map, got {}", path_, Describe(node)));
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      AddField(it->first, it->second, valid_keys);
    }
  }

  bool ok() const { return ok_; }
  int line() const { return line_; }
  const std::string& path() const { return path_; }
  ErrorList* errors() const { return errors_; }

  const Field* Find(std::string_view name) const {
    auto it = std::find_if(fields_.begin(), fields_.end(),
                           [name](const Field& field) { return field.name == name; });
    return it == fields_.end() ? nullptr : &*it;
  }

  std::string PathOf(std::string_view name) const {
    return path_.empty() ? std::string(name) : fmt::format("{}.{}", path_, name);
  }

  void Error(const Field& field, std::string_view reason) const {
    errors_->Add(field.line, fmt::format("{}: {}", PathOf(field.name), reason));
  }

  // Reports each of `names` this map lacks: `PATH: missing required field 'NAME'`, at the map's
  // line.
  void Require(std::initializer_list<std::string_view> names) const {
    for (std::string_view name : names) {
      if (Find(name) == nullptr) {
        errors_->Add(line_, fmt::format("{}: missing required field '{}'", path_, name));
      }
    }
  }

  // A map-valued key. When it is absent the child is empty and carries this map's line.
  MapReader Child(std::string_view name, KeyList valid_keys, int* line) const {
    const Field* field = Find(name);
    if (field == nullptr) return MapReader(YAML::Node(), PathOf(name), line_, valid_keys, errors_);
    *line = field->line;
    return MapReader(field->value, PathOf(name), field->line, valid_keys, errors_);
  }

  // The items of the list at key `name` (ListItems): none when the key is absent or null, none
  // and an error `PATH: must be a list of WHAT, got ...` when it is not a list. In
  // yaml_reader.cc.
  std::vector<ListItem> List(std::string_view name, std::string_view what) const;

  // The entries of the map at key `name`, in the order written: none when the key is absent or
  // null, none and an error `PATH: must be a map of WHAT, got ...` when it is not a map. The
  // names are the caller's to check. In yaml_reader.cc.
  std::vector<MapEntry> Entries(std::string_view name, std::string_view what) const;

  // A non-empty string, quoted or not. Returns true when a value was stored.
  bool String(std::string_view name, std::string* out) const {
    const Field* field = Find(name);
    if (field == nullptr) return false;
    if (!field->value.IsScalar() || field->value.Scalar().empty()) {
      Error(*field, "must be a non-empty string, got " + Describe(field->value));
      return false;
    }
    *out = field->value.Scalar();
    return true;
  }

  // Only the YAML 1.2 spellings: `yes`, `on` and `True` are refused rather than guessed.
  bool Bool(std::string_view name, bool* out) const {
    const Field* field = Find(name);
    if (field == nullptr) return false;
    const YAML::Node& value = field->value;
    const std::string text = value.IsScalar() ? value.Scalar() : "";
    if (!IsScalarOf(value, "bool") || (text != "true" && text != "false")) {
      Error(*field, fmt::format("must be true or false, got {}{}", Describe(value),
                                QuoteHint(value, text == "true" || text == "false")));
      return false;
    }
    *out = text == "true";
    return true;
  }

  bool Integer(std::string_view name, std::int64_t min, std::int64_t max, std::int64_t* out) const {
    const Field* field = Find(name);
    if (field == nullptr) return false;
    const YAML::Node& value = field->value;
    const std::optional<std::int64_t> number =
        value.IsScalar() ? ParseInteger(value.Scalar()) : std::nullopt;
    const bool in_range = number && *number >= min && *number <= max;
    if (!in_range || !IsScalarOf(value, "int")) {
      Error(*field, fmt::format("must be an integer from {} to {}, got {}{}", min, max,
                                Describe(value), QuoteHint(value, in_range)));
      return false;
    }
    *out = *number;
    return true;
  }

  // A number (integer or decimal) in [min, max].
  bool Number(std::string_view name, double min, double max, double* out) const {
    const Field* field = Find(name);
    if (field == nullptr) return false;
    const YAML::Node& value = field->value;
    double number = 0;
    bool parsed = false;
    if (value.IsScalar() && (IsScalarOf(value, "float") || IsScalarOf(value, "int"))) {
      const std::string& text = value.Scalar();
      const auto [ptr, error] = std::from_chars(text.data(), text.data() + text.size(), number);
      parsed = error == std::errc() && ptr == text.data() + text.size();
    }
    if (!parsed || number < min || number > max) {
      Error(*field,
            fmt::format("must be a number from {} to {}, got {}", min, max, Describe(value)));
      return false;
    }
    *out = number;
    return true;
  }

  bool Duration(std::string_view name, bool allow_zero, std::chrono::milliseconds* out) const {
    const Field* field = Find(name);
    if (field == nullptr) return false;
    if (!field->value.IsScalar()) {
      Error(*field, "must be a duration such as 250ms, 2s or 1m30s, got " + Describe(field->value));
      return false;
    }
    const absl::StatusOr<std::chrono::milliseconds> duration = ParseDuration(field->value.Scalar());
    if (!duration.ok()) {
      Error(*field, MessageOf(duration.status()));
      return false;
    }
    if (!allow_zero && duration->count() == 0) {
      Error(*field, "must be longer than 0, got " + Describe(field->value));
      return false;
    }
    *out = *duration;
    return true;
  }

  bool Address(std::string_view name, std::string* out) const {
    std::string text;
    if (!String(name, &text)) return false;
    if (absl::Status status = ValidateListenAddress(text); !status.ok()) {
      Error(*Find(name), MessageOf(status));
      return false;
    }
    *out = std::move(text);
    return true;
  }

  // A string that must be one of `names` (policies, log levels).
  template <typename Names>
  bool OneOf(std::string_view name, const Names& names, std::string* out) const {
    std::string text;
    if (!String(name, &text)) return false;
    if (std::find(std::begin(names), std::end(names), text) != std::end(names)) {
      *out = std::move(text);
      return true;
    }
    Error(*Find(name), fmt::format("must be one of {}, got {}{}", fmt::join(names, ", "),
                                   Quoted(text), DidYouMean(text, names, '"')));
    return false;
  }

 private:
  void AddField(const YAML::Node& key, const YAML::Node& value, KeyList valid_keys) {
    const int line = LineOf(key, line_);
    const std::string where = path_.empty() ? "at top level" : "in " + path_;
    if (!key.IsScalar()) {
      errors_->Add(line,
                   fmt::format("field names must be strings, got {} {}", Describe(key), where));
      return;
    }
    const std::string name = Printable(key.Scalar());
    if (const Field* first = Find(name)) {
      errors_->Add(
          line, fmt::format("{}: duplicate field (first at line {})", PathOf(name), first->line));
      return;
    }
    if (std::find(valid_keys.begin(), valid_keys.end(), name) == valid_keys.end()) {
      errors_->Add(line,
                   fmt::format("unknown field '{}' {} (valid: {}){}", name, where,
                               fmt::join(valid_keys, ", "), DidYouMean(name, valid_keys, '\'')));
      return;
    }
    fields_.push_back({name, line, value});
  }

  std::string path_;
  int line_;
  ErrorList* errors_;
  bool ok_ = true;
  std::vector<Field> fields_;
};

// Reads the list of model names at key `name` of `map` (absent or empty: nothing) into `models`
// and their CanonicalModelName() into `canonical`, refusing invalid names and duplicates (after
// canonicalization) at their entry's line. `entries`, unless null, receives where each accepted
// name was written. In yaml_reader.cc.
void ReadModelList(const MapReader& map, std::string_view name, std::vector<std::string>* models,
                   std::vector<std::string>* canonical, std::vector<ListItem>* entries = nullptr);

}  // namespace og::config_internal

#endif  // OLLAMA_GATEWAY_GATEWAY_CONFIG_YAML_READER_H_
