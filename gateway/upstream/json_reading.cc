#include "gateway/upstream/json_reading.h"

#include <utility>
#include <vector>

#include "fmt/format.h"

namespace og {
namespace {

using Json = nlohmann::json;

absl::Status TooDeep(std::string_view what, int max_depth) {
  return absl::InvalidArgumentError(
      fmt::format("{} nests deeper than limits.max_json_depth ({})", what, max_depth));
}

// The nesting of a SAX parse so far; Enter fails at the first level past the limit.
class DepthLimit {
 public:
  explicit DepthLimit(int max_depth) : max_depth_(max_depth) {}
  bool Enter() {
    if (++depth_ <= max_depth_) return true;
    too_deep_ = true;
    return false;
  }
  void Leave() { --depth_; }
  bool too_deep() const { return too_deep_; }

 private:
  const int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
};

// nlohmann's own document builder, stopped at the first array or object past the limit: the
// parse ends there (a SAX handler returning false ends it), so nothing deeper is ever built.
// sax_parse dispatches on the static type, so hiding the base's methods is enough.
class DepthLimitedBuilder : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  DepthLimitedBuilder(Json& result, int max_depth)
      : json_sax_dom_parser(result, /*allow_exceptions_=*/false), depth_(max_depth) {}

  bool start_object(std::size_t elements) {
    return depth_.Enter() && json_sax_dom_parser::start_object(elements);
  }
  bool end_object() {
    depth_.Leave();
    return json_sax_dom_parser::end_object();
  }
  bool start_array(std::size_t elements) {
    return depth_.Enter() && json_sax_dom_parser::start_array(elements);
  }
  bool end_array() {
    depth_.Leave();
    return json_sax_dom_parser::end_array();
  }
  bool too_deep() const { return depth_.too_deep(); }

 private:
  DepthLimit depth_;
};

// Counts depth and builds nothing.
class DepthCounter {
 public:
  explicit DepthCounter(int max_depth) : depth_(max_depth) {}

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(Json::number_integer_t) { return true; }
  bool number_unsigned(Json::number_unsigned_t) { return true; }
  bool number_float(Json::number_float_t, const Json::string_t&) { return true; }
  bool string(Json::string_t&) { return true; }
  bool binary(Json::binary_t&) { return true; }
  bool key(Json::string_t&) { return true; }
  bool start_object(std::size_t) { return depth_.Enter(); }
  bool end_object() { return Leave(); }
  bool start_array(std::size_t) { return depth_.Enter(); }
  bool end_array() { return Leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }
  bool too_deep() const { return depth_.too_deep(); }

 private:
  bool Leave() {
    depth_.Leave();
    return true;
  }

  DepthLimit depth_;
};

// A key quoted in an error message: bounded, printable.
std::string QuoteKey(std::string_view key) {
  std::string out(key.substr(0, 64));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

}  // namespace

absl::StatusOr<Json> ParseJson(std::string_view text, int max_depth, std::string_view what) {
  Json result;
  DepthLimitedBuilder builder(result, max_depth);
  const bool ok = Json::sax_parse(text.begin(), text.end(), &builder);
  if (builder.too_deep()) return TooDeep(what, max_depth);
  if (!ok || builder.is_errored()) {
    return absl::InvalidArgumentError(fmt::format("{} is not valid JSON", what));
  }
  return result;
}

absl::Status CheckJsonDepth(std::string_view text, int max_depth, std::string_view what) {
  DepthCounter counter(max_depth);
  Json::sax_parse(text.begin(), text.end(), &counter, nlohmann::detail::input_format_t::json,
                  /*strict=*/false);
  return counter.too_deep() ? TooDeep(what, max_depth) : absl::OkStatus();
}

std::string FoldKey(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if (key.substr(i, 3) == "\xE2\x84\xAA") {  // U+212A KELVIN SIGN folds with k
      out += 'k';
      i += 2;
    } else if (key.substr(i, 2) == "\xC5\xBF") {  // U+017F LATIN SMALL LETTER LONG S with s
      out += 's';
      i += 1;
    } else {
      out += c;
    }
  }
  return out;
}

absl::Status CanonicalizeKeys(Json* object, std::span<const std::string_view> fields,
                              std::string_view where) {
  if (!object->is_object()) return absl::OkStatus();
  // Keys are renamed after the walk: renaming inside it would invalidate the iteration.
  std::vector<std::pair<std::string, std::string_view>> renames;  // (sent, canonical)
  std::vector<std::pair<std::string_view, std::string>> seen;     // (canonical, first sent)
  for (const auto& [key, value] : object->items()) {
    (void)value;
    const std::string folded = FoldKey(key);
    for (std::string_view field : fields) {
      if (folded != field) continue;
      for (const auto& [canonical, sent] : seen) {
        if (canonical == field) {
          return absl::InvalidArgumentError(fmt::format(
              "{} has both '{}' and '{}', which Ollama reads as one field; send it once", where,
              QuoteKey(sent), QuoteKey(key)));
        }
      }
      seen.emplace_back(field, key);
      if (key != field) renames.emplace_back(key, field);
      break;
    }
  }
  for (auto& [sent, canonical] : renames) {
    auto it = object->find(sent);
    Json value = std::move(*it);
    object->erase(it);
    (*object)[std::string(canonical)] = std::move(value);
  }
  return absl::OkStatus();
}

}  // namespace og
