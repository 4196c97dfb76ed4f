// The csign tool: HMAC-SHA256 under a key from a secret (see wit/csign.wit).
// The key is the environment variable SIGNING_KEY, which weld sets only
// because the policy grants it from the secret store.
//
// wit-bindgen generates csign.h; arguments are the callee's to free,
// results are malloc'ed, and a `result<T, E>` is a bool with *ret or *err.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csign.h"

// SHA-256 (FIPS 180-4).
typedef struct {
  uint32_t h[8];
  uint8_t block[64];
  size_t used;
  uint64_t total;
} sha256_t;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256_t *s, const uint8_t *p) {
  uint32_t w[64], a, b, c, d, e, f, g, h;
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
  e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
  s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(sha256_t *s) {
  static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, H0, sizeof H0);
  s->used = 0;
  s->total = 0;
}

static void sha256_update(sha256_t *s, const uint8_t *p, size_t len) {
  s->total += len;
  while (len--) {
    s->block[s->used++] = *p++;
    if (s->used == 64) {
      sha256_block(s, s->block);
      s->used = 0;
    }
  }
}

static void sha256_final(sha256_t *s, uint8_t out[32]) {
  uint64_t bits = s->total * 8;
  uint8_t pad = 0x80, zero = 0, len[8];
  sha256_update(s, &pad, 1);
  while (s->used != 56) sha256_update(s, &zero, 1);
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_update(s, len, 8);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(s->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)s->h[i];
  }
}

// HMAC (RFC 2104) with SHA-256.
static void hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                        uint8_t out[32]) {
  uint8_t k[64] = {0}, pad[64], inner[32];
  sha256_t s;
  if (key_len > 64) {
    sha256_init(&s);
    sha256_update(&s, key, key_len);
    sha256_final(&s, k);
  } else {
    memcpy(k, key, key_len);
  }
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  sha256_init(&s);
  sha256_update(&s, pad, 64);
  sha256_update(&s, msg, len);
  sha256_final(&s, inner);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  sha256_init(&s);
  sha256_update(&s, pad, 64);
  sha256_update(&s, inner, 32);
  sha256_final(&s, out);
}

// The key, or NULL after setting *err to what to do.
static const char *signing_key(csign_string_t *err) {
  const char *key = getenv("SIGNING_KEY");
  if (!key || !*key) {
    csign_string_dup(err,
                     "no signing key: set it with `weld secret set csign SIGNING_KEY` (the "
                     "policy grants SIGNING_KEY from the secret store)");
    return NULL;
  }
  return key;
}

static void to_hex(const uint8_t mac[32], char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    hex[2 * i] = digits[mac[i] >> 4];
    hex[2 * i + 1] = digits[mac[i] & 15];
  }
  hex[64] = '\0';
}

bool exports_csign_sign(csign_string_t *text, csign_string_t *ret, csign_string_t *err) {
  const char *key = signing_key(err);
  if (!key) {
    csign_string_free(text);
    return false;
  }
  uint8_t mac[32];
  char hex[65];
  hmac_sha256((const uint8_t *)key, strlen(key), text->ptr, text->len, mac);
  csign_string_free(text);
  to_hex(mac, hex);
  csign_string_dup(ret, hex);
  return true;
}

bool exports_csign_verify(csign_string_t *text, csign_string_t *signature, bool *ret,
                          csign_string_t *err) {
  const char *key = signing_key(err);
  bool ok = key != NULL;
  if (ok) {
    uint8_t mac[32];
    char hex[65];
    hmac_sha256((const uint8_t *)key, strlen(key), text->ptr, text->len, mac);
    to_hex(mac, hex);
    // Constant time over the expected length; a wrong length is a mismatch.
    uint8_t diff = signature->len != 64;
    for (size_t i = 0; i < 64; i++) {
      uint8_t c = i < signature->len ? signature->ptr[i] : 0;
      if (c >= 'A' && c <= 'F') c = (uint8_t)(c - 'A' + 'a');
      diff |= (uint8_t)(c ^ (uint8_t)hex[i]);
    }
    *ret = diff == 0;
  }
  csign_string_free(text);
  csign_string_free(signature);
  return ok;
}
