// The readers of lists and maps of names that every section shares (yaml_reader.h), and the
// list of model names that backends and health probes both take.
#include "gateway/config/yaml_reader.h"

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "gateway/config/values.h"
#include "yaml-cpp/yaml.h"

namespace og::config_internal {

std::vector<ListItem> ListItems(const YAML::Node& node, std::string_view path, int line,
                                std::string_view what, ErrorList* errors) {
  std::vector<ListItem> items;
  if (node.IsNull()) return items;
  if (!node.IsSequence()) {
    errors->Add(line, fmt::format("{}: must be a list of {}, got {}", path, what, Describe(node)));
    return items;
  }
  items.reserve(node.size());
  std::size_t index = 0;
  for (const YAML::Node& item : node) {
    items.push_back({fmt::format("{}[{}]", path, index++), LineOf(item, line), item});
  }
  return items;
}

std::vector<ListItem> MapReader::List(std::string_view name, std::string_view what) const {
  const Field* field = Find(name);
  if (field == nullptr) return {};
  return ListItems(field->value, PathOf(name), field->line, what, errors_);
}

std::vector<MapEntry> MapReader::Entries(std::string_view name, std::string_view what) const {
  std::vector<MapEntry> entries;
  const Field* field = Find(name);
  if (field == nullptr || field->value.IsNull()) return entries;
  if (!field->value.IsMap()) {
    Error(*field, fmt::format("must be a map of {}, got {}", what, Describe(field->value)));
    return entries;
  }
  entries.reserve(field->value.size());
  const std::string path = PathOf(name);
  for (auto it = field->value.begin(); it != field->value.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    std::string entry_path = fmt::format("{}.{}", path, key);
    entries.push_back({it->first, std::move(key), std::move(entry_path),
                       LineOf(it->first, field->line), it->second});
  }
  return entries;
}

void ReadModelList(const MapReader& map, std::string_view name, std::vector<std::string>* models,
                   std::vector<std::string>* canonical, std::vector<ListItem>* entries) {
  // canonical name -> index in models, to name the first spelling of a duplicate.
  std::map<std::string, std::size_t, std::less<>> seen;
  for (ListItem& item : map.List(name, "model names")) {
    const absl::Status valid =
        item.value.IsScalar() ? ParseModelName(item.value.Scalar()).status() : absl::OkStatus();
    if (!item.value.IsScalar() || !valid.ok()) {
      map.errors()->Add(
          item.line,
          fmt::format("{}: must be a model name such as llama3.2 or qwen2.5:7b, got {}{}",
                      item.path, Describe(item.value),
                      valid.ok() ? "" : fmt::format(" ({})", MessageOf(valid))));
      continue;
    }
    std::string canonical_name = CanonicalModelName(item.value.Scalar());
    const auto [first, inserted] = seen.emplace(canonical_name, models->size());
    if (!inserted) {
      map.errors()->Add(item.line,
                        fmt::format("{}: duplicate model {} (same as {})", item.path,
                                    Quoted(item.value.Scalar()), Quoted((*models)[first->second])));
      continue;
    }
    models->push_back(item.value.Scalar());
    canonical->push_back(std::move(canonical_name));
    if (entries != nullptr) entries->push_back(std::move(item));
  }
}

}  // namespace og::config_internal
