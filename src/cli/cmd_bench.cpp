// lil bench: decode speed of a real model's shape with random weights, against the bandwidth floor.
#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "runtime/bench_runner.h"

namespace lil::cli {
namespace {

struct BenchCliOptions {
  BenchOptions bench;
  std::vector<std::string> policy_args;
  std::vector<std::string> controller_args;
  bool random_weights = false;
  bool json = false;
};

Registrar registrar("bench", "Decode speed of a model shape with random weights vs the memory-bandwidth floor",
                    [](CLI::App& sub) {
  auto o = std::make_shared<BenchCliOptions>();
  sub.add_option("--shape", o->bench.shape, "llama-8b | qwen2-1.5b | tiny | CONFIG.json")->capture_default_str();
  sub.add_flag("--random-weights", o->random_weights, "Random-initialised weights (the only mode: no checkpoint needed)");
  sub.add_option("--context", o->bench.context, "Prompt tokens per row")->capture_default_str();
  sub.add_option("--batch", o->bench.batch, "Rows decoded together")->capture_default_str();
  sub.add_option("--new-tokens", o->bench.new_tokens, "Tokens generated per row")->capture_default_str();
  sub.add_option("--device", o->bench.device, "cpu | cuda")->capture_default_str();
  sub.add_option("--dtype", o->bench.dtype, "float32 | bfloat16 | float16 | auto")->capture_default_str();
  sub.add_option("--mode", o->bench.mode,
                 "auto (graph on CUDA, eager on CPU) | graph (fused kernels + CUDA-graph replay) | fused (fused "
                 "kernels, eager launches) | eager (the plain reference path)")
      ->capture_default_str();
  sub.add_option("--engine", o->bench.engine,
                 "auto | device (decode loop on the device, no controller) | generate (the normal engine; use it to "
                 "compare runs with and without a controller)")
      ->capture_default_str();
  sub.add_option("--policy", o->bench.policy, "Sparse-attention policy")->capture_default_str();
  sub.add_option("--budget", o->bench.budget, "KV budget (tokens)");
  sub.add_option("--policy-arg", o->policy_args, "Policy knob key=value (repeatable)");
  sub.add_option("--controller", o->bench.controller, "Stop controller running alongside (none = off)")->capture_default_str();
  sub.add_option("--controller-arg", o->controller_args, "Controller knob key=value (repeatable)");
  sub.add_flag("--json", o->json, "Print one JSON object");
  return [o]() {
    for (const auto& [k, v] : parse_key_values(o->policy_args, "--policy-arg")) o->bench.policy_args[k] = v;
    for (const auto& [k, v] : parse_key_values(o->controller_args, "--controller-arg")) o->bench.controller_args[k] = v;
    nlohmann::json r = run_bench(o->bench);
    if (o->json) {
      std::cout << r.dump() << "\n";
      return 0;
    }
    std::cout << std::fixed << std::setprecision(3) << "shape " << r["shape"].get<std::string>() << " on "
              << r["device"].get<std::string>() << " (" << r["dtype"].get<std::string>() << "), context " << o->bench.context
              << ", batch " << o->bench.batch << ", policy " << o->bench.policy << ", mode "
              << r["mode"].get<std::string>() << "\n"
              << "  TTFT " << r["ttft_s"].get<double>() * 1e3 << " ms, TBT p50 " << r["tbt_p50_s"].get<double>() * 1e3
              << " ms, p99 " << r["tbt_p99_s"].get<double>() * 1e3 << " ms, " << r["tokens_per_s"].get<double>()
              << " tokens/s\n  bytes/step " << r["bytes_per_step"].get<double>() / 1e6 << " MB, achieved "
              << r["achieved_GBps"].get<double>() << " GB/s of " << r["copy_bandwidth_GBps"].get<double>()
              << " GB/s copy bandwidth; TBT = " << r["tbt_over_floor"].get<double>() << "x the floor\n"
              << "  prefill " << r["prefill_TFLOPs"].get<double>() << " TFLOP/s = " << r["prefill_over_matmul"].get<double>()
              << " of the " << r["matmul_TFLOPs"].get<double>() << " TFLOP/s matmul rate\n";
    return 0;
  };
});

}  // namespace
}  // namespace lil::cli
