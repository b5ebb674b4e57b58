// Crossings between Abseil's and the standard library's string views. Debian's Abseil
// (20220623, libabsl-dev) is built with ABSL_OPTION_USE_STD_STRING_VIEW 0, so absl::string_view
// is a type of its own there: neither converts to the other, yet absl::StrCat and its friends take
// only absl's, and absl::Status::message() returns absl's. With an Abseil that aliases the two,
// these cost nothing and can go.
#ifndef OLLAMA_GATEWAY_COMMON_ABSL_COMPAT_H_
#define OLLAMA_GATEWAY_COMMON_ABSL_COMPAT_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace og {

// `text` for an Abseil function that takes absl::string_view.
inline absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

// An Abseil view as a std::string_view.
inline std::string_view StdView(absl::string_view text) { return {text.data(), text.size()}; }

// A status message as a std::string_view.
inline std::string_view MessageOf(const absl::Status& status) { return StdView(status.message()); }

}  // namespace og

#endif  // OLLAMA_GATEWAY_COMMON_ABSL_COMPAT_H_
