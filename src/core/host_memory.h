#pragma once

namespace lil {

// Keeps the memory LibTorch's CPU tensors free inside the process for the next allocation, instead of handing it
// back to the kernel: glibc's malloc maps every block above its mmap threshold (at most 32 MB) afresh and unmaps
// it on free, and trims the heap top, so each large tensor (a prefill's score tile, a batch's activations)
// page-faults in again on every allocation. Measured on the 2-core development machine (results/cpu/README.md):
// `lil bench --shape tiny --context 4096` TTFT 19.1 s with glibc's defaults, 5.2 s with them kept in the heap.
// The cost: the resident set stays at its high-water mark, and that mark is higher (1.20 GB against 0.97 GB
// there: freed blocks inside the heap are reused only by requests they fit). LIL_HOST_MALLOC=system leaves glibc's
// defaults. Call before the first allocation that matters (first thing in main); returns whether this call
// applied the settings.
bool keep_freed_host_memory();

// Whether a keep_freed_host_memory() call applied them in this process (lil bench reports "host_malloc": "kept"
// or "system"; "system" also under AddressSanitizer, whose allocator ignores mallopt).
bool host_memory_kept();

}  // namespace lil
