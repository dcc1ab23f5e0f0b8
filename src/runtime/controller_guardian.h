#pragma once
// Guardian, the study's early-stop rule: every `every` generated tokens (the study's f = 250), take C, the
// compressed length of everything the row generated so far; stop the row when C grew by less than
// `threshold` (the study's t = 20) since its previous check (C = 0 before the first). Repetitive output
// compresses well, so its C stops growing.
//
// This file measures C with the token-level LZ77 of core/lz77.h, each check's new tokens being one block.
// On a CUDA model (device=auto or cuda, and a CUDA build) the parse and the rule run on the GPU
// (controller_guardian_cuda.h): tokens are appended on the device every step and the host reads one small
// state row per checked sequence at a check. Otherwise the CPU parser reads the ids the engine hands to
// `check`. Both give the same C (tests/torch/controller_guardian_cuda_test.cpp).
// The text-level variant is controller_guardian_text.h.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/lz77.h"
#include "runtime/controller.h"

namespace lil {

class Lz77CudaMeter;

// C must grow by at least `threshold` between checks.
class GrowthRule {
 public:
  explicit GrowthRule(double threshold = 20) : threshold_(threshold) {}
  double threshold() const { return threshold_; }
  // The decision for one check given C at the previous check (0 before the first).
  bool fires(double previous, double now) const { return now - previous < threshold_; }

 private:
  double threshold_;
};

enum class ComputeDevice { Auto, Cpu, Cuda };

struct GuardianOptions {
  int64_t every = 250;
  double threshold = 20;
  Lz77Params lz77;
  ComputeDevice device = ComputeDevice::Auto;  // Auto: the GPU parse when the model's tokens are on a GPU
};

class GuardianController : public StopController {
 public:
  explicit GuardianController(const GuardianOptions& options);
  ~GuardianController() override;

  std::string name() const override { return "guardian"; }
  int64_t check_every() const override { return options_.every; }
  void reset(const ControllerContext& context) override;
  void observe(const at::Tensor& tokens, const at::Tensor& logits, const at::Tensor& active) override;
  std::vector<ControllerCheck> check(const std::vector<bool>& should_check,
                                     const std::vector<std::vector<int32_t>>& generated) override;

  // True once the GPU parse has taken over (after the first observe of CUDA tokens).
  bool on_gpu() const { return cuda_meter_ != nullptr; }

 private:
  std::vector<ControllerCheck> check_on_cpu(const std::vector<bool>& should_check,
                                            const std::vector<std::vector<int32_t>>& generated);
  std::vector<ControllerCheck> check_on_gpu(const std::vector<bool>& should_check,
                                            const std::vector<std::vector<int32_t>>& generated);

  GuardianOptions options_;
  GrowthRule rule_;
  ControllerContext context_;
  std::vector<Lz77Parser> parsers_;      // CPU path, one per row
  std::vector<int64_t> previous_cost_;   // CPU path: C at the row's previous check
  std::vector<int64_t> checked_length_;  // tokens covered by the row's previous check
  std::unique_ptr<Lz77CudaMeter> cuda_meter_;
};

}  // namespace lil
