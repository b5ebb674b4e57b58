// The gateway's own log: control characters a caller put in a message are escaped in the text
// format, so they can neither forge a line nor reach a terminal.
#include <catch2/catch.hpp>
#include <memory>
#include <sstream>
#include <string>

#include "gateway/telemetry/process_log.h"
#include "spdlog/logger.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/ostream_sink.h"

namespace og {
namespace {

TEST_CASE("control characters are written as escapes, other bytes as they are", "[process_log]") {
  CHECK(EscapeControlCharacters("model llama3.2") == "model llama3.2");
  CHECK(EscapeControlCharacters("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(EscapeControlCharacters("\x1b[31mred") == "\\x1b[31mred");
  CHECK(EscapeControlCharacters(std::string("nul\0del\x7f", 8)) == "nul\\x00del\\x7f");
  // UTF-8 and backslashes are not control characters.
  CHECK(EscapeControlCharacters("caf\xc3\xa9 \\n") == "caf\xc3\xa9 \\n");
  CHECK(EscapeControlCharacters("") == "");
}

TEST_CASE("a text log line with a forged line break stays one line", "[process_log]") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  sink->set_formatter(TextLogFormatter());
  spdlog::logger logger("test", sink);
  logger.info("unknown model {}", "x\n2025-01-01T00:00:00.000+0000 error forged\x1b]0;t\x07");
  const std::string line = out.str();
  REQUIRE(!line.empty());
  CHECK(line.find('\n') == line.size() - 1);  // only the line's own end
  CHECK(line.ends_with(
      " info unknown model x\\n2025-01-01T00:00:00.000+0000 error forged\\x1b]0;t\\x07\n"));
}

}  // namespace
}  // namespace og
