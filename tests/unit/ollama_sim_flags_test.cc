// Command-line flags of ollama-sim (tools/ollama-sim/flags.h).
#include <catch2/catch.hpp>

#include "tools/ollama-sim/flags.h"

namespace {

using namespace og::sim;

TEST_CASE("no flags give the documented defaults", "[sim]") {
  const auto options = ParseFlags({});
  REQUIRE(options.ok());
  CHECK(options->host == "127.0.0.1");
  CHECK(options->port == 11434);
  CHECK(options->models == std::vector<std::string>{"llama3.2"});
  CHECK(options->tokens == 20);
  CHECK(options->token_delay_ms == 0);
  CHECK(options->load_delay_ms == 0);
  CHECK(options->parallel == 0);
  CHECK(options->max_queue == 512);
  CHECK(options->name == "ollama-sim");
  CHECK(options->version == "0.33.0");
  CHECK(options->threads == 1);
  CHECK(options->keep_alive == std::chrono::minutes(5));
  CHECK_FALSE(options->help);
}

TEST_CASE("every flag takes its value", "[sim]") {
  const auto options = ParseFlags(
      {"--host",     "0.0.0.0", "--port",           "0",     "--models",        "a, b:7b",
       "--tokens",   "3",       "--token-delay-ms", "20",    "--load-delay-ms", "500",
       "--parallel", "4",       "--max-queue",      "8",     "--keep-alive",    "-1",
       "--name",     "sim-a",   "--version",        "9.9.9", "--threads",       "2"});
  REQUIRE(options.ok());
  CHECK(options->host == "0.0.0.0");
  CHECK(options->port == 0);
  CHECK(options->models == std::vector<std::string>{"a", "b:7b"});
  CHECK(options->tokens == 3);
  CHECK(options->token_delay_ms == 20);
  CHECK(options->load_delay_ms == 500);
  CHECK(options->parallel == 4);
  CHECK(options->max_queue == 8);
  CHECK(options->keep_alive < std::chrono::nanoseconds(0));
  CHECK(options->name == "sim-a");
  CHECK(options->version == "9.9.9");
  CHECK(options->threads == 2);
}

TEST_CASE("an unknown flag is an error naming it", "[sim]") {
  const auto options = ParseFlags({"--tokens", "3", "--bogus", "1"});
  CHECK(options.status().message() == "unknown flag '--bogus'");
}

TEST_CASE("bad flag values are errors naming the flag", "[sim]") {
  CHECK(ParseFlags({"--port", "70000"}).status().message() ==
        "invalid value '70000' for --port: must be between 0 and 65535");
  CHECK(ParseFlags({"--tokens", "ten"}).status().message() ==
        "invalid value 'ten' for --tokens: not an integer");
  CHECK_FALSE(ParseFlags({"--tokens", "0"}).ok());
  CHECK_FALSE(ParseFlags({"--models", ","}).ok());
  CHECK_FALSE(ParseFlags({"--keep-alive", "soon"}).ok());
  CHECK(ParseFlags({"--name"}).status().message() == "flag --name needs a value");
}

TEST_CASE("--help asks for the usage text", "[sim]") {
  const auto options = ParseFlags({"--help"});
  REQUIRE(options.ok());
  CHECK(options->help);
  for (const char* flag :
       {"--host", "--port", "--models", "--tokens", "--token-delay-ms", "--load-delay-ms",
        "--parallel", "--max-queue", "--keep-alive", "--name", "--version", "--threads"}) {
    CHECK(Usage().find(flag) != std::string::npos);
  }
}

}  // namespace
