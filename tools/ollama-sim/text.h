// The simulator's deterministic "model": what it generates and embeds is a pure function of its
// inputs, so tests (in C++ and in Python) can recompute every reply. docs/ollama-sim.md states the
// same rules for other languages.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_TEXT_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_TEXT_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace og::sim {

// The vocabulary of generated tokens after the first.
inline constexpr std::array<std::string_view, 32> kWords = {
    "the",  "quick", "brown", "fox",  "jumps", "over",  "lazy",   "dog",   "and",   "then",  "runs",
    "far",  "away",  "from",  "home", "into",  "green", "hills",  "where", "small", "birds", "sing",
    "soft", "songs", "under", "blue", "sky",   "while", "rivers", "flow",  "past",  "stones"};

// The standard 64-bit FNV-1a hash of `bytes` (offset basis 14695981039346656037, prime
// 1099511628211).
std::uint64_t Fnv1a64(std::string_view bytes);

// Generated token `index` of a reply by simulator `name` to `prompt`: "[name]" for index 0, else
// " " + kWords[(Fnv1a64(prompt) + index) % 32]. Pass `prompt_hash` = Fnv1a64(prompt).
std::string_view TokenText(std::string_view name_token, std::uint64_t prompt_hash,
                           std::uint32_t index);

// How a request asks a thinking model to think (Ollama's `think`: a bool or a level).
enum class ThinkLevel { kOff, kLow, kMedium, kHigh, kMax };

// Thinking tokens before the reply: low 4, medium (and `true`) 8, high 16, max 32; off 0.
std::uint32_t ThinkingTokenCount(ThinkLevel level);

// Thinking token `index`: "Thinking" for index 0, else " " + kWords[(thinking_hash + index) % 32],
// with `thinking_hash` = Fnv1a64("think:" + prompt).
std::string_view ThinkingTokenText(std::uint64_t thinking_hash, std::uint32_t index);

// The log probability of the token at position `index` of a reply (thinking tokens included),
// and of its alternatives: rank 0 is the token itself, -(1 + index % 8) / 16; rank r is r / 4
// less. All are multiples of 1/16, exact in binary and short in decimal.
double TokenLogprob(std::uint32_t index, int rank);

// The alternative of rank r >= 1 at position `index`: " " + kWords[(index + r) % 32].
std::string_view AlternativeToken(std::uint32_t index, int rank);

// "[" + name + "]", the first token.
std::string FirstToken(std::string_view name);

// The whole text of `tokens` tokens (what a non-streaming reply carries).
std::string GeneratedText(std::string_view name, std::string_view prompt, std::uint32_t tokens);

// How many tokens of a reply `text` holds: its whitespace-separated words (0 for none). A reply
// continued from `text` goes on with the token of that index.
std::uint32_t ReplyTokenCount(std::string_view text);

// Where a raw prompt ends with the start of a reply to what precedes it: the offset of that
// reply's first token, when the prompt is P + "[" + NAME + "]" + tokens 1.. of P's reply (any
// number, maybe none), NAME without brackets or whitespace; std::string_view::npos otherwise.
// The last such offset wins.
std::size_t ReplyStartIn(std::string_view prompt);

// Number of whitespace-separated words in `text`, at least 1: the prompt_eval_count.
std::uint32_t PromptTokenCount(std::string_view text);

// The `context` array of a generate reply: one id per prompt word (Fnv1a64(word) % 100000; a
// single 0 for a prompt without words), then 100000 + the word index for each generated token
// after the first and 100032 for the first. Its length is prompt_eval_count + eval_count.
std::vector<std::uint32_t> ContextIds(std::string_view prompt, std::uint64_t prompt_hash,
                                      std::uint32_t tokens);

// Number of dimensions of every embedding.
inline constexpr int kEmbeddingDims = 16;

// The embedding of `input`: raw[j] = (Fnv1a64(input + "#" + decimal(j)) % 2001) / 1000.0 - 1.0
// for j < `dims` (1..kEmbeddingDims), divided by its L2 norm (a zero vector becomes e0).
std::vector<double> Embedding(std::string_view input, int dims = kEmbeddingDims);

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_TEXT_H_
