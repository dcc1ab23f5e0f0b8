#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include "core/host_memory.h"

// The test binaries allocate as lil does (src/cli/main.cpp): freed CPU tensor memory stays in the heap.
[[maybe_unused]] static const bool kHostMemoryKept = lil::keep_freed_host_memory();
