#include "http/wire.h"

#include <array>
#include <charconv>

namespace og::http::internal {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

bool StatusHasNoBody(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

void AppendStatusLine(std::string& out, int version, int status) {
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  std::array<char, 12> digits;
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), status);
  out.append(digits.data(), end);
  out += ' ';
  out += ReasonPhrase(status);
  out += "\r\n";
}

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  const std::size_t start = out.size();
  out += value;
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out += "\r\n";
}

void AppendChunkHeader(std::string& out, std::size_t size) {
  std::array<char, 20> hex;
  auto [end, ec] = std::to_chars(hex.data(), hex.data() + hex.size(), size, 16);
  out.append(hex.data(), end);
  out += "\r\n";
}

void AppendChunk(std::string& out, std::string_view data) {
  AppendChunkHeader(out, data.size());
  out += data;
  out += "\r\n";
}

std::string FormatHttpDate(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 64> buf;
  const std::size_t n = std::strftime(buf.data(), buf.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf.data(), n);
}

void AppendDateHeader(std::string& out) {
  // strftime per response would show up in profiles of thousands of small responses.
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached_line;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    cached_line = "Date: " + FormatHttpDate(now) + "\r\n";
  }
  out += cached_line;
}

}  // namespace og::http::internal
