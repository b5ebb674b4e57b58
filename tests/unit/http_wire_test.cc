// The response framing helpers of og::http (http/wire.h).
#include <catch2/catch.hpp>

#include "http/wire.h"

namespace {

using namespace og::http::internal;

TEST_CASE("a chunk is framed with its size in hex", "[http]") {
  std::string out;
  AppendChunk(out, "hello");
  AppendChunk(out, std::string(26, 'x'));
  CHECK(out == "5\r\nhello\r\n1a\r\n" + std::string(26, 'x') + "\r\n");
  CHECK(kLastChunk == "0\r\n\r\n");
}

TEST_CASE("a chunk's size line alone is the hex size and CRLF", "[http]") {
  std::string out;
  AppendChunkHeader(out, 8);
  AppendChunkHeader(out, 4096);
  CHECK(out == "8\r\n1000\r\n");
}

TEST_CASE("status lines carry the standard reason phrase", "[http]") {
  std::string out;
  AppendStatusLine(out, 11, 200);
  AppendStatusLine(out, 10, 404);
  AppendStatusLine(out, 11, 499);
  CHECK(out == "HTTP/1.1 200 OK\r\nHTTP/1.0 404 Not Found\r\nHTTP/1.1 499 Unknown\r\n");
  CHECK(ReasonPhrase(413) == "Request Entity Too Large");
  CHECK(ReasonPhrase(503) == "Service Unavailable");
}

TEST_CASE("a header value cannot break out of its line", "[http]") {
  std::string out;
  AppendHeader(out, "X-Evil", "a\r\nInjected: yes");
  CHECK(out == "X-Evil: a  Injected: yes\r\n");
}

TEST_CASE("only 1xx, 204 and 304 responses have no body", "[http]") {
  CHECK(StatusHasNoBody(100));
  CHECK(StatusHasNoBody(204));
  CHECK(StatusHasNoBody(304));
  CHECK_FALSE(StatusHasNoBody(200));
  CHECK_FALSE(StatusHasNoBody(404));
}

TEST_CASE("the Date header uses the IMF-fixdate format", "[http]") {
  CHECK(FormatHttpDate(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  std::string out;
  AppendDateHeader(out);
  CHECK(out.rfind("Date: ", 0) == 0);
  CHECK(out.size() == std::string("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n").size());
}

}  // namespace
