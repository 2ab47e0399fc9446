/* util/rng.c — xoshiro256** with splitmix64 seeding, and seed derivation. */
#include <math.h>

#include "util.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void seal_rng_seed(seal_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t seal_rng_u64(seal_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double seal_rng_uniform(seal_rng *r) { return (double)(seal_rng_u64(r) >> 11) * 0x1.0p-53; }

double seal_rng_normal(seal_rng *r) {
  double u1 = seal_rng_uniform(r), u2 = seal_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t seal_seed_derive(uint64_t parent, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  uint64_t x = parent;
  uint64_t h = splitmix64(&x);
  uint64_t parts[4] = {a, b, c, d};
  for (int i = 0; i < 4; i++) {
    x = h ^ (parts[i] + 0x632be59bd9b4e019ULL * (uint64_t)(i + 1));
    h = splitmix64(&x);
  }
  return h;
}

uint64_t seal_fnv1a(const void *data, size_t n, uint64_t h) {
  const unsigned char *p = data;
  if (h == 0) h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
