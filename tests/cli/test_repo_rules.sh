#!/usr/bin/env bash
# House rules that keep the build fast and the tests honest (../shared/STYLE.md).
. "$(dirname "$0")/lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# c10 defines CHECK(); a torch test that includes Catch directly would have its CHECKs silently replaced.
bad=$(grep -l "catch2/catch.hpp" tests/torch/*.cpp 2>/dev/null || true)
[[ -z "$bad" ]] || fail "torch tests must include catch_torch.h, not catch2/catch.hpp: $bad"
# <torch/torch.h> costs ~1 min per translation unit: never in a header, and nowhere in CUDA sources.
bad=$(grep -l "torch/torch.h" $(git ls-files '*.h' '*.cu' '*.cuh') 2>/dev/null || true)
[[ -z "$bad" ]] || fail "<torch/torch.h> in a header or CUDA file: $bad"
bad=$(grep -lE "#include <(ATen|torch|c10)/" $(git ls-files 'src/kernels/*') 2>/dev/null || true)
[[ -z "$bad" ]] || fail "CUDA kernels take raw pointers; no torch headers: $bad"
# The torch-free libraries stay torch-free.
bad=$(grep -lE "#include <(ATen|torch|c10)/" $(git ls-files 'src/core/*' 'src/tokenizer/*' 'datasets/*') 2>/dev/null || true)
[[ -z "$bad" ]] || fail "torch headers in torch-free code: $bad"
# Every registered policy has its own file.
for p in $(grep -oE '^ *\{"[a-z0-9_]+",' policies/registry.cpp | grep -oE '[a-z0-9_]+'); do
  [[ -f "policies/$p.cpp" ]] || fail "policy '$p' has no policies/$p.cpp"
done
echo "repo rules hold"
