#include "runtime/loaded_model.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "core/error.h"
#include "core/model_config.h"

namespace lil {

c10::Device parse_device(const std::string& text) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available()) {
      fail_at("--device", "CUDA was requested but this LibTorch build or machine has no CUDA device");
    }
    try {
      return c10::Device(text);
    } catch (const std::exception&) {
      fail_at("--device", "expected cpu, cuda or cuda:N, got '" + text + "'");
    }
  }
  fail_at("--device", "expected cpu, cuda or cuda:N, got '" + text + "'");
}

c10::ScalarType parse_dtype(const std::string& text, const c10::Device& device) {
  if (text == "auto") return device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (text == "float32" || text == "fp32") return at::kFloat;
  if (text == "bfloat16" || text == "bf16") return at::kBFloat16;
  if (text == "float16" || text == "fp16") return at::kHalf;
  fail_at("--dtype", "expected float32, bfloat16, float16 or auto, got '" + text + "'");
}

std::string dtype_label(c10::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return c10::toString(dtype);
  }
}

LoadedModel load_model(const std::string& dir, c10::ScalarType dtype, c10::Device device) {
  LoadedModel loaded;
  loaded.dir = dir;
  loaded.model = CausalLM::load(dir, dtype, device);
  loaded.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_model_dir(dir));
  const GenerationConfig generation = load_generation_config(dir);
  loaded.eos_ids = generation.eos_token_ids;
  if (loaded.eos_ids.empty()) loaded.eos_ids = loaded.model->config().eos_token_ids;
  if (loaded.eos_ids.empty() && loaded.tokenizer->eos_id()) loaded.eos_ids.push_back(*loaded.tokenizer->eos_id());
  return loaded;
}

}  // namespace lil
