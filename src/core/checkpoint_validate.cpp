#include "core/checkpoint_validate.h"

#include <set>

#include "core/error.h"

namespace lil {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void validate_checkpoint(const ModelConfig& config, const Checkpoint& checkpoint) {
  const std::vector<ExpectedTensor> expected = expected_tensors(config);
  std::set<std::string> expected_names;
  for (const ExpectedTensor& e : expected) {
    expected_names.insert(e.name);
    const std::string where = checkpoint.dir() + ": tensor '" + e.name + "'";
    if (!checkpoint.has(e.name)) {
      if (e.optional) continue;
      fail_at(checkpoint.dir(), "tensor '" + e.name + "' is missing (expected shape " + shape_text(e.shape) +
                                    " for " + architecture_name(config.architecture) + ")");
    }
    const TensorView& view = checkpoint.get(e.name);
    if (view.shape != e.shape) {
      fail_at(where, "expected shape " + shape_text(e.shape) + ", got " + shape_text(view.shape));
    }
    if (view.dtype != DType::F32 && view.dtype != DType::F16 && view.dtype != DType::BF16) {
      fail_at(where, "expected dtype F32, F16 or BF16, got " + dtype_name(view.dtype));
    }
  }
  // Extra tensors are normally harmless (old Llama exports carry rotary_emb.inv_freq buffers), but an
  // unexpected bias means config.json and the weights disagree about the architecture, and a loader
  // that picks up whatever biases exist would compute something Hugging Face does not.
  for (const std::string& name : checkpoint.names()) {
    if (ends_with(name, ".bias") && !expected_names.count(name)) {
      fail_at(checkpoint.dir() + ": tensor '" + name + "'",
              "not part of " + architecture_name(config.architecture) +
                  " with this config.json (check attention_bias / mlp_bias)");
    }
  }
}

}  // namespace lil
