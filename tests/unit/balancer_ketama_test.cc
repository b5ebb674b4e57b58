#include <openssl/evp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "balancer/ketama.h"
#include "balancer/policy.h"
#include "balancer/testing/fake_pool.h"

namespace og::balancer {
namespace {

using testing::FakePool;
using Ring = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

// --- A straightforward libketama construction, independent of the picker's code: OpenSSL's EVP
// API for MD5, libketama's own float expression, a linear scan for lookups.

std::uint32_t Le32(const unsigned char* b) {
  return std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 |
         std::uint32_t{b[3]} << 24;
}

std::vector<unsigned char> EvpMd5(const std::string& text) {
  std::vector<unsigned char> digest(EVP_MAX_MD_SIZE);
  unsigned int length = 0;
  REQUIRE(EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_md5(), nullptr) == 1);
  digest.resize(length);
  return digest;
}

struct NaiveHost {
  std::string label;
  std::uint32_t weight;
};

Ring NaiveRing(const std::vector<NaiveHost>& hosts) {
  unsigned long total = 0;
  for (const NaiveHost& h : hosts) total += h.weight;
  Ring ring;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    // As libketama writes it: a float share, a double product, floorf.
    const float pct = static_cast<float>(hosts[i].weight) / static_cast<float>(total);
    const auto ks = static_cast<unsigned int>(
        floorf(static_cast<float>(pct * 40.0 * static_cast<float>(hosts.size()))));
    for (unsigned int k = 0; k < ks; ++k) {
      const auto digest = EvpMd5(absl::StrCat(hosts[i].label, "-", k));
      for (int j = 0; j < 4; ++j) ring.emplace_back(Le32(&digest[4 * j]), i);
    }
  }
  std::sort(ring.begin(), ring.end());
  return ring;
}

std::uint32_t NaiveOwner(const Ring& ring, const std::string& key) {
  const std::uint32_t hash = Le32(EvpMd5(key).data());
  for (const auto& [point, host] : ring) {
    if (point >= hash) return host;
  }
  return ring.front().second;
}

// --- Helpers over the picker under test.

std::vector<NaiveHost> Labels(int count, std::uint32_t weight = 1) {
  std::vector<NaiveHost> hosts;
  for (int i = 1; i <= count; ++i) {
    hosts.push_back({absl::StrCat("10.0.0.", i, ":11434"), weight});
  }
  return hosts;
}

FakePool PoolOf(const std::vector<NaiveHost>& hosts) {
  FakePool pool;
  for (const NaiveHost& h : hosts) pool.Add("backend-" + h.label, h.weight, h.label);
  return pool;
}

std::string Key(int i) { return absl::StrCat("key-", i); }

// The name of the host each of keys 0..count-1 maps to.
std::vector<std::string> Owners(const KetamaPicker& picker, const FakePool& pool, int count,
                                const HostMask* excluded = nullptr) {
  std::vector<std::string> owners;
  owners.reserve(count);
  for (int i = 0; i < count; ++i) {
    const std::string key = Key(i);
    const PickResult r = picker.Pick(PickContext{key, excluded, 0});
    owners.push_back(r.has_host() ? pool.name(r.index) : "-");
  }
  return owners;
}

std::map<std::string, int> Shares(const std::vector<std::string>& owners) {
  std::map<std::string, int> shares;
  for (const std::string& owner : owners) shares[owner]++;
  return shares;
}

// Index of the first ring point at or after `key`'s hash, wrapping.
std::size_t StartOf(const Ring& ring, std::string_view key) {
  const std::uint32_t hash = KetamaPicker::HashKey(key);
  const auto it = std::lower_bound(ring.begin(), ring.end(), std::make_pair(hash, 0u));
  return it == ring.end() ? 0 : static_cast<std::size_t>(it - ring.begin());
}

// The hosts met walking clockwise from `key`, each once, in order.
std::vector<std::uint32_t> DistinctHostsClockwise(const Ring& ring, std::string_view key) {
  std::vector<std::uint32_t> hosts;
  const std::size_t start = StartOf(ring, key);
  for (std::size_t step = 0; step < ring.size(); ++step) {
    const std::uint32_t host = ring[(start + step) % ring.size()].second;
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
  }
  return hosts;
}

// --- The ring itself.

TEST_CASE("ketama gives each of 3 equal hosts 40 digests, 160 points", "[balancer]") {
  const FakePool pool = PoolOf(Labels(3));
  const Ring ring = KetamaPicker(pool.hosts()).Ring();
  REQUIRE(ring.size() == 480);
  std::map<std::uint32_t, int> per_host;
  for (const auto& [point, host] : ring) per_host[host]++;
  CHECK(per_host == std::map<std::uint32_t, int>{{0, 160}, {1, 160}, {2, 160}});
}

