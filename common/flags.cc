#include "common/flags.h"

#include "absl/strings/str_cat.h"

namespace og {

FlagMessages DefaultFlagMessages() {
  return FlagMessages{
      .unknown_flag =
          [](const std::string& flag) { return absl::StrCat("unknown flag '", flag, "'"); },
      .needs_value =
          [](const std::string& flag) { return absl::StrCat("flag ", flag, " needs a value"); },
      .bad_value =
          [](const std::string& flag, const std::string& value, const std::string& why) {
            return absl::StrCat("invalid value '", value, "' for ", flag, ": ", why);
          },
  };
}

FlagParser::FlagParser(FlagMessages messages) : messages_(std::move(messages)) {}

FlagParser& FlagParser::Switch(std::string name, bool* out) {
  flags_[std::move(name)] = Flag{.takes_value = false, .apply = [out](const std::string&) {
                                   *out = true;
                                   return std::string();
                                 }};
  return *this;
}

FlagParser& FlagParser::Help(bool* out) {
  help_ = out;
  return *this;
}

FlagParser& FlagParser::Operands(std::vector<std::string>* out) {
  operands_ = out;
  return *this;
}

absl::Status FlagParser::Parse(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (help_ != nullptr && (arg == "--help" || arg == "-h")) {
      *help_ = true;
      continue;
    }
    if (operands_ != nullptr && !arg.starts_with("--")) {
      operands_->push_back(arg);
      continue;
    }
    const auto flag = flags_.find(arg);
    if (flag == flags_.end()) return absl::InvalidArgumentError(messages_.unknown_flag(arg));
    std::string value;
    if (flag->second.takes_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(messages_.needs_value(arg));
      value = args[++i];
    }
    if (std::string why = flag->second.apply(value); !why.empty()) {
      return absl::InvalidArgumentError(messages_.bad_value(arg, value, why));
    }
    given_.insert(arg);
  }
  return absl::OkStatus();
}

std::string OutsideRange(std::int64_t value, std::int64_t min, std::int64_t max) {
  if (value >= min && value <= max) return "";
  return absl::StrCat("must be between ", min, " and ", max);
}

std::string NotAChoice(const std::vector<std::string>& names) {
  std::string why = "must be ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) why += i + 1 == names.size() ? " or " : ", ";
    why += names[i];
  }
  return why;
}

FlagParser::Setter<std::string> StoreNotEmpty(std::string* out) {
  return [out](std::string value) {
    if (value.empty()) return std::string("must not be empty");
    *out = std::move(value);
    return std::string();
  };
}

}  // namespace og
