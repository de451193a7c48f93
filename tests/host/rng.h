/* rng.h - the seeded xorshift32 generator the host benchmarks share, so their traces are the
 * same on every run and every machine. */
#ifndef RNG_H
#define RNG_H

#include <stdint.h>

static inline uint32_t xorshift32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

#endif
