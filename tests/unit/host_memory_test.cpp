#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/host_memory.h"

#if defined(__SANITIZE_ADDRESS__)
#define LIL_TEST_OWN_ALLOCATOR 1  // ASan's allocator replaces glibc's malloc; mallopt does not reach it
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIL_TEST_OWN_ALLOCATOR 1
#endif
#endif

TEST_CASE("Freed host memory stays in the heap: large blocks get no mapping of their own", "[host_memory]") {
  const char* saved = std::getenv("LIL_HOST_MALLOC");
  const std::string restore = saved != nullptr ? saved : "";
  ::setenv("LIL_HOST_MALLOC", "system", 1);
  CHECK_FALSE(lil::keep_freed_host_memory());  // the knob leaves glibc's defaults alone
  ::unsetenv("LIL_HOST_MALLOC");
#if defined(__GLIBC__) && !defined(LIL_TEST_OWN_ALLOCATOR)
  REQUIRE(lil::keep_freed_host_memory());
  CHECK(lil::host_memory_kept());
  // 64 MB is above glibc's largest mmap threshold (32 MB): by default it is a mapping of its own (hblks).
  const struct mallinfo2 before = mallinfo2();
  void* block = std::malloc(64u << 20);
  REQUIRE(block != nullptr);
  std::memset(block, 1, 64u << 20);
  const struct mallinfo2 during = mallinfo2();
  std::free(block);
  CHECK(during.hblks == before.hblks);
  CHECK(during.hblkhd == before.hblkhd);
  // Freed, it stays the process's: the heap is not trimmed below it.
  const struct mallinfo2 after = mallinfo2();
  CHECK(after.arena >= (64u << 20));
#endif
  if (saved != nullptr) ::setenv("LIL_HOST_MALLOC", restore.c_str(), 1);
}
