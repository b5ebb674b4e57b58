// Consistent hashing on a libketama-compatible ring: a request's hash key maps to the same host
// for as long as that host is in the pool, and adding or removing a host moves only the keys it
// gains or loses. Useful for Ollama because a backend that served a conversation before still
// holds its prompt cache.
#ifndef OLLAMA_GATEWAY_BALANCER_KETAMA_H_
#define OLLAMA_GATEWAY_BALANCER_KETAMA_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "balancer/policy.h"

namespace og::balancer {

// The ring, built exactly as libketama builds its continuum so that other ketama clients given
// the same labels and weights agree on every key:
//   - host i (label L = Host::hash_label, or Host::name when that is empty) gets
//     floor((float)weight_i / (float)total_weight * 40.0 * N) MD5 digests, N the number of hosts,
//     of the strings "L-0", "L-1", ...; in libketama's float-then-double arithmetic, so a share a
//     hair under a whole number floors the way libketama floors it;
//   - each 16-byte digest gives 4 points, point j being bytes 4j..4j+3 read little-endian;
//   - points are sorted (equal points by host index).
// A key hashes to the first 4 bytes of its MD5, little-endian; its owner is the host of the first
// point at or after that hash, wrapping to the first point.
//
// A host whose share floors to 0 digests (a weight below 1/(40 N) of the total) owns no key; it
// is picked only when every host on the ring is excluded.
class KetamaPicker final : public Picker {
 public:
  // `bounded_load_factor` is 0 (off) or >= 1 (MakePicker checks).
  explicit KetamaPicker(std::shared_ptr<const HostSet> hosts, double bounded_load_factor = 0);

  // Returns the owner of `context.hash_key`. An empty key is hashed like any other (it is the
  // MD5 of the empty string), so every keyless request lands on one host: a caller wanting
  // spread falls back to another policy for requests without a key.
  //
  // An excluded owner passes the key to the next distinct non-excluded host clockwise, so the
  // keys of the hosts still available never move. With a bounded load factor c, the walk also
  // passes over any host whose in_flight + 1 exceeds ceil(c * (total_in_flight + 1) / n), where
  // the total and n are over the non-excluded hosts on the ring ("consistent hashing with
  // bounded loads", Mirrokni et al.); should every one be over (counters move under our feet)
  // the plain owner is kept. Note that with few requests in flight the cap is small (1 request
  // when n > c * (total + 1)), so a key spills as soon as its host is busy.
  //
  // Cost: an MD5 of the key and a binary search over the ring's points, plus a short walk past
  // excluded or full hosts. A bounded load factor adds one pass over the hosts to sum their
  // in-flight counters, O(hosts) per pick. No host when all are excluded or the pool is empty.
  // Thread-safe, lock-free, no allocation.
  PickResult Pick(const PickContext& context) const override;

  // The owner of `key` on the ring, ignoring exclusions and load; no host for an empty pool.
  PickResult OwnerOf(std::string_view key) const;

  // The ring: (point, host index) sorted by point, for the ops tool and tests. Copies.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> Ring() const;

  // Where `key` falls on the ring: the first 4 bytes of MD5(key), little-endian.
  static std::uint32_t HashKey(std::string_view key);

  double bounded_load_factor() const { return bounded_load_factor_; }

 private:
  void BuildBuckets();
  std::size_t FirstPointAtOrAfter(std::uint32_t hash) const;
  PickResult WalkPastExcluded(std::size_t start, const PickContext& context) const;
  PickResult WalkPastFull(std::size_t start, const PickContext& context) const;
  PickResult AnyOffRing(const PickContext& context) const;
  std::uint64_t Load(std::size_t host) const;

  std::shared_ptr<const HostSet> hosts_;
  // Parallel arrays, sorted by point: a binary search touches only the 4-byte points.
  std::vector<std::uint32_t> points_;
  std::vector<std::uint32_t> owners_;
  // Bucket b (the top bits of a hash) holds points_[bucket_start_[b] .. bucket_start_[b + 1]).
  std::vector<std::uint32_t> bucket_start_;
  int bucket_shift_ = 31;
  // Hosts with at least one point, for the bounded-load mean.
  std::vector<std::uint32_t> on_ring_;
  double bounded_load_factor_;
};

}  // namespace og::balancer

#endif  // OLLAMA_GATEWAY_BALANCER_KETAMA_H_
