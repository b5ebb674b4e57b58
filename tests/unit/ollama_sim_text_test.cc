// The simulator's deterministic text and embeddings (tools/ollama-sim/text.h). The pinned values
// were computed independently (in Python, from the rules in docs/ollama-sim.md).
#include <catch2/catch.hpp>
#include <cmath>

#include "tools/ollama-sim/text.h"

namespace {

using namespace og::sim;

TEST_CASE("Fnv1a64 is the standard 64-bit FNV-1a", "[sim]") {
  CHECK(Fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(Fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(Fnv1a64("foobar") == 0x85944171f73967e8ull);
}

TEST_CASE("the first token is the simulator's name in brackets", "[sim]") {
  const std::string first = FirstToken("sim-a");
  CHECK(first == "[sim-a]");
  CHECK(TokenText(first, Fnv1a64("anything"), 0) == "[sim-a]");
}

TEST_CASE("generated text is pinned for known prompts", "[sim]") {
  CHECK(GeneratedText("sim", "hello", 6) == "[sim] away from home into green");
  CHECK(GeneratedText("ollama-sim", "Why is the sky blue?", 5) ==
        "[ollama-sim] blue sky while rivers");
}

TEST_CASE("later tokens pick words by prompt hash plus index", "[sim]") {
  const std::uint64_t hash = Fnv1a64("hello");
  for (std::uint32_t i = 1; i < 100; ++i) {
    std::string expected(" ");
    expected += kWords[(hash + i) % kWords.size()];
    CHECK(TokenText("[x]", hash, i) == expected);
  }
}

TEST_CASE("a longer generation extends a shorter one", "[sim]") {
  const std::string short_text = GeneratedText("n", "some prompt", 7);
  const std::string long_text = GeneratedText("n", "some prompt", 30);
  CHECK(long_text.rfind(short_text, 0) == 0);
  CHECK(GeneratedText("n", "other prompt", 7) != short_text);
}

TEST_CASE("prompt tokens are whitespace-separated words, at least one", "[sim]") {
  CHECK(PromptTokenCount("") == 1);
  CHECK(PromptTokenCount("   \t\n") == 1);
  CHECK(PromptTokenCount("one") == 1);
  CHECK(PromptTokenCount("  why is\tthe\nsky  blue? ") == 5);
}

TEST_CASE("context holds one id per prompt word and per generated token", "[sim]") {
  const auto ids = ContextIds("why is the sky blue", Fnv1a64("why is the sky blue"), 4);
  REQUIRE(ids.size() == 5 + 4);
  CHECK(ids[0] == Fnv1a64("why") % 100000);
  CHECK(ids[5] == 100032);
  CHECK(ContextIds("", Fnv1a64(""), 2).size() == 3);
}

TEST_CASE("embeddings are deterministic and L2-normalised", "[sim]") {
  const auto a = Embedding("hello");
  REQUIRE(a.size() == static_cast<std::size_t>(kEmbeddingDims));
  double norm = 0;
  for (double x : a) norm += x * x;
  CHECK(std::sqrt(norm) == Approx(1.0).epsilon(1e-12));
  CHECK(a == Embedding("hello"));
  CHECK(a != Embedding("hello!"));
  const double raw0 = static_cast<double>(Fnv1a64("hello#0") % 2001) / 1000.0 - 1.0;
  const double raw1 = static_cast<double>(Fnv1a64("hello#1") % 2001) / 1000.0 - 1.0;
  CHECK(a[1] / a[0] == Approx(raw1 / raw0));
}

TEST_CASE("a shorter embedding is renormalised", "[sim]") {
  const auto full = Embedding("text");
  const auto four = Embedding("text", 4);
  REQUIRE(four.size() == 4);
  double norm = 0;
  for (double x : four) norm += x * x;
  CHECK(norm == Approx(1.0));
  CHECK(four[2] / four[0] == Approx(full[2] / full[0]));
}

TEST_CASE("a reply's token count is its number of words", "[sim]") {
  CHECK(ReplyTokenCount("") == 0);
  CHECK(ReplyTokenCount("[sim]") == 1);
  CHECK(ReplyTokenCount(GeneratedText("sim", "hello", 6)) == 6);
}

TEST_CASE("a raw prompt ending with the start of its own reply is found", "[sim]") {
  const std::string prompt = "Once upon";
  for (std::uint32_t tokens : {1u, 2u, 5u}) {
    CAPTURE(tokens);
    CHECK(ReplyStartIn(prompt + GeneratedText("gpu-a", prompt, tokens)) == prompt.size());
  }
  // Another prompt's reply, a broken one, or none: not a continuation.
  CHECK(ReplyStartIn(prompt + GeneratedText("gpu-a", "other", 5)) == std::string_view::npos);
  CHECK(ReplyStartIn(prompt + "[gpu-a] nonsense") == std::string_view::npos);
  CHECK(ReplyStartIn(prompt) == std::string_view::npos);
  CHECK(ReplyStartIn("[] x") == std::string_view::npos);
  // The last reply start wins: a prompt may itself quote one.
  const std::string quoted = "[x] " + prompt;
  CHECK(ReplyStartIn(quoted + GeneratedText("b", quoted, 3)) == quoted.size());
}

}  // namespace
