#pragma once
// Include this instead of <catch2/catch.hpp> in every torch test: LibTorch's c10 logging defines its own
// CHECK(cond) macro, which would silently replace Catch's CHECK (a failing check would then abort instead of
// being reported, and passing ones would not be counted). Torch headers first, then Catch's CHECK.
#include <ATen/ATen.h>
#undef CHECK
#include <catch2/catch.hpp>
