// memcpy, memmove, memset and memcmp: the compiler may emit calls to them even in freestanding
// code (struct copies, zero-initialization), and there is no libc.
//
// The copies use `rep movsb`/`rep stosb` (fast on current CPUs, and registers only: no SSE).
// This file is built with -fno-tree-loop-distribute-patterns so GCC cannot turn memcmp's loop
// back into a library call.

#include <stddef.h>

extern "C" {

void* memcpy(void* dest, const void* src, size_t n) {
  void* d = dest;
  asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
  return dest;
}

void* memmove(void* dest, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d <= s || d >= s + n) return memcpy(dest, src, n);
  // Overlapping with dest above src: copy backwards, from the last byte down (DF = 1), and
  // restore DF = 0, which the ABI requires everywhere else.
  d += n - 1;
  s += n - 1;
  asm volatile("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return dest;
}

void* memset(void* dest, int value, size_t n) {
  void* d = dest;
  asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(value) : "memory");
  return dest;
}

int memcmp(const void* a, const void* b, size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

}  // extern "C"
