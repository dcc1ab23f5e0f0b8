#pragma once
// `lil bench`: decode speed of a model shape with random weights (no checkpoint needed), reported against
// the memory-bandwidth floor measured in the same run: the bytes one decode step must read (weights +
// attended KV) divided by the device-to-device copy bandwidth. Without a controller the decode loop stays on
// the device (greedy tokens fed back on the device, no host read per token) and per-token gaps are taken
// with CUDA events; with one, the normal engine (generate) runs, as a sweep would.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model_config.h"

namespace lil {

struct BenchOptions {
  std::string shape = "qwen2-1.5b";  // one of bench_shape_names() or a path to a config.json
  std::string device = "cpu";
  std::string dtype = "auto";
  int64_t context = 1024;            // prompt tokens per row
  int64_t batch = 1;
  int64_t new_tokens = 64;
  std::string policy = "full";
  int64_t budget = 0;
  std::map<std::string, std::string> policy_args;
  // auto (graph on CUDA, eager on CPU) | graph (fused kernels, CUDA-graph replay) | fused (fused kernels,
  // launched eagerly) | eager (the plain reference path, launched eagerly).
  std::string mode = "auto";
  std::string controller = "none";  // a stop controller running alongside (its cost is part of the JCT)
  // device: prefill + a decode loop kept on the device (no host read per token; needs controller none);
  // generate: the normal engine (reads tokens every step, runs the controller): compare controllers with it.
  // auto: device without a controller, generate with one.
  std::string engine = "auto";
  std::map<std::string, std::string> controller_args;
  uint64_t seed = 0;
};

// Named shapes of real models (config.json values of the published checkpoints); bench_shape_names() lists the
// names bench_shape accepts besides a config.json path (for --help and the error).
ModelConfig bench_shape(const std::string& name);
const std::vector<std::string>& bench_shape_names();

nlohmann::json run_bench(const BenchOptions& options);

// Several cases on one model (built once): every context x every policy x every budget (`full` once per
// context, measured first). Each sparse case's report gains vs_full (its TBT p50 / full's at the same
// context), bytes_vs_full (bytes one step reads / full's) and vs_full_over_bytes (the first over the second:
// 1.0 = the step time follows the bytes read). A case that fails is reported as {..., "error": text} and the
// grid goes on. Empty lists take the single value from `base`.
struct BenchGrid {
  std::vector<int64_t> contexts;
  std::vector<std::string> policies;
  std::vector<int64_t> budgets;
};
void run_bench_grid(const BenchOptions& base, const BenchGrid& grid,
                    const std::function<void(const nlohmann::json&)>& emit);

}  // namespace lil
