// The simulator's installed models: Ollama's model-name rules (case-insensitive, default host,
// namespace and tag) and the metadata /api/tags, /api/ps and /api/show report. Also Go-style
// durations, the format of `keep_alive`.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_MODELS_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_MODELS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace og::sim {

// A model name split the way Ollama splits `[host/][namespace/]model[:tag]`, with the defaults
// filled in (registry.ollama.ai, library, latest).
struct ModelName {
  std::string host;
  std::string name_space;
  std::string model;
  std::string tag;

  // Lower-cased "host/namespace/model:tag": equal keys are the same model.
  std::string Key() const;
  // The shortest form Ollama displays ("llama3.2:latest", "me/tiny:1b").
  std::string Display() const;
  // "host/namespace/model:tag" as given (not lower-cased): how Ollama names a model in
  // capability errors ("registry.ollama.ai/library/gemma3:latest does not support tools").
  std::string Full() const;
};

// Parses `name`. Fails (InvalidArgument) for an empty model part or an empty tag after ':'.
absl::StatusOr<ModelName> ParseModelName(std::string_view name);

// Ollama's stricter rule for names a model may be stored under (types/model/name.go,
// IsFullyQualified), which pull, create, copy and delete apply: every part starts with a letter,
// digit or '_' and holds only those, '-' and '.' (no '.' in the namespace, ':' only in the host);
// the host has 1..350 characters, the other parts 1..80.
bool IsValidStoredName(const ModelName& name);

// One blob of a model's manifest, as pull and push report it.
struct ModelLayer {
  std::string digest;  // "sha256:" + 64 hex digits
  std::uint64_t size = 0;
};

// What the simulator reports about one installed model.
struct ModelInfo {
  ModelName name;
  std::string key;      // name.Key()
  std::string display;  // name.Display()
  std::string family;
  std::string parameter_size;  // e.g. "3.2B"
  std::uint64_t parameter_count = 0;
  std::uint64_t size_bytes = 0;
  std::string digest;           // 64 hex digits
  bool embedding_only = false;  // names containing "embed" or "minilm": /api/embed only
  // Capabilities beyond completion (docs/ollama-sim.md, "Model capabilities"): both follow the
  // name, as the template and parser of the real model decide them.
  bool tools = false;     // not embedding-only, and no "gemma" in the name
  bool insert = false;    // "code" (coder and code models): /api/generate takes a suffix
  bool thinking = false;  // "qwen3", "deepseek-r1", "gpt-oss", "magistral" or "think"
  bool harmony = false;   // "gpt-oss": Ollama maps think "max" to "high" for these
  std::uint32_t context_length = 0;
  std::uint32_t embedding_length = 0;
  std::string quantization;  // details.quantization_level: "Q4_K_M", or "F16" for embedding
  // What the digest and layers are derived from: the key for a model described from its name;
  // a copy keeps its source's, a created model gets a new one (docs/ollama-sim.md, "Digests").
  std::string seed;
  std::uint64_t natural_size = 0;  // size_bytes unless a `model_sizes` entry overrides it
  std::vector<ModelLayer> layers;  // model, template, params, config (their sizes sum to size)
};

// The per-run inputs of digests and sizes: the `digest_salt` and `model_sizes` knobs (or
// --digest-salt and --model-sizes).
struct Derivation {
  std::string salt;                                          // "" = digests of the name alone
  std::vector<std::pair<std::string, std::uint64_t>> sizes;  // (model key, bytes)
};

// The smallest size --model-sizes and `model_sizes` accept: the three small layers plus one byte.
inline constexpr std::uint64_t kMinModelSize = 4096;

// Builds the metadata of an installed model from its name (everything is derived from it).
ModelInfo DescribeModel(const ModelName& name, const Derivation& derivation = {});

// Recomputes `model`'s size, digest and layers from its seed, natural size and `derivation`.
void Derive(ModelInfo& model, const Derivation& derivation);

// Go's format.HumanBytes2, which Ollama's memory errors use: "4.7 GiB", "512.0 MiB", "1.5 KiB",
// "12 B".
std::string HumanBytes2(std::uint64_t bytes);

// A sha256-looking 64-hex-digit digest of `seed` (not SHA-256: a fixed hash, cheap and stable).
std::string HexDigest(std::string_view seed);

// The installed models, looked up by any spelling of their name.
class Catalog {
 public:
  explicit Catalog(std::vector<ModelInfo> models) : models_(std::move(models)) {}
  // The model `name` refers to, or nullptr. Case-insensitive; missing parts take the defaults.
  const ModelInfo* Find(std::string_view name) const;
  const std::vector<ModelInfo>& models() const { return models_; }

 private:
  std::vector<ModelInfo> models_;
};

// Parses a Go time.ParseDuration string ("5m", "1h30m", "-1", "0", "1.5s"). Errors use Go's
// messages: `time: invalid duration "x"`, `time: missing unit in duration "5"`,
// `time: unknown unit "d" in duration "1d"`.
absl::StatusOr<std::chrono::nanoseconds> ParseGoDuration(std::string_view text);

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_MODELS_H_
