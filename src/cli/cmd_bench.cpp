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
  std::vector<int64_t> contexts{BenchOptions{}.context};
  std::vector<std::string> policies{BenchOptions{}.policy};
  std::vector<int64_t> budgets;
  bool random_weights = false;
  bool json = false;
};

Registrar registrar("bench",
                    "Decode speed of a model shape with random weights vs the memory-bandwidth floor (the bytes a step "
                    "must read: weights, attended KV and the policy's selection state, at the copy bandwidth "
                    "measured in the same run)",
                    [](CLI::App& sub) {
  auto o = std::make_shared<BenchCliOptions>();
  std::string shapes;
  for (const std::string& name : bench_shape_names()) shapes += name + " | ";
  sub.add_option("--shape", o->bench.shape, shapes + "CONFIG.json")->capture_default_str();
  sub.add_flag("--random-weights", o->random_weights, "Random-initialised weights (the only mode: no checkpoint needed)");
  sub.add_option("--context", o->contexts,
                 "Prompt tokens per row (several values, or the flag repeated: one case per context)")
      ->capture_default_str();
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
  sub.add_option("--policy", o->policies,
                 "Sparse-attention policy (several: one case per policy and budget, `full` first, the others "
                 "reported relative to it: vs_full, bytes_vs_full, vs_full_over_bytes)")
      ->capture_default_str();
  sub.add_option("--budget", o->budgets, "KV budget in tokens (several: one case per budget)");
  sub.add_option("--policy-arg", o->policy_args, "Policy knob key=value (repeatable)");
  sub.add_option("--controller", o->bench.controller, "Stop controller running alongside (none = off)")->capture_default_str();
  sub.add_option("--controller-arg", o->controller_args, "Controller knob key=value (repeatable)");
  sub.add_flag("--json", o->json,
               "Print one JSON object (ttft_s: row 0's prefill after a warm-up run of the same prompt, whose "
               "prefill is ttft_first_use_s; prefill_flops: 2 per weight a token uses for every prompt token, the LM "
               "head once, plus the causal attention; prefill_over_matmul: that rate over the bf16 matmul rate "
               "measured in the same run)");
  return [o]() {
    for (const auto& [k, v] : parse_key_values(o->policy_args, "--policy-arg")) o->bench.policy_args[k] = v;
    for (const auto& [k, v] : parse_key_values(o->controller_args, "--controller-arg")) o->bench.controller_args[k] = v;
    if (o->contexts.size() > 1 || o->policies.size() > 1 || o->budgets.size() > 1) {
      // A grid on one model: one line per case as it finishes (JSON with --json).
      run_bench_grid(o->bench, BenchGrid{o->contexts, o->policies, o->budgets}, [&](const nlohmann::json& r) {
        if (o->json || r.contains("error")) {
          std::cout << r.dump() << std::endl;
          return;
        }
        std::cout << std::fixed << std::setprecision(3) << "context " << r["context"].get<int64_t>() << " "
                  << r["policy"].get<std::string>() << " budget " << r["budget"].get<int64_t>() << ": TBT p50 "
                  << r["tbt_p50_s"].get<double>() * 1e3 << " ms, " << r["bytes_per_step"].get<double>() / 1e6
                  << " MB/step, " << r["tbt_over_floor"].get<double>() << "x the floor";
        if (r.contains("vs_full")) {
          std::cout << "; vs full " << r["vs_full"].get<double>() << " (bytes " << r["bytes_vs_full"].get<double>()
                    << ")";
        }
        std::cout << std::endl;
      });
      return 0;
    }
    o->bench.context = o->contexts.empty() ? o->bench.context : o->contexts[0];
    o->bench.policy = o->policies.empty() ? o->bench.policy : o->policies[0];
    o->bench.budget = o->budgets.empty() ? 0 : o->budgets[0];
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
              << " tokens/s\n  bytes/step " << r["bytes_per_step"].get<double>() / 1e6 << " MB (weights "
              << r["weight_bytes_per_step"].get<double>() / 1e6 << " + attended KV "
              << r["kv_bytes_per_step"].get<double>() / 1e6 << " + the policy's selection state "
              << r["selection_bytes_per_step"].get<double>() / 1e6 << "), achieved "
              << r["achieved_GBps"].get<double>() << " GB/s of " << r["copy_bandwidth_GBps"].get<double>()
              << " GB/s copy bandwidth; TBT = " << r["tbt_over_floor"].get<double>() << "x the floor\n"
              << "  prefill " << r["prefill_TFLOPs"].get<double>() << " TFLOP/s = " << r["prefill_over_matmul"].get<double>()
              << " of the " << r["matmul_TFLOPs"].get<double>() << " TFLOP/s matmul rate\n";
    return 0;
  };
});

}  // namespace
}  // namespace lil::cli
