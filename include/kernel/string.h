/* string.h - the mem* functions the stub kernel (and gcc's generated code) needs.
 * The heap module does not use these. */
#ifndef KERNEL_STRING_H
#define KERNEL_STRING_H

#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* Non-zero when the space-separated word occurs in s. */
int has_word(const char *s, const char *word);

#endif
