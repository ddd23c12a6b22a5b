/* Freestanding C library of the test guest: the mem/str functions gcc may
 * call, and a tiny snprintf. Shared by the CPL0 drivers and CPL3 code. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* %s (and %.*s) %c %d %u %x %p with optional 'l' (64-bit) and zero-padded width
 * ("%08x"). Always NUL-terminates; returns the length written. */
size_t vformat(char *buf, size_t size, const char *fmt, va_list ap);
size_t format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses an unsigned decimal; returns false on an empty or non-digit string. */
bool parse_u64(const char *s, size_t len, uint64_t *out);
