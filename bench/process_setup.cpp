// Set-up of the lil_bench process before Google Benchmark's main runs: it allocates as lil does
// (src/cli/main.cpp), freed CPU tensor memory kept in the heap (core/host_memory.h).
#include "core/host_memory.h"

namespace {
[[maybe_unused]] const bool kHostMemoryKept = lil::keep_freed_host_memory();
}  // namespace
