// Shared helpers of the configuration tests: a small valid file to extend, and the two ways a
// test reads the result of parsing it.
#ifndef OLLAMA_GATEWAY_TESTS_FAKES_CONFIG_TESTING_H_
#define OLLAMA_GATEWAY_TESTS_FAKES_CONFIG_TESTING_H_

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/config/load.h"

namespace og::testing {

// Two backends that list their models; a section appended after it starts at line 9.
inline constexpr std::string_view kTwoBackends =
    R"(listen: {address: "127.0.0.1:0", insecure: true}
backends:
  - name: a
    url: http://10.0.0.1:11434
    models: [llama3.2]
  - name: b
    url: http://10.0.0.2:11434
    models: [llama3.2, qwen2.5]
)";

// kTwoBackends followed by `sections`.
inline std::string With(std::string_view sections) {
  return std::string(kTwoBackends) + std::string(sections);
}

// The errors of a file that must be refused, as ParseConfig words them.
inline std::string ErrorsOf(std::string_view yaml) {
  auto config = ParseConfig(yaml, "test.yaml");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message().data(), config.status().message().size());
}

// The configuration of a file that must be accepted.
inline Config Valid(std::string_view yaml) {
  auto config = ParseConfig(yaml, "test.yaml");
  INFO((config.ok() ? "" : std::string(config.status().message())));
  REQUIRE(config.ok());
  return *config;
}

}  // namespace og::testing

#endif  // OLLAMA_GATEWAY_TESTS_FAKES_CONFIG_TESTING_H_
