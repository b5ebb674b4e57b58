// The tools' command-line parser (common/flags.h): the flag loop, its messages, and values typed
// by Abseil's flags library, our own types through AbslParseFlag.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/flags.h"

namespace {

// A type of our own, parsed through its AbslParseFlag overload (found by argument-dependent
// lookup): an even number.
struct Even {
  int value = 0;
};

bool AbslParseFlag(absl::string_view text, Even* out, std::string* error) {
  if (!absl::ParseFlag(text, &out->value, error) || out->value % 2 != 0) {
    *error = "must be an even number";
    return false;
  }
  return true;
}

std::string Message(const absl::Status& status) {
  return status.ok() ? "ok" : std::string(status.message());
}

TEST_CASE("values are typed by Abseil and handed to their setters", "[flags]") {
  std::string name;
  std::int64_t count = 0;
  double ratio = 0;
  std::vector<std::string> list;
  Even even;
  bool verbose = false;
  og::FlagParser flags;
  flags.Value<std::string>("--name", &name)
      .Value<std::int64_t>("--count", &count)
      .Value<double>("--ratio", &ratio)
      .Value<std::vector<std::string>>("--list", &list)
      .Value<Even>("--even", &even)
      .Switch("--verbose", &verbose);
  REQUIRE(Message(flags.Parse({"--name", "a b", "--count", "-42", "--ratio", "0.25", "--list",
                               "x,y", "--even", "8", "--verbose"})) == "ok");
  CHECK(name == "a b");
  CHECK(count == -42);
  CHECK(ratio == 0.25);
  CHECK(list == std::vector<std::string>{"x", "y"});
  CHECK(even.value == 8);
  CHECK(verbose);
  CHECK(flags.Given("--count"));
  CHECK(flags.Given("--verbose"));
}

TEST_CASE("a flag not given keeps its value and is not given", "[flags]") {
  std::int64_t count = 7;
  bool verbose = false;
  og::FlagParser flags;
  flags.Value<std::int64_t>("--count", &count).Switch("--verbose", &verbose);
  REQUIRE(Message(flags.Parse({})) == "ok");
  CHECK(count == 7);
  CHECK_FALSE(verbose);
  CHECK_FALSE(flags.Given("--count"));
}

TEST_CASE("the default messages name the flag and the value", "[flags]") {
  std::int64_t count = 0;
  double ratio = 0;
  Even even;
  std::string name;
  auto parse = [&](const std::vector<std::string>& args) {
    og::FlagParser flags;
    flags.Value<std::int64_t>("--count", og::StoreBetween(1, 10, &count))
        .Value<double>("--ratio", &ratio)
        .Value<Even>("--even", &even)
        .Value<std::string>("--name", og::StoreNotEmpty(&name));
    return Message(flags.Parse(args));
  };
  CHECK(parse({"--bogus"}) == "unknown flag '--bogus'");
  CHECK(parse({"bare"}) == "unknown flag 'bare'");
  CHECK(parse({"--count"}) == "flag --count needs a value");
  CHECK(parse({"--count", "ten"}) == "invalid value 'ten' for --count: not an integer");
  CHECK(parse({"--count", "11"}) == "invalid value '11' for --count: must be between 1 and 10");
  CHECK(parse({"--ratio", "x"}) == "invalid value 'x' for --ratio: not a number");
  CHECK(parse({"--even", "3"}) == "invalid value '3' for --even: must be an even number");
  CHECK(parse({"--name", ""}) == "invalid value '' for --name: must not be empty");
  CHECK(parse({"--count", "3", "--name", "n"}) == "ok");
  CHECK(count == 3);
  CHECK(name == "n");
}

TEST_CASE("a choice names one of its values", "[flags]") {
  enum class Shape { kCircle, kSquare, kTriangle };
  Shape shape = Shape::kCircle;
  auto parse = [&](const std::vector<std::string>& args) {
    og::FlagParser flags;
    flags.Value<std::string>("--shape", og::StoreChoice<Shape>({{"circle", Shape::kCircle},
                                                                {"square", Shape::kSquare},
                                                                {"triangle", Shape::kTriangle}},
                                                               &shape));
    return Message(flags.Parse(args));
  };
  CHECK(parse({"--shape", "square"}) == "ok");
  CHECK(shape == Shape::kSquare);
  CHECK(parse({"--shape", "oval"}) ==
        "invalid value 'oval' for --shape: must be circle, square or triangle");
  CHECK(shape == Shape::kSquare);
}

TEST_CASE("--help and -h are unknown flags unless help is asked for", "[flags]") {
  bool help = false;
  og::FlagParser without_help;
  CHECK(Message(without_help.Parse({"--help"})) == "unknown flag '--help'");
  og::FlagParser flags;
  flags.Help(&help);
  REQUIRE(Message(flags.Parse({"-h"})) == "ok");
  CHECK(help);
}

TEST_CASE("a value may look like a flag", "[flags]") {
  std::string name;
  bool help = false;
  og::FlagParser flags;
  flags.Help(&help).Value<std::string>("--name", &name);
  REQUIRE(Message(flags.Parse({"--name", "--help"})) == "ok");
  CHECK(name == "--help");
  CHECK_FALSE(help);
}

TEST_CASE("operands and messages of a command's own", "[flags]") {
  std::vector<std::string> operands;
  std::int64_t count = 0;
  og::FlagMessages messages{
      .unknown_flag = [](const std::string& flag) { return "unknown option " + flag; },
      .needs_value = [](const std::string& flag) { return flag + " needs a value"; },
      .bad_value = [](const std::string& flag, const std::string&,
                      const std::string& why) { return flag + " " + why; },
      .not_an_integer = "needs an integer",
  };
  auto parse = [&](const std::vector<std::string>& args) {
    operands.clear();
    og::FlagParser flags(messages);
    flags.Operands(&operands).Value<std::int64_t>("--count", &count);
    return Message(flags.Parse(args));
  };
  CHECK(parse({"one", "--count", "2", "-h", "two"}) == "ok");
  CHECK(operands == std::vector<std::string>{"one", "-h", "two"});
  CHECK(count == 2);
  CHECK(parse({"--bogus"}) == "unknown option --bogus");
  CHECK(parse({"--count"}) == "--count needs a value");
  CHECK(parse({"--count", "x"}) == "--count needs an integer");
}

}  // namespace
