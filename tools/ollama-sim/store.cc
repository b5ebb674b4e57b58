#include "tools/ollama-sim/store.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace og::sim {
namespace {

std::vector<ModelInfo> DescribeAll(const std::vector<std::string>& names,
                                   const Derivation& derivation) {
  std::vector<ModelInfo> models;
  for (const std::string& name : names) {
    auto parsed = ParseModelName(name);
    if (!parsed.ok()) continue;  // the flag and knob parsers already refused these
    ModelInfo info = DescribeModel(*parsed, derivation);
    const bool duplicate = std::any_of(models.begin(), models.end(),
                                       [&](const ModelInfo& m) { return m.key == info.key; });
    if (!duplicate && models.size() < ModelStore::kMaxModels) models.push_back(std::move(info));
  }
  return models;
}

}  // namespace

std::string NormalizeDigest(std::string_view digest) {
  std::string out(digest);
  if (out.rfind("sha256-", 0) == 0) out[6] = ':';
  return out;
}

bool IsValidBlobDigest(std::string_view digest) {
  constexpr std::size_t kPrefix = 7;  // "sha256:" or "sha256-"
  if (digest.size() != kPrefix + 64 || digest.substr(0, 6) != "sha256") return false;
  if (digest[6] != ':' && digest[6] != '-') return false;
  return std::all_of(digest.begin() + kPrefix, digest.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

ModelStore::ModelStore(std::vector<std::string> names, Derivation derivation)
    : default_names_(std::move(names)), derivation_(std::move(derivation)) {
  models_ = DescribeAll(default_names_, derivation_);
  PublishLocked();
}

std::shared_ptr<const Catalog> ModelStore::catalog() const {
  std::lock_guard<std::mutex> lock(mu_);
  return catalog_;
}

void ModelStore::PublishLocked() { catalog_ = std::make_shared<const Catalog>(models_); }

void ModelStore::Reset(const std::optional<std::vector<std::string>>& names) {
  std::lock_guard<std::mutex> lock(mu_);
  models_ = DescribeAll(names ? *names : default_names_, derivation_);
  override_ = names;
  PublishLocked();
}

std::optional<std::vector<std::string>> ModelStore::override_names() const {
  std::lock_guard<std::mutex> lock(mu_);
  return override_;
}

bool ModelStore::Install(ModelInfo model) {
  std::lock_guard<std::mutex> lock(mu_);
  Derive(model, derivation_);
  for (ModelInfo& existing : models_) {
    if (existing.key == model.key) {
      existing = std::move(model);
      PublishLocked();
      return true;
    }
  }
  if (models_.size() >= kMaxModels) return false;
  models_.push_back(std::move(model));
  PublishLocked();
  return true;
}

bool ModelStore::Remove(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = std::find_if(models_.begin(), models_.end(),
                               [&](const ModelInfo& m) { return m.key == key; });
  if (it == models_.end()) return false;
  models_.erase(it);
  PublishLocked();
  return true;
}

void ModelStore::SetDerivation(
    std::optional<std::string> salt,
    std::optional<std::vector<std::pair<std::string, std::uint64_t>>> sizes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (salt) derivation_.salt = std::move(*salt);
  if (sizes) derivation_.sizes = std::move(*sizes);
  for (ModelInfo& model : models_) Derive(model, derivation_);
  PublishLocked();
}

Derivation ModelStore::derivation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return derivation_;
}

std::optional<BlobInfo> ModelStore::FindBlob(std::string_view digest) const {
  const std::string wanted = NormalizeDigest(digest);
  std::lock_guard<std::mutex> lock(mu_);
  for (const BlobInfo& blob : blobs_) {
    if (blob.digest == wanted) return blob;
  }
  for (const ModelInfo& model : models_) {
    for (const ModelLayer& layer : model.layers) {
      if (layer.digest == wanted) return BlobInfo{layer.digest, layer.size, false};
    }
  }
  return std::nullopt;
}

void ModelStore::AddBlob(BlobInfo blob) {
  blob.digest = NormalizeDigest(blob.digest);
  std::lock_guard<std::mutex> lock(mu_);
  for (const BlobInfo& held : blobs_) {
    if (held.digest == blob.digest) return;
  }
  if (blobs_.size() == kMaxBlobs) blobs_.pop_front();
  blobs_.push_back(std::move(blob));
}

}  // namespace og::sim
