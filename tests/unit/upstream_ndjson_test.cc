#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "gateway/upstream/ndjson.h"

namespace og {
namespace {

std::vector<std::string> FeedAll(NdjsonSplitter& s, const std::vector<std::string>& pieces,
                                 absl::Status* status = nullptr) {
  std::vector<std::string> lines;
  for (const auto& p : pieces) {
    absl::Status st = s.Feed(p, [&](std::string_view l) { lines.emplace_back(l); });
    if (!st.ok()) {
      if (status) *status = st;
      break;
    }
  }
  return lines;
}

TEST_CASE("lines split across chunks at every byte come out whole", "[ndjson]") {
  const std::string stream = "{\"a\":1}\n{\"b\":\"x y\"}\n{\"done\":true}\n";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    NdjsonSplitter s(1024);
    auto lines = FeedAll(s, {stream.substr(0, cut), stream.substr(cut)});
    INFO("cut at " << cut);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "{\"a\":1}");
    CHECK(lines[1] == "{\"b\":\"x y\"}");
    CHECK(lines[2] == "{\"done\":true}");
  }
}

TEST_CASE("a stream fed one byte at a time gives the same lines", "[ndjson]") {
  const std::string stream = "{\"a\":1}\r\n\n  \n{\"b\":2}\n";
  std::vector<std::string> pieces;
  for (char c : stream) pieces.emplace_back(1, c);
  NdjsonSplitter s(1024);
  auto lines = FeedAll(s, pieces);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "{\"a\":1}");
  CHECK(lines[1] == "{\"b\":2}");
}

TEST_CASE("an unterminated last line stays pending", "[ndjson]") {
  NdjsonSplitter s(1024);
  auto lines = FeedAll(s, {"{\"a\":1}\n{\"b\""});
  CHECK(lines.size() == 1);
  CHECK(s.pending() == "{\"b\"");
}

TEST_CASE("a line longer than the limit fails, whole or in pieces", "[ndjson]") {
  absl::Status status;
  NdjsonSplitter whole(8);
  FeedAll(whole, {"0123456789\n"}, &status);
  CHECK(status.code() == absl::StatusCode::kResourceExhausted);
  CHECK(std::string(status.message()) == "backend sent an NDJSON line longer than 8 bytes");

  status = absl::OkStatus();
  NdjsonSplitter pieces(8);
  FeedAll(pieces, {"01234", "56789"}, &status);
  CHECK(status.code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("a line exactly at the limit is accepted", "[ndjson]") {
  NdjsonSplitter s(8);
  auto lines = FeedAll(s, {"0123", "4567\n"});
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "01234567");
}

TEST_CASE("NDJSON and JSON content types are accepted, with parameters and in any case",
          "[ndjson]") {
  for (const char* type :
       {"application/x-ndjson", "application/json", "application/json; charset=utf-8",
        "Application/X-NDJSON", " application/x-ndjson ;charset=utf-8", "APPLICATION/JSON;"}) {
    INFO(type);
    CHECK(IsNdjsonContentType(type));
  }
}

TEST_CASE("other content types are refused", "[ndjson]") {
  for (const char* type : {"", "text/html", "text/html; charset=utf-8", "text/plain",
                           "application/octet-stream", "application/jsonx", "application/",
                           "application/x-ndjson-seq", "text/x-ndjson", ";application/json"}) {
    INFO(type);
    CHECK_FALSE(IsNdjsonContentType(type));
  }
}

}  // namespace
}  // namespace og
