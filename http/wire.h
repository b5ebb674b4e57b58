// Internal to og::http: the bytes of HTTP/1.1 responses (status lines, header lines, chunk
// framing, the Date header). Pure functions, so the framing is unit-tested without sockets.
#ifndef OLLAMA_GATEWAY_HTTP_WIRE_H_
#define OLLAMA_GATEWAY_HTTP_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace og::http::internal {

// The standard reason phrase of `status` ("OK", "Not Found", ...), or "Unknown" for codes
// without one.
std::string_view ReasonPhrase(int status);

// True if a response with `status` never has a body (1xx, 204, 304).
bool StatusHasNoBody(int status);

// Appends "HTTP/1.1 <status> <reason>\r\n" (or HTTP/1.0 when `version` is 10).
void AppendStatusLine(std::string& out, int version, int status);

// Appends "<name>: <value>\r\n". CR and LF in `value` are replaced by spaces so a caller can never
// split the header block.
void AppendHeader(std::string& out, std::string_view name, std::string_view value);

// Appends one chunk of chunked transfer encoding: hex size, CRLF, `data`, CRLF. `data` must not
// be empty (an empty chunk ends the body).
void AppendChunk(std::string& out, std::string_view data);

// Appends only the size line of a chunk of `size` bytes: hex size, CRLF. The caller appends the
// data and the CRLF after it (or, to cut a stream mid-chunk, less than that).
void AppendChunkHeader(std::string& out, std::size_t size);

// The terminating chunk (no trailers).
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// The IMF-fixdate of `t` (RFC 9110), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string FormatHttpDate(std::time_t t);

// Appends "Date: <now>\r\n"; the text is cached per thread and second.
void AppendDateHeader(std::string& out);

}  // namespace og::http::internal

#endif  // OLLAMA_GATEWAY_HTTP_WIRE_H_
