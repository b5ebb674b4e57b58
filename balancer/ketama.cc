#include "balancer/ketama.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <string>

// OpenSSL 3 deprecates the one-shot MD5 functions in favour of EVP, but EVP_Digest* allocates
// its provider context on every digest (measured with CRYPTO_set_mem_functions on 3.0: one
// malloc per digest even with a reused EVP_MD_CTX), and Pick() must not allocate. MD5 here is a
// placement hash fixed by the ketama format, not a security primitive.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/md5.h>

namespace og::balancer {
namespace {

using Digest = std::array<unsigned char, MD5_DIGEST_LENGTH>;

Digest Md5(std::string_view data) {
  Digest digest;
  MD5_CTX context;
  MD5_Init(&context);
  MD5_Update(&context, data.data(), data.size());
  MD5_Final(digest.data(), &context);
  return digest;
}

std::uint32_t LittleEndian32(const unsigned char* bytes) {
  return std::uint32_t{bytes[0]} | std::uint32_t{bytes[1]} << 8 | std::uint32_t{bytes[2]} << 16 |
         std::uint32_t{bytes[3]} << 24;
}

// libketama: `floorf(pct * 40.0 * (float)numservers)` with `float pct = (float)weight /
// (float)total`. The product is a double (40.0 is one), rounded to float on its way into floorf;
// the roundings are kept so that shares a hair below a whole number floor the same way.
std::uint32_t DigestsFor(std::uint64_t weight, std::uint64_t total, std::size_t hosts) {
  const float share = static_cast<float>(weight) / static_cast<float>(total);
  const double product =
      static_cast<double>(share) * 40.0 * static_cast<double>(static_cast<float>(hosts));
  return static_cast<std::uint32_t>(std::floor(static_cast<float>(product)));
}

// Appends the 4 * `digests` points of the host at index `host`, packed as point << 32 | host.
void AppendPoints(const std::string& label, std::uint32_t digests, std::uint32_t host,
                  std::vector<std::uint64_t>& ring) {
  std::string text = label + "-";  // "label-k", reused so there is no allocation per digest
  const std::size_t prefix = text.size();
  for (std::uint32_t k = 0; k < digests; ++k) {
    char number[16];
    char* end = std::to_chars(number, number + sizeof number, k).ptr;
    text.resize(prefix);
    text.append(number, end);
    const Digest digest = Md5(text);
    for (std::size_t j = 0; j < 4; ++j) {
      ring.push_back(std::uint64_t{LittleEndian32(&digest[4 * j])} << 32 | host);
    }
  }
}

// Sorts entries packed as point << 32 | host by point, keeping equal points in the order given
// (here: by host). A stable LSD radix sort over the point's four bytes: a 1,000-host ring has
// ~160,000 points, which std::sort takes ~10 ms over and this ~1 ms.
void SortByPoint(std::vector<std::uint64_t>& entries) {
  std::vector<std::uint64_t> buffer(entries.size());
  for (int shift = 32; shift < 64; shift += 8) {
    std::array<std::size_t, 257> start{};
    for (const std::uint64_t e : entries) ++start[((e >> shift) & 0xff) + 1];
    for (std::size_t b = 1; b < start.size(); ++b) start[b] += start[b - 1];
    for (const std::uint64_t e : entries) buffer[start[(e >> shift) & 0xff]++] = e;
    entries.swap(buffer);
  }
}

}  // namespace

KetamaPicker::KetamaPicker(std::shared_ptr<const HostSet> hosts, double bounded_load_factor)
    : hosts_(std::move(hosts)), bounded_load_factor_(bounded_load_factor) {
  const HostSet& set = *hosts_;
  std::uint64_t total = 0;
  for (const Host& h : set) total += h.weight;
  if (total == 0) return;

  // Each point packed as point << 32 | host, generated in host order.
  std::vector<std::uint64_t> ring;
  for (std::size_t i = 0; i < set.size(); ++i) {
    const std::string& label = set[i].hash_label.empty() ? set[i].name : set[i].hash_label;
    const std::uint32_t digests = DigestsFor(set[i].weight, total, set.size());
    if (digests > 0) on_ring_.push_back(static_cast<std::uint32_t>(i));
    AppendPoints(label, digests, static_cast<std::uint32_t>(i), ring);
  }
  SortByPoint(ring);
  points_.reserve(ring.size());
  owners_.reserve(ring.size());
  for (const std::uint64_t entry : ring) {
    points_.push_back(static_cast<std::uint32_t>(entry >> 32));
    owners_.push_back(static_cast<std::uint32_t>(entry));
  }
  BuildBuckets();
}

// Two to four points per bucket: the bucket narrows the binary search to a few points, so a
// lookup costs about two cache misses instead of one per halving of a 640 KB array (1,000 hosts).
void KetamaPicker::BuildBuckets() {
  int bits = 1;
  while (bits < 24 && (std::size_t{1} << (bits + 1)) <= points_.size()) ++bits;
  bucket_shift_ = 32 - bits;
  const std::size_t buckets = std::size_t{1} << bits;
  bucket_start_.resize(buckets + 1);
  std::size_t index = 0;
  for (std::size_t b = 0; b <= buckets; ++b) {
    while (index < points_.size() && (points_[index] >> bucket_shift_) < b) ++index;
    bucket_start_[b] = static_cast<std::uint32_t>(index);
  }
}

std::uint32_t KetamaPicker::HashKey(std::string_view key) {
  return LittleEndian32(Md5(key).data());
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> KetamaPicker::Ring() const {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ring;
  ring.reserve(points_.size());
  for (std::size_t i = 0; i < points_.size(); ++i) ring.emplace_back(points_[i], owners_[i]);
  return ring;
}

std::size_t KetamaPicker::FirstPointAtOrAfter(std::uint32_t hash) const {
  // Points of later buckets are all greater, so a miss in the bucket lands on the next bucket's
  // first point, or past the end, which wraps to the first point of the ring.
  const std::size_t bucket = hash >> bucket_shift_;
  const auto first = points_.begin() + bucket_start_[bucket];
  const auto last = points_.begin() + bucket_start_[bucket + 1];
  const auto it = std::lower_bound(first, last, hash);
  return it == points_.end() ? 0 : static_cast<std::size_t>(it - points_.begin());
}

PickResult KetamaPicker::OwnerOf(std::string_view key) const {
  if (points_.empty()) return {};
  return PickResult{owners_[FirstPointAtOrAfter(HashKey(key))]};
}

std::uint64_t KetamaPicker::Load(std::size_t host) const {
  return ReadInFlight((*hosts_)[host].in_flight);
}

PickResult KetamaPicker::Pick(const PickContext& context) const {
  if (points_.empty()) return AnyOffRing(context);
  const std::size_t start = FirstPointAtOrAfter(HashKey(context.hash_key));
  if (bounded_load_factor_ > 0) return WalkPastFull(start, context);
  if (context.excluded == nullptr) return PickResult{owners_[start]};
  return WalkPastExcluded(start, context);
}

// The first point from `start` on whose host is not excluded is the next distinct available
// host: points of excluded hosts are passed over whatever their number.
PickResult KetamaPicker::WalkPastExcluded(std::size_t start, const PickContext& context) const {
  const std::size_t n = points_.size();
  for (std::size_t step = 0; step < n; ++step) {
    const std::uint32_t host = owners_[(start + step) % n];
    if (!context.IsExcluded(host)) return PickResult{host};
  }
  return AnyOffRing(context);
}

PickResult KetamaPicker::WalkPastFull(std::size_t start, const PickContext& context) const {
  std::uint64_t total_load = 0;
  std::uint64_t available = 0;
  for (const std::uint32_t host : on_ring_) {
    if (context.IsExcluded(host)) continue;
    total_load += Load(host);
    ++available;
  }
  if (available == 0) return AnyOffRing(context);
  const double cap = std::ceil(bounded_load_factor_ * static_cast<double>(total_load + 1) /
                               static_cast<double>(available));

  const std::size_t n = points_.size();
  std::size_t owner = PickResult::kNone;
  for (std::size_t step = 0; step < n; ++step) {
    const std::uint32_t host = owners_[(start + step) % n];
    if (context.IsExcluded(host)) continue;
    if (owner == PickResult::kNone) owner = host;
    if (static_cast<double>(Load(host) + 1) <= cap) return PickResult{host};
  }
  return PickResult{owner};
}

// Hosts too light to get a point (or every host, when the ring is empty) serve as a last resort
// rather than failing a request that some host could take.
PickResult KetamaPicker::AnyOffRing(const PickContext& context) const {
  for (std::size_t i = 0; i < hosts_->size(); ++i) {
    if (!context.IsExcluded(i)) return PickResult{i};
  }
  return {};
}

}  // namespace og::balancer
