#pragma once
// A checkpoint directory opened for generation: weights, tokenizer and stop ids together.
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "runtime/model.h"
#include "tokenizer/tokenizer.h"

namespace lil {

struct LoadedModel {
  std::string dir;
  std::unique_ptr<CausalLM> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int64_t> eos_ids;  // generation_config.json, else config.json, else tokenizer_config.json
};

// "cpu" | "cuda" | "cuda:N"; LilError when CUDA is asked for and not available.
c10::Device parse_device(const std::string& text);
// "float32" | "bfloat16" | "float16" (also "auto": float32 on CPU, bfloat16 on CUDA).
c10::ScalarType parse_dtype(const std::string& text, const c10::Device& device);
std::string dtype_label(c10::ScalarType dtype);

LoadedModel load_model(const std::string& dir, c10::ScalarType dtype, c10::Device device);

}  // namespace lil
