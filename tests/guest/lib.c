/* Freestanding C library of the test guest. Plain loops only: this code
 * also runs at CPL0, which the PVM host emulates instruction by instruction,
 * so no string instructions or SIMD (see ENVIRONMENT.md). */
#include "lib.h"

void *memset(void *dst, int c, size_t n) {
  volatile uint8_t *d = dst; /* volatile: keeps gcc from calling memset */
  for (size_t i = 0; i < n; i++) d[i] = (uint8_t)c;
  return dst;
}

void *memcpy(void *dst, const void *src, size_t n) {
  volatile uint8_t *d = dst;
  const uint8_t *s = src;
  for (size_t i = 0; i < n; i++) d[i] = s[i];
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

int strncmp(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (a[i] != b[i]) return (uint8_t)a[i] < (uint8_t)b[i] ? -1 : 1;
    if (!a[i]) return 0;
  }
  return 0;
}

bool parse_u64(const char *s, size_t len, uint64_t *out) {
  if (len == 0 || len > 19) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

struct out {
  char *buf;
  size_t size, len;
};

static void put(struct out *o, char c) {
  if (o->len + 1 < o->size) o->buf[o->len++] = c;
}

static void put_number(struct out *o, uint64_t v, unsigned base, int width, bool negative) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  if (negative) put(o, '-');
  for (int i = n; i < width; i++) put(o, '0');
  while (n) put(o, digits[--n]);
}

size_t vformat(char *buf, size_t size, const char *fmt, va_list ap) {
  struct out o = {buf, size, 0};
  for (const char *p = fmt; *p; p++) {
    if (*p != '%') {
      put(&o, *p);
      continue;
    }
    p++;
    int width = 0, precision = -1;
    while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
    if (p[0] == '.' && p[1] == '*') precision = va_arg(ap, int), p += 2;
    bool wide = false;
    while (*p == 'l') wide = true, p++;
    switch (*p) {
      case 's': {
        const char *s = va_arg(ap, const char *);
        for (int i = 0; *s && (precision < 0 || i < precision); s++, i++) put(&o, *s);
        break;
      }
      case 'c':
        put(&o, (char)va_arg(ap, int));
        break;
      case 'd': {
        int64_t v = wide ? va_arg(ap, int64_t) : va_arg(ap, int);
        put_number(&o, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, width, v < 0);
        break;
      }
      case 'u':
        put_number(&o, wide ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, width, false);
        break;
      case 'x':
        put_number(&o, wide ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, width, false);
        break;
      case 'p':
        put(&o, '0'), put(&o, 'x');
        put_number(&o, (uint64_t)va_arg(ap, void *), 16, 0, false);
        break;
      case '%':
        put(&o, '%');
        break;
      default:
        put(&o, '?');
        if (!*p) p--;
        break;
    }
  }
  if (size) buf[o.len] = 0;
  return o.len;
}

size_t format(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