TEST_CASE("the ketama ring equals a straightforward libketama construction, point for point",
          "[balancer]") {
  const std::vector<NaiveHost> hosts = {
      {"10.0.0.1:11434", 1}, {"10.0.0.2:11434", 3}, {"gpu-box-7", 10}, {"[2001:db8::1]:11434", 2}};
  const FakePool pool = PoolOf(hosts);
  CHECK(KetamaPicker(pool.hosts()).Ring() == NaiveRing(hosts));
}

TEST_CASE("ketama floors a host's share the way libketama's float arithmetic does", "[balancer]") {
  // (float)(1/61) * 40.0 * 61 is 39.9999978 as a double and stays below 40 as a float: each of
  // 61 equal servers gets 39 digests, not 40.
  const FakePool sixty_one = PoolOf(Labels(61));
  CHECK(KetamaPicker(sixty_one.hosts()).Ring().size() == 61 * 39 * 4);
  CHECK(NaiveRing(Labels(61)).size() == 61 * 39 * 4);
  // (float)(1/25) * 40.0 * 25 is 39.9999991 as a double but rounds to 40.0f on its way into
  // floorf: 40 digests each. Flooring the double would give 39 and disagree with libketama.
  const FakePool twenty_five = PoolOf(Labels(25));
  CHECK(KetamaPicker(twenty_five.hosts()).Ring().size() == 25 * 40 * 4);
  CHECK(NaiveRing(Labels(25)).size() == 25 * 40 * 4);
}

TEST_CASE("ketama hashes a key to the first 4 bytes of its MD5, little-endian", "[balancer]") {
  // MD5("") = d41d8cd98f00b204e9800998ecf8427e.
  CHECK(KetamaPicker::HashKey("") == 0xd98c1dd4u);
  CHECK(KetamaPicker::HashKey("user-1") == 1399904214u);
}

TEST_CASE("ketama maps these keys to these hosts on a fixed 3-host ring", "[balancer]") {
  // Expected owners computed independently with Python's hashlib.
  const FakePool pool = PoolOf(Labels(3));
  KetamaPicker picker(pool.hosts());
  auto owner = [&](std::string_view key) { return pool.name(picker.OwnerOf(key).index); };
  CHECK(owner("user-1") == "backend-10.0.0.1:11434");
  CHECK(owner("conversation-42") == "backend-10.0.0.3:11434");
  CHECK(owner("alpha") == "backend-10.0.0.2:11434");
  CHECK(owner("llama3:8b") == "backend-10.0.0.1:11434");
  CHECK(owner("session-7") == "backend-10.0.0.3:11434");
}

TEST_CASE("ketama agrees with the straightforward construction on 2,000 keys", "[balancer]") {
  for (const auto& hosts :
       {Labels(3), std::vector<NaiveHost>{{"a:1", 1}, {"b:2", 5}, {"c:3", 2}}}) {
    const FakePool pool = PoolOf(hosts);
    KetamaPicker picker(pool.hosts());
    const Ring naive = NaiveRing(hosts);
    for (int i = 0; i < 2000; ++i) {
      INFO(Key(i));
      REQUIRE(picker.OwnerOf(Key(i)).index == NaiveOwner(naive, Key(i)));
      REQUIRE(picker.Pick(PickContext{Key(i), nullptr, 0}).index == NaiveOwner(naive, Key(i)));
    }
  }
}

TEST_CASE("ketama hashes an empty key like any other string", "[balancer]") {
  const FakePool pool = PoolOf(Labels(3));
  KetamaPicker picker(pool.hosts());
  CHECK(pool.name(picker.Pick(PickContext{}).index) == "backend-10.0.0.3:11434");
  CHECK(picker.Pick(PickContext{}).index == picker.OwnerOf("").index);
}

TEST_CASE("ketama places a host by its hash label, not its name", "[balancer]") {
  FakePool named;
  named.Add("a", 1, "10.0.0.1:11434").Add("b", 1, "10.0.0.2:11434");
  FakePool renamed;
  renamed.Add("a-renamed", 1, "10.0.0.1:11434").Add("b-renamed", 1, "10.0.0.2:11434");
  FakePool unlabeled;
  unlabeled.Add("10.0.0.1:11434").Add("10.0.0.2:11434");
  const Ring ring = KetamaPicker(named.hosts()).Ring();
  CHECK(KetamaPicker(renamed.hosts()).Ring() == ring);
  CHECK(KetamaPicker(unlabeled.hosts()).Ring() == ring);
}

