#include "tools/ollama-sim/text.h"

#include <cmath>

namespace og::sim {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

template <typename Fn>
void ForEachWord(std::string_view text, Fn fn) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    if (i > start) fn(text.substr(start, i - start));
  }
}

}  // namespace

std::uint64_t Fnv1a64(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string FirstToken(std::string_view name) {
  std::string token;
  token.reserve(name.size() + 2);
  token += '[';
  token += name;
  token += ']';
  return token;
}

std::uint32_t ThinkingTokenCount(ThinkLevel level) {
  switch (level) {
    case ThinkLevel::kOff:
      return 0;
    case ThinkLevel::kLow:
      return 4;
    case ThinkLevel::kMedium:
      return 8;
    case ThinkLevel::kHigh:
      return 16;
    case ThinkLevel::kMax:
      return 32;
  }
  return 0;
}

std::string_view ThinkingTokenText(std::uint64_t thinking_hash, std::uint32_t index) {
  if (index == 0) return "Thinking";
  return TokenText("", thinking_hash, index);
}

double TokenLogprob(std::uint32_t index, int rank) {
  return -(1.0 + static_cast<double>(index % 8)) / 16.0 - static_cast<double>(rank) / 4.0;
}

std::string_view AlternativeToken(std::uint32_t index, int rank) {
  // Index 0 of TokenText is the name token; the hash-0 words from 1 on are kWords[i % 32].
  const std::uint32_t word = (index + static_cast<std::uint32_t>(rank)) % kWords.size();
  return TokenText("", 0, word == 0 ? static_cast<std::uint32_t>(kWords.size()) : word);
}

std::string_view TokenText(std::string_view name_token, std::uint64_t prompt_hash,
                           std::uint32_t index) {
  if (index == 0) return name_token;
  // The words are stored with their leading space so a token is a view, not a new string.
  static const auto kSpaced = [] {
    std::array<std::string, kWords.size()> spaced;
    for (std::size_t i = 0; i < kWords.size(); ++i) {
      spaced[i] += ' ';
      spaced[i] += kWords[i];
    }
    return spaced;
  }();
  return kSpaced[(prompt_hash + index) % kWords.size()];
}

std::uint32_t ReplyTokenCount(std::string_view text) {
  std::uint32_t words = 0;
  ForEachWord(text, [&](std::string_view) { ++words; });
  return words;
}

std::size_t ReplyStartIn(std::string_view prompt) {
  // Tried from the last '[' back, and at most this many: prompts in tests are short, and a
  // prompt full of brackets must not cost a quadratic scan.
  constexpr int kMaxCandidates = 64;
  std::size_t at = prompt.size();
  for (int tried = 0; tried < kMaxCandidates; ++tried) {
    at = at == 0 ? std::string_view::npos : prompt.rfind('[', at - 1);
    if (at == std::string_view::npos) return at;
    std::string_view rest = prompt.substr(at);
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos || close == 1) continue;
    const std::string_view name = rest.substr(1, close - 1);
    bool plain = true;
    for (char c : name) plain = plain && !IsSpace(c) && c != '[';
    if (!plain) continue;
    rest.remove_prefix(close + 1);
    const std::uint64_t hash = Fnv1a64(prompt.substr(0, at));
    for (std::uint32_t index = 1; !rest.empty(); ++index) {
      const std::string_view token = TokenText("", hash, index);
      if (!rest.starts_with(token)) break;
      rest.remove_prefix(token.size());
    }
    if (rest.empty()) return at;
  }
  return std::string_view::npos;
}

std::string GeneratedText(std::string_view name, std::string_view prompt, std::uint32_t tokens) {
  const std::string first = FirstToken(name);
  const std::uint64_t hash = Fnv1a64(prompt);
  std::string text;
  for (std::uint32_t i = 0; i < tokens; ++i) text += TokenText(first, hash, i);
  return text;
}

std::uint32_t PromptTokenCount(std::string_view text) {
  std::uint32_t words = 0;
  ForEachWord(text, [&](std::string_view) { ++words; });
  return words == 0 ? 1 : words;
}

std::vector<std::uint32_t> ContextIds(std::string_view prompt, std::uint64_t prompt_hash,
                                      std::uint32_t tokens) {
  std::vector<std::uint32_t> ids;
  ids.reserve(PromptTokenCount(prompt) + tokens);
  ForEachWord(prompt, [&](std::string_view word) {
    ids.push_back(static_cast<std::uint32_t>(Fnv1a64(word) % 100000));
  });
  if (ids.empty()) ids.push_back(0);
  for (std::uint32_t i = 0; i < tokens; ++i) {
    ids.push_back(i == 0 ? 100032u
                         : 100000u + static_cast<std::uint32_t>((prompt_hash + i) % kWords.size()));
  }
  return ids;
}

std::vector<double> Embedding(std::string_view input, int dims) {
  if (dims < 1 || dims > kEmbeddingDims) dims = kEmbeddingDims;
  std::vector<double> v(static_cast<std::size_t>(dims));
  std::string key(input);
  key += '#';
  const std::size_t base = key.size();
  double norm = 0;
  for (int j = 0; j < dims; ++j) {
    key.resize(base);
    key += std::to_string(j);
    v[j] = static_cast<double>(Fnv1a64(key) % 2001) / 1000.0 - 1.0;
    norm += v[j] * v[j];
  }
  if (norm == 0) {
    v[0] = 1.0;
    return v;
  }
  norm = std::sqrt(norm);
  for (double& x : v) x /= norm;
  return v;
}

}  // namespace og::sim
