#include "frame_tag.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <xxhash.h>

#include <cstdio>
#include <cstdlib>

#include "wire.h"

namespace ftvm::channel {
namespace {

FrameTag hmac_tag(std::span<const uint8_t> key, std::span<const uint8_t> covered) {
  FrameTag tag{};
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), covered.data(), covered.size(),
           tag.data(), &length) == nullptr ||
      length != tag.size()) {
    // Only a broken OpenSSL installation gets here; sending an unverifiable frame would be
    // worse than stopping.
    std::fprintf(stderr, "ftvm: OpenSSL failed to compute HMAC-SHA256\n");
    std::abort();
  }
  return tag;
}

FrameTag checksum_tag(std::span<const uint8_t> covered) {
  const XXH128_hash_t hash = XXH3_128bits(covered.data(), covered.size());
  FrameTag tag{};
  store_le(tag.data(), hash.low64);
  store_le(tag.data() + 8, hash.high64);
  return tag;
}

}  // namespace

FrameTag compute_tag(const FrameKey& key, std::span<const uint8_t> covered) {
  return key.authenticated() ? hmac_tag(key.bytes(), covered) : checksum_tag(covered);
}

bool tags_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ftvm::channel