// --- Distribution and movement.

TEST_CASE("ketama spreads 100,000 keys over 10 equal hosts within 25% of the mean", "[balancer]") {
  const FakePool pool = PoolOf(Labels(10));
  KetamaPicker picker(pool.hosts());
  const auto shares = Shares(Owners(picker, pool, 100000));
  REQUIRE(shares.size() == 10);
  for (const auto& [host, count] : shares) {
    INFO(host);
    CHECK(count > 7500);
    CHECK(count < 12500);
  }
}

TEST_CASE("adding an 11th host moves 6-12% of keys, all of them onto the new host", "[balancer]") {
  const FakePool ten = PoolOf(Labels(10));
  const FakePool eleven = PoolOf(Labels(11));
  const auto before = Owners(KetamaPicker(ten.hosts()), ten, 100000);
  const auto after = Owners(KetamaPicker(eleven.hosts()), eleven, 100000);
  int moved = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    INFO(Key(static_cast<int>(i)) << " moved from " << before[i]);
    REQUIRE(after[i] == "backend-10.0.0.11:11434");
  }
  CHECK(moved > 6000);
  CHECK(moved < 12000);
}

TEST_CASE("removing a host moves only the keys it owned", "[balancer]") {
  std::vector<NaiveHost> hosts = Labels(10);
  const FakePool all = PoolOf(hosts);
  hosts.erase(hosts.begin() + 3);
  const FakePool without = PoolOf(hosts);
  const auto before = Owners(KetamaPicker(all.hosts()), all, 100000);
  const auto after = Owners(KetamaPicker(without.hosts()), without, 100000);
  int moved = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    INFO(Key(static_cast<int>(i)));
    REQUIRE(before[i] == "backend-10.0.0.4:11434");
  }
  CHECK(moved == Shares(before).at("backend-10.0.0.4:11434"));
}

TEST_CASE("doubling one host's weight doubles its share of keys", "[balancer]") {
  std::vector<NaiveHost> hosts = Labels(10);
  hosts[0].weight = 2;
  const FakePool pool = PoolOf(hosts);
  const auto shares = Shares(Owners(KetamaPicker(pool.hosts()), pool, 100000));
  const double doubled = shares.at("backend-10.0.0.1:11434");
  const double others_mean = (100000 - doubled) / 9;
  INFO("doubled " << doubled << ", others' mean " << others_mean);
  CHECK(doubled / others_mean > 1.7);
  CHECK(doubled / others_mean < 2.3);
}

// --- Exclusions.

TEST_CASE("excluding a host moves only its keys, each to the next distinct host clockwise",
          "[balancer]") {
  const FakePool pool = PoolOf(Labels(10));
  KetamaPicker picker(pool.hosts());
  const Ring ring = picker.Ring();
  HostMask excluded(10);
  excluded.Set(6);
  int moved = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string key = Key(i);
    const std::size_t owner = picker.OwnerOf(key).index;
    const std::size_t picked = picker.Pick(PickContext{key, &excluded, 0}).index;
    INFO(key);
    if (owner != 6) {
      REQUIRE(picked == owner);
      continue;
    }
    ++moved;
    const auto clockwise = DistinctHostsClockwise(ring, key);
    REQUIRE(clockwise[0] == 6);
    REQUIRE(picked == clockwise[1]);
  }
  CHECK(moved > 1000);
}

TEST_CASE("with several hosts excluded a key goes to the first available host clockwise",
          "[balancer]") {
  const FakePool pool = PoolOf(Labels(5));
  KetamaPicker picker(pool.hosts());
  const Ring ring = picker.Ring();
  const std::string key = "conversation-42";
  const auto clockwise = DistinctHostsClockwise(ring, key);
  REQUIRE(clockwise.size() == 5);
  HostMask excluded(5);
  excluded.Set(clockwise[0]);
  excluded.Set(clockwise[1]);
  excluded.Set(clockwise[2]);
  CHECK(picker.Pick(PickContext{key, &excluded, 0}).index == clockwise[3]);
}

