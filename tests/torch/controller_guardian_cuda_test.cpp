// Guardian's GPU parse (src/kernels/lz77.cu) against the CPU reference (core/lz77.h): every check of random
// and repetitive outputs up to 128k tokens must give the same totals, C and stop flag. Needs a CUDA build
// and a GPU; skipped with a warning otherwise.
#include "catch_torch.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <random>
#include <vector>

#include "core/lz77.h"
#include "runtime/controller_guardian.h"
#include "runtime/controller_guardian_cuda.h"
#include "controller_test_support.h"

namespace {

bool cuda_ready() {
  if (!lil::Lz77CudaMeter::available()) {
    WARN("skipped: this build has no CUDA kernels (LIL_WITH_CUDA is off)");
    return false;
  }
  if (!at::hasCUDA()) {
    WARN("skipped: no CUDA device");
    return false;
  }
  return true;
}

std::vector<int32_t> random_tokens(size_t n, int32_t vocabulary, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocabulary));
  return out;
}

// Loops with drift: motifs of up to 400 tokens repeated with rare substitutions, between fresh stretches.
std::vector<int32_t> repetitive_tokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> out;
  std::vector<int32_t> motif = random_tokens(1 + rng() % 400, 3000, rng());
  while (out.size() < n) {
    switch (rng() % 6) {
      case 0: motif = random_tokens(1 + rng() % 400, 3000, rng()); break;
      case 1: out.push_back(static_cast<int32_t>(rng() % 3000)); break;
      default:
        for (int32_t t : motif) out.push_back(rng() % 61 == 0 ? static_cast<int32_t>(rng() % 3000) : t);
    }
  }
  out.resize(n);
  return out;
}

// Appends all rows step by step on the device and compares every check with per-row CPU parsers.
void compare_with_reference(const std::vector<std::vector<int32_t>>& rows, int64_t every,
                            const lil::Lz77Params& params, double threshold) {
  const auto batch = static_cast<int64_t>(rows.size());
  const auto steps = static_cast<int64_t>(rows[0].size());
  std::vector<int64_t> by_step(static_cast<size_t>(steps * batch));
  for (int64_t s = 0; s < steps; ++s) {
    for (int64_t r = 0; r < batch; ++r) by_step[static_cast<size_t>(s * batch + r)] = rows[static_cast<size_t>(r)][static_cast<size_t>(s)];
  }
  const at::Tensor tokens = at::tensor(by_step, at::kLong).reshape({steps, batch}).to(at::kCUDA);
  const at::Tensor active = at::ones({batch}, at::TensorOptions().dtype(at::kBool).device(at::kCUDA));
  lil::Lz77CudaMeter meter(params, threshold, batch, steps, at::Device(at::kCUDA, 0));
  std::vector<lil::Lz77Parser> parsers(static_cast<size_t>(batch), lil::Lz77Parser(params));
  std::vector<int64_t> previous(static_cast<size_t>(batch), 0);
  std::vector<int64_t> all_rows(static_cast<size_t>(batch));
  for (int64_t r = 0; r < batch; ++r) all_rows[static_cast<size_t>(r)] = r;
  int64_t compared = 0;
  for (int64_t s = 0; s < steps; ++s) {
    meter.append(tokens[s], active);
    if ((s + 1) % every != 0) continue;
    const auto readings = meter.check(all_rows, every);
    for (int64_t r = 0; r < batch; ++r) {
      auto& parser = parsers[static_cast<size_t>(r)];
      parser.append_block(rows[static_cast<size_t>(r)].data() + (s + 1 - every), static_cast<size_t>(every));
      const int64_t cost = parser.compressed_length();
      const bool fired = static_cast<double>(cost - previous[static_cast<size_t>(r)]) < threshold;
      previous[static_cast<size_t>(r)] = cost;
      const auto& got = readings[static_cast<size_t>(r)];
      INFO("row " << r << ", check at " << s + 1 << " of " << steps << " tokens, every " << every);
      REQUIRE(got.length == s + 1);
      REQUIRE(got.literals == parser.totals().literals);
      REQUIRE(got.matches == parser.totals().matches);
      REQUIRE(got.matched_tokens == parser.totals().matched_tokens);
      REQUIRE(got.cost == cost);
      REQUIRE(got.fired == fired);
      ++compared;
    }
  }
  CHECK(compared == batch * (steps / every));
}

}  // namespace

TEST_CASE("guardian cuda: the GPU parse equals the CPU reference at every check", "[controller][guardian][cuda]") {
  if (!cuda_ready()) return;
  for (int64_t n : {1024, 8192, 32768, 131072}) {
    INFO(n << " tokens");
    const std::vector<std::vector<int32_t>> rows = {
        random_tokens(static_cast<size_t>(n), 150000, 1), random_tokens(static_cast<size_t>(n), 4, 2),
        repetitive_tokens(static_cast<size_t>(n), 3), std::vector<int32_t>(static_cast<size_t>(n), 7),
        repetitive_tokens(static_cast<size_t>(n), 4)};
    compare_with_reference(rows, 250, lil::Lz77Params{}, 20);
  }
}

TEST_CASE("guardian cuda: other LZ77 parameters and check intervals", "[controller][guardian][cuda]") {
  if (!cuda_ready()) return;
  lil::Lz77Params wide;
  wide.min_match = 2;
  wide.max_match = 1000;
  wide.literal_cost = 1;
  wide.match_cost = 5;
  const std::vector<std::vector<int32_t>> rows = {random_tokens(8192, 3, 5), repetitive_tokens(8192, 6)};
  compare_with_reference(rows, 1000, wide, 7.5);
  compare_with_reference(rows, 1, lil::Lz77Params{}, 20);
  compare_with_reference(rows, 7, wide, 3);
  lil::Lz77Params single;
  single.min_match = 1;
  single.max_match = 1;
  compare_with_reference(rows, 250, single, 20);
}

TEST_CASE("guardian cuda: the controller stops the same rows at the same steps on the GPU",
          "[controller][guardian][cuda]") {
  if (!cuda_ready()) return;
  using lil::test::concat;
  using lil::test::repeat;
  const std::vector<std::vector<int32_t>> rows = {
      concat(random_tokens(3000, 150000, 7), repeat(random_tokens(300, 150000, 8), 20)), random_tokens(9000, 150000, 9),
      repetitive_tokens(9000, 10)};
  lil::GuardianOptions cpu_options;
  cpu_options.device = lil::ComputeDevice::Cpu;
  lil::GuardianOptions gpu_options;
  gpu_options.device = lil::ComputeDevice::Cuda;
  lil::GuardianController cpu(cpu_options), gpu(gpu_options);
  const auto expected = lil::test::drive(cpu, rows);
  const auto got = lil::test::drive(gpu, rows, nullptr, {}, at::Device(at::kCUDA, 0));
  CHECK(gpu.on_gpu());
  CHECK(expected.stop_step[0] > 3000);
  CHECK(got.stop_step == expected.stop_step);
  for (size_t r = 0; r < rows.size(); ++r) {
    REQUIRE(got.checks[r].size() == expected.checks[r].size());
    for (size_t k = 0; k < got.checks[r].size(); ++k) {
      CHECK(got.checks[r][k].step == expected.checks[r][k].step);
      CHECK(got.checks[r][k].signal == expected.checks[r][k].signal);
      CHECK(got.checks[r][k].fired == expected.checks[r][k].fired);
    }
  }
}
