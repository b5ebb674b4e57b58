// FlagParser: the one command-line parser of ollama-sim, gateway-bench and gatewayctl. It walks
// `--flag value` and `--switch` arguments and hands every value to Abseil's flags library to turn
// into a typed value (`absl::ParseFlag`: Abseil's own parsers for numbers and strings, and a
// type's `AbslParseFlag` overload for ours, such as a duration), then to a setter that checks and
// stores it.
//
// Why not `ABSL_FLAG` and `absl::ParseCommandLine`: ParseCommandLine prints its own messages,
// exits 1 on a bad flag (ours exit 2 with their own usage text) and answers --help with Abseil's
// help; and `ABSL_FLAG`s are process-wide globals in one registry, which two tool libraries
// linked into the one unit-test binary would share. Options structs, filled by setters, carry a
// command line's values instead. (So a type needs only AbslParseFlag; AbslUnparseFlag serves
// ABSL_FLAG's defaults and --help, which we do not use.)
#ifndef OLLAMA_GATEWAY_COMMON_FLAGS_H_
#define OLLAMA_GATEWAY_COMMON_FLAGS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/status.h"

namespace og {

// How a FlagParser words its errors. The defaults are ollama-sim's and gateway-bench's:
//   unknown flag '--bogus'
//   flag --port needs a value
//   invalid value '70000' for --port: must be between 0 and 65535
struct FlagMessages {
  std::function<std::string(const std::string& flag)> unknown_flag;
  std::function<std::string(const std::string& flag)> needs_value;
  std::function<std::string(const std::string& flag, const std::string& value,
                            const std::string& why)>
      bad_value;
  // The reason given when an integer flag's value is not an integer.
  std::string not_an_integer = "not an integer";
};

// The messages above.
FlagMessages DefaultFlagMessages();

// A command line's flags, each with what to do with it. Build one, add the flags, call Parse
// once. Not thread-safe; one per parse.
class FlagParser {
 public:
  // A setter gets a flag's parsed value and returns why it refuses it, or "" once it stored it.
  template <typename T>
  using Setter = std::function<std::string(T value)>;

  explicit FlagParser(FlagMessages messages = DefaultFlagMessages());

  // `name` ("--port") takes the next argument as its value, parsed into a T by
  // `absl::ParseFlag`, then handed to `set`. A text that does not parse is refused as
  // `messages.not_an_integer` for an integer T, "not a number" for a floating-point T, and with
  // the reason its AbslParseFlag gives for any other T.
  template <typename T>
  FlagParser& Value(std::string name, Setter<T> set);

  // `name` takes the next argument as a T, stored in `*out` as it is.
  template <typename T>
  FlagParser& Value(std::string name, T* out) {
    return Value<T>(std::move(name), [out](T value) {
      *out = std::move(value);
      return std::string();
    });
  }

  // `name` ("--insecure") takes no value: its presence sets `*out` to true.
  FlagParser& Switch(std::string name, bool* out);

  // --help and -h set `*out` to true instead of being unknown flags.
  FlagParser& Help(bool* out);

  // Arguments that do not start with "--" are appended to `*out` (a command's operands) instead
  // of being unknown flags.
  FlagParser& Operands(std::vector<std::string>* out);

  // Parses `args` (argv without the program name) in order. Fails with InvalidArgument, worded
  // by the messages, at the first unknown flag, missing value or refused value.
  absl::Status Parse(const std::vector<std::string>& args);

  // Whether `name` was on the command line Parse read.
  bool Given(std::string_view name) const { return given_.contains(name); }

 private:
  struct Flag {
    bool takes_value = true;
    // Parses and stores a value (or, for a switch, the flag's presence); returns why it refuses
    // it, or "".
    std::function<std::string(const std::string& value)> apply;
  };

  FlagMessages messages_;
  std::map<std::string, Flag, std::less<>> flags_;
  bool* help_ = nullptr;
  std::vector<std::string>* operands_ = nullptr;
  std::set<std::string, std::less<>> given_;
};

// A setter for an integer flag: refuses a value outside [min, max] ("must be between MIN and
// MAX"), stores it in `*out` otherwise.
template <typename Int>
FlagParser::Setter<std::int64_t> StoreBetween(std::int64_t min, std::int64_t max, Int* out);

// A setter for a text flag: refuses "" ("must not be empty"), stores it in `*out` otherwise.
FlagParser::Setter<std::string> StoreNotEmpty(std::string* out);

// A setter for a flag that names one of a few values: stores the one named, refuses any other
// text ("must be predict or stream").
template <typename T>
FlagParser::Setter<std::string> StoreChoice(std::vector<std::pair<std::string, T>> choices, T* out);

// Why `value` is outside [min, max] ("must be between MIN and MAX"), or "" when it is inside:
// for setters that store an integer somewhere StoreBetween cannot (an optional).
std::string OutsideRange(std::int64_t value, std::int64_t min, std::int64_t max);

// Implementation details below.

// "must be A, B or C".
std::string NotAChoice(const std::vector<std::string>& names);

template <typename T>
FlagParser& FlagParser::Value(std::string name, Setter<T> set) {
  flags_[std::move(name)] =
      Flag{.takes_value = true,
           .apply = [set = std::move(set),
                     not_an_integer = messages_.not_an_integer](const std::string& text) {
             T value{};
             std::string why;
             if (absl::ParseFlag(text, &value, &why)) return set(std::move(value));
             // Abseil's parsers of numbers say nothing about why they refuse a text.
             if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) return not_an_integer;
             if constexpr (std::is_floating_point_v<T>) return std::string("not a number");
             return why.empty() ? std::string("not valid") : why;
           }};
  return *this;
}

template <typename Int>
FlagParser::Setter<std::int64_t> StoreBetween(std::int64_t min, std::int64_t max, Int* out) {
  return [min, max, out](std::int64_t value) {
    std::string why = OutsideRange(value, min, max);
    if (why.empty()) *out = static_cast<Int>(value);
    return why;
  };
}

template <typename T>
FlagParser::Setter<std::string> StoreChoice(std::vector<std::pair<std::string, T>> choices,
                                            T* out) {
  return [choices = std::move(choices), out](const std::string& text) {
    std::vector<std::string> names;
    for (const auto& [name, value] : choices) {
      if (name == text) {
        *out = value;
        return std::string();
      }
      names.push_back(name);
    }
    return NotAChoice(names);
  };
}

}  // namespace og

#endif  // OLLAMA_GATEWAY_COMMON_FLAGS_H_