TEST_CASE("ketama returns no host when every host is excluded or the pool is empty", "[balancer]") {
  const FakePool pool = PoolOf(Labels(3));
  HostMask all(3);
  for (std::size_t i = 0; i < 3; ++i) all.Set(i);
  CHECK_FALSE(KetamaPicker(pool.hosts()).Pick(PickContext{"k", &all, 0}).has_host());
  CHECK_FALSE(KetamaPicker(pool.hosts(), 1.25).Pick(PickContext{"k", &all, 0}).has_host());
  KetamaPicker empty(FakePool().hosts());
  CHECK_FALSE(empty.Pick(PickContext{"k", nullptr, 0}).has_host());
  CHECK_FALSE(empty.OwnerOf("k").has_host());
  CHECK(empty.Ring().empty());
}

TEST_CASE("a host too light for a ring point serves only when every ring host is excluded",
          "[balancer]") {
  // 1/1001 of the weight, times 40 * 2, floors to 0 digests.
  FakePool pool;
  pool.Add("big", 1000).Add("tiny", 1);
  KetamaPicker picker(pool.hosts());
  for (const auto& [point, host] : picker.Ring()) REQUIRE(host == 0);
  CHECK(picker.Pick(PickContext{"k", nullptr, 0}).index == 0);
  HostMask excluded(2);
  excluded.Set(0);
  CHECK(picker.Pick(PickContext{"k", &excluded, 0}).index == 1);
}

// --- Bounded load.

TEST_CASE("without a load bound a key stays on its owner however busy", "[balancer]") {
  FakePool pool = PoolOf(Labels(3));
  KetamaPicker picker(pool.hosts());
  const std::size_t owner = picker.OwnerOf("conversation-42").index;
  pool.SetInFlight(owner, 1000);
  CHECK(picker.Pick(PickContext{"conversation-42", nullptr, 0}).index == owner);
}

TEST_CASE("bounded load sends a hot key past its overloaded owner to the next host clockwise",
          "[balancer]") {
  FakePool pool = PoolOf(Labels(3));
  KetamaPicker picker(pool.hosts(), 1.25);
  const std::string key = "conversation-42";
  const auto clockwise = DistinctHostsClockwise(picker.Ring(), key);
  // 10 in flight against a cap of ceil(1.25 * 11 / 3) = 5.
  pool.SetInFlight(clockwise[0], 10);
  CHECK(picker.Pick(PickContext{key, nullptr, 0}).index == clockwise[1]);
  // The next host busy but under the cap: total 15, cap ceil(1.25 * 16 / 3) = 7, 5 + 1 fits.
  pool.SetInFlight(clockwise[1], 5);
  CHECK(picker.Pick(PickContext{key, nullptr, 0}).index == clockwise[1]);
  // Over it as well: total 18, cap ceil(1.25 * 19 / 3) = 8, 8 + 1 does not fit; onward again.
  pool.SetInFlight(clockwise[1], 8);
  CHECK(picker.Pick(PickContext{key, nullptr, 0}).index == clockwise[2]);
}

TEST_CASE("bounded load keeps a key on its owner while the owner is under the cap", "[balancer]") {
  FakePool pool = PoolOf(Labels(3));
  KetamaPicker picker(pool.hosts(), 1.25);
  const std::string key = "conversation-42";
  const std::size_t owner = picker.OwnerOf(key).index;
  for (std::size_t i = 0; i < 3; ++i) pool.SetInFlight(i, 4);
  // Total 12, cap ceil(1.25 * 13 / 3) = 6: 4 + 1 fits.
  CHECK(picker.Pick(PickContext{key, nullptr, 0}).index == owner);
}

TEST_CASE("bounded load never spills onto an excluded host", "[balancer]") {
  FakePool pool = PoolOf(Labels(3));
  KetamaPicker picker(pool.hosts(), 1.25);
  const std::string key = "conversation-42";
  const auto clockwise = DistinctHostsClockwise(picker.Ring(), key);
  pool.SetInFlight(clockwise[0], 10);
  HostMask excluded(3);
  excluded.Set(clockwise[1]);
  // Over two available hosts: cap ceil(1.25 * 11 / 2) = 7, owner over it.
  CHECK(picker.Pick(PickContext{key, &excluded, 0}).index == clockwise[2]);
}

TEST_CASE("bounded load keeps a key on its owner when that is the only available host",
          "[balancer]") {
  FakePool pool = PoolOf(Labels(3));
  KetamaPicker picker(pool.hosts(), 1.25);
  const std::string key = "conversation-42";
  const auto clockwise = DistinctHostsClockwise(picker.Ring(), key);
  pool.SetInFlight(clockwise[0], 50);
  HostMask excluded(3);
  excluded.Set(clockwise[1]);
  excluded.Set(clockwise[2]);
  CHECK(picker.Pick(PickContext{key, &excluded, 0}).index == clockwise[0]);
}

}  // namespace
}  // namespace og::balancer
