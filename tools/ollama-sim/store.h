// The simulator's model store: the installed models, which pull, create and copy add to and
// delete removes at run time (and the `models` knob replaces), and the blobs POST /api/blobs has
// received (digests and sizes only, never contents). docs/ollama-sim.md, "Model management".
//
// Thread-safety: every method may be called from any thread (one mutex). Readers take a Catalog
// snapshot and keep it; a change publishes a new snapshot.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_STORE_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_STORE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/ollama-sim/models.h"

namespace og::sim {

// A blob the store holds: what a GGUF-reading `files` entry of /api/create needs to know.
struct BlobInfo {
  std::string digest;  // as the client named it, ':' form ("sha256:<hex>")
  std::uint64_t size = 0;
  bool gguf = false;  // the body started with the GGUF magic
};

class ModelStore {
 public:
  // The largest number of uploaded blobs kept; past it the oldest is forgotten.
  static constexpr std::size_t kMaxBlobs = 4096;
  // The largest number of installed models; an install past it fails.
  static constexpr std::size_t kMaxModels = 4096;

  // `names` are the --models list (already validated), described with `derivation`.
  ModelStore(std::vector<std::string> names, Derivation derivation);

  // The installed models now. Pointers into the snapshot stay valid while it is held.
  std::shared_ptr<const Catalog> catalog() const;

  // The `models` knob: replaces the installed models with `names` described afresh, or (nullopt)
  // with the --models list.
  void Reset(const std::optional<std::vector<std::string>>& names);
  // The `models` knob as last set (nullopt: never, or null).
  std::optional<std::vector<std::string>> override_names() const;

  // Installs `model` (re-derived with the current derivation), replacing one with the same key.
  // False when the store is full.
  bool Install(ModelInfo model);
  // Removes the model with `key`; false if there is none.
  bool Remove(std::string_view key);

  // Changes the salt and/or the size overrides and re-derives every installed model.
  void SetDerivation(std::optional<std::string> salt,
                     std::optional<std::vector<std::pair<std::string, std::uint64_t>>> sizes);
  Derivation derivation() const;

  // Blobs: uploaded ones, and the layers of installed models (which a pull stored too).
  // `digest` in either "sha256:" or "sha256-" form.
  std::optional<BlobInfo> FindBlob(std::string_view digest) const;
  void AddBlob(BlobInfo blob);

 private:
  void PublishLocked();

  mutable std::mutex mu_;
  const std::vector<std::string> default_names_;
  Derivation derivation_;
  std::vector<ModelInfo> models_;
  std::shared_ptr<const Catalog> catalog_;
  std::optional<std::vector<std::string>> override_;
  std::deque<BlobInfo> blobs_;  // oldest first, at most kMaxBlobs
};

// "sha256-<hex>" -> "sha256:<hex>"; other strings unchanged.
std::string NormalizeDigest(std::string_view digest);

// Ollama's check of a blob digest (manifest.BlobsPath): ^sha256[:-][0-9a-fA-F]{64}$.
bool IsValidBlobDigest(std::string_view digest);

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_STORE_H_
