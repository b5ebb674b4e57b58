// Tests of tls/pem.h: which certificate and key files the gateway accepts, and the messages
// naming the file at fault. Certificates are made in memory with OpenSSL, so no disk is used.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <string>

#include "tls/pem.h"

namespace og::tls {
namespace {

constexpr std::time_t kDay = 24 * 60 * 60;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// A P-256 key in PEM, and the key itself for signing (freed by the caller).
EVP_PKEY* NewKey() { return EVP_EC_gen("P-256"); }

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

// A self-signed certificate for `key` valid from now+from to now+to (seconds).
std::string CertPem(EVP_PKEY* key, std::time_t now, long from, long to, long serial = 0x1234) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_time_adj_ex(X509_getm_notBefore(cert), 0, from, &now);
  X509_time_adj_ex(X509_getm_notAfter(cert), 0, to, &now);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("og"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("gateway"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  X509_free(cert);
  return pem;
}

struct Pair {
  Pair(std::time_t now, long from, long to) : key(NewKey()) {
    cert_pem = CertPem(key, now, from, to);
    key_pem = KeyPem(key);
  }
  ~Pair() { EVP_PKEY_free(key); }
  EVP_PKEY* key;
  std::string cert_pem;
  std::string key_pem;
};

constexpr std::time_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z

TEST_CASE("a matching certificate and key valid now are accepted with their details", "[tls]") {
  Pair pair(kNow, -kDay, 30 * kDay);
  auto info = CheckKeyPair(pair.cert_pem, pair.key_pem, kNow, "s.crt", "s.key");
  REQUIRE(info.ok());
  CHECK(info->subject == "CN=gateway,O=og");
  CHECK(info->serial_hex == "1234");
  CHECK(info->not_after == kNow + 30 * kDay);
}

TEST_CASE("a file that is not a PEM certificate is refused naming it", "[tls]") {
  Pair pair(kNow, -kDay, kDay);
  auto info = CheckKeyPair("garbage", pair.key_pem, kNow, "s.crt", "s.key");
  REQUIRE(info.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Message(info.status()) == "'s.crt': not a PEM certificate (no start line)");
}

TEST_CASE("a certificate with a broken body is refused naming it", "[tls]") {
  Pair pair(kNow, -kDay, kDay);
  auto info = CheckKeyPair("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                           pair.key_pem, kNow, "s.crt", "s.key");
  REQUIRE_FALSE(info.ok());
  CHECK(Message(info.status()).starts_with("'s.crt': not a PEM certificate ("));
}

TEST_CASE("a file that is not a PEM key is refused naming it", "[tls]") {
  Pair pair(kNow, -kDay, kDay);
  auto info = CheckKeyPair(pair.cert_pem, pair.cert_pem, kNow, "s.crt", "s.key");
  REQUIRE_FALSE(info.ok());
  // OpenSSL 3's decoders word the reason ("unsupported"); the file and the verdict are ours.
  CHECK(Message(info.status()).starts_with("'s.key': not a PEM private key ("));
}

TEST_CASE("a key that does not match the certificate is refused", "[tls]") {
  Pair pair(kNow, -kDay, kDay);
  Pair other(kNow, -kDay, kDay);
  auto info = CheckKeyPair(pair.cert_pem, other.key_pem, kNow, "s.crt", "s.key");
  REQUIRE_FALSE(info.ok());
  CHECK(Message(info.status()) == "'s.key': private key does not match the certificate in 's.crt'");
}

TEST_CASE("an expired certificate is refused with its end date", "[tls]") {
  Pair pair(kNow, -10 * kDay, -kDay);
  auto info = CheckKeyPair(pair.cert_pem, pair.key_pem, kNow, "s.crt", "s.key");
  REQUIRE_FALSE(info.ok());
  CHECK(Message(info.status()) == "'s.crt': certificate expired at 2027-01-14T08:00:00Z");
}

TEST_CASE("a certificate not valid yet is refused with its start date", "[tls]") {
  Pair pair(kNow, kDay, 10 * kDay);
  auto info = CheckKeyPair(pair.cert_pem, pair.key_pem, kNow, "s.crt", "s.key");
  REQUIRE_FALSE(info.ok());
  CHECK(Message(info.status()) == "'s.crt': certificate is not valid before 2027-01-16T08:00:00Z");
}

TEST_CASE("a CA bundle counts its certificates", "[tls]") {
  Pair a(kNow, -kDay, kDay);
  Pair b(kNow, -kDay, kDay);
  auto count = CheckCaBundle(a.cert_pem + b.cert_pem, "ca.pem");
  REQUIRE(count.ok());
  CHECK(*count == 2);
}

TEST_CASE("an empty CA bundle is refused", "[tls]") {
  auto count = CheckCaBundle("", "ca.pem");
  REQUIRE_FALSE(count.ok());
  CHECK(Message(count.status()) == "'ca.pem': no PEM certificate found");
}

TEST_CASE("a CA bundle with a broken certificate is refused naming its position", "[tls]") {
  Pair a(kNow, -kDay, kDay);
  auto count = CheckCaBundle(
      a.cert_pem + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "ca.pem");
  REQUIRE_FALSE(count.ok());
  CHECK(Message(count.status()).starts_with("'ca.pem': certificate 2 does not parse ("));
}

TEST_CASE("reading a missing file names it", "[tls]") {
  auto text = ReadFileToString("/nonexistent/og/ca.pem");
  REQUIRE(text.status().code() == absl::StatusCode::kNotFound);
  CHECK(Message(text.status()) ==
        "cannot read '/nonexistent/og/ca.pem': No such file or directory");
}

}  // namespace
}  // namespace og::tls
