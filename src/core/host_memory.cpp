#include "core/host_memory.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lil {
namespace {
std::atomic<bool> kept{false};
}  // namespace

bool host_memory_kept() { return kept.load(); }

bool keep_freed_host_memory() {
  const char* mode = std::getenv("LIL_HOST_MALLOC");
  if (mode != nullptr && std::strcmp(mode, "system") == 0) return false;
#if defined(__GLIBC__)
  // No block gets a mapping of its own (large ones come from the heap, which arenas other than the main one fall
  // back to), and the heap top is never trimmed: freed pages stay mapped for the next tensor.
  const bool no_mmap = mallopt(M_MMAP_MAX, 0) == 1;
  const bool applied = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && no_mmap;  // int: 1 GiB of free top before a trim
  if (applied) kept.store(true);
  return applied;
#else
  return false;
#endif
}

}  // namespace lil
