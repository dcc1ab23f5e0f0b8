#include "runtime/bench_runner.h"

#include <chrono>

#include <ATen/ATen.h>
#ifdef LIL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "core/error.h"
#include "core/json_util.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"
#include "runtime/model.h"

namespace lil {

namespace {

void synchronize(const c10::Device& device) {
#ifdef LIL_WITH_CUDA
  if (device.is_cuda()) at::cuda::getCurrentCUDAStream().synchronize();
#else
  (void)device;
#endif
}

// Device-to-device copy bandwidth (bytes read + written per second), best of several copies of 512 MiB
// (64 MiB on CPU, where the run would otherwise be slow).
double copy_bandwidth(const c10::Device& device) {
  const int64_t bytes = device.is_cuda() ? (int64_t{512} << 20) : (int64_t{64} << 20);
  at::Tensor src = at::ones({bytes}, at::TensorOptions().dtype(at::kByte).device(device));
  at::Tensor dst = at::empty_like(src);
  double best = 0;
  for (int i = 0; i < 6; ++i) {
    synchronize(device);
    const auto t0 = std::chrono::steady_clock::now();
    dst.copy_(src);
    synchronize(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) best = std::max(best, 2.0 * static_cast<double>(bytes) / s);
  }
  return best;
}

}  // namespace

ModelConfig bench_shape(const std::string& name) {
  ModelConfig c;
  if (name == "llama-8b") {
    c.architecture = Architecture::Llama;
    c.model_type = "llama";
    c.vocab_size = 128256;
    c.hidden_size = 4096;
    c.intermediate_size = 14336;
    c.num_hidden_layers = 32;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 8;
    c.head_dim = 128;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 500000.0;
    c.rope_scaling = RopeScaling{"llama3", 8.0, 1.0, 4.0, 8192};
    c.max_position_embeddings = 131072;
    return c;
  }
  if (name == "qwen2-1.5b") {
    c.architecture = Architecture::Qwen2;
    c.model_type = "qwen2";
    c.vocab_size = 151936;
    c.hidden_size = 1536;
    c.intermediate_size = 8960;
    c.num_hidden_layers = 28;
    c.num_attention_heads = 12;
    c.num_key_value_heads = 2;
    c.head_dim = 128;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 1000000.0;
    c.max_position_embeddings = 131072;
    c.tie_word_embeddings = true;
    c.attention_bias = true;
    return c;
  }
  if (name == "qwen2-moe-a2.7b") {  // Qwen1.5-MoE-A2.7B: 60 routed experts (top-4) and a shared expert per layer
    c.architecture = Architecture::Qwen2Moe;
    c.model_type = "qwen2_moe";
    c.vocab_size = 151936;
    c.hidden_size = 2048;
    c.intermediate_size = 5632;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 16;
    c.head_dim = 128;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 1000000.0;
    c.max_position_embeddings = 8192;
    c.tie_word_embeddings = false;
    c.attention_bias = true;
    c.num_experts = 60;
    c.num_experts_per_tok = 4;
    c.moe_intermediate_size = 1408;
    c.shared_expert_intermediate_size = 5632;
    c.norm_topk_prob = false;
    c.decoder_sparse_step = 1;
    return c;
  }
  if (name == "tiny") {  // a CPU-sized Llama shape
    c.architecture = Architecture::Llama;
    c.model_type = "llama";
    c.vocab_size = 32000;
    c.hidden_size = 512;
    c.intermediate_size = 1408;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 64;
    c.rms_norm_eps = 1e-5;
    c.max_position_embeddings = 65536;
    return c;
  }
  if (name.size() > 5 && name.substr(name.size() - 5) == ".json") {
    const std::string text = read_text_file(name);
    return parse_model_config(text, name);
  }
  fail_at("--shape", "expected llama-8b, qwen2-1.5b, qwen2-moe-a2.7b, tiny or a config.json path, got '" + name + "'");
}

nlohmann::json run_bench(const BenchOptions& o) {
  if (o.context < 1) fail_at("--context", "expected >= 1");
  if (o.batch < 1) fail_at("--batch", "expected >= 1");
  if (o.new_tokens < 2) fail_at("--new-tokens", "expected >= 2 (TBT needs two tokens)");
  const ModelConfig config = bench_shape(o.shape);
  const c10::Device device = parse_device(o.device);
  const c10::ScalarType dtype = parse_dtype(o.dtype, device);
  auto model = CausalLM::random(config, dtype, device, o.seed);
  const double bandwidth = copy_bandwidth(device);

  std::vector<GenerationRequest> requests;
  at::manual_seed(o.seed + 1);
  for (int64_t b = 0; b < o.batch; ++b) {
    at::Tensor ids = at::randint(0, config.vocab_size, {o.context}, at::kLong);
    GenerationRequest r;
    r.prompt_ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + o.context);
    r.max_new_tokens = o.new_tokens;
    r.ignore_eos = true;
    requests.push_back(std::move(r));
  }
  GenerationOptions gen;
  gen.policy = PolicySpec{o.policy, o.budget, o.policy_args};
  // Warm-up (allocator, kernels), then the measured run.
  {
    std::vector<GenerationRequest> warm(requests.begin(), requests.begin() + 1);
    warm[0].max_new_tokens = 4;
    generate(*model, warm, gen);
  }
  std::unique_ptr<StopController> controller = make_controller(o.controller, o.controller_args);
  gen.controller = controller.get();
  auto results = generate(*model, requests, gen);
  int64_t controller_checks = 0;
  double controller_check_s = 0;
  for (const auto& r : results) {
    for (const auto& c : r.checks) {
      controller_checks += 1;
      controller_check_s += c.seconds;
    }
  }

  // Bytes one decode step must read: every weight once (the embedding table only when tied, since it is
  // then the LM head; a lookup reads one row) plus the KV entries attended by every row.
  const int64_t embed_bytes = config.vocab_size * config.hidden_size * static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t weight_bytes = model->weight_bytes() - (config.tie_word_embeddings ? 0 : embed_bytes);
  double kv_bytes = 0;
  std::vector<double> gaps;
  double ttft = 0, jct = 0;
  for (const auto& r : results) {
    kv_bytes += r.kv.attended_bytes_mean;
    for (size_t i = 1; i < r.timings.token_times_s.size(); ++i) gaps.push_back(r.timings.token_times_s[i] - r.timings.token_times_s[i - 1]);
    ttft = std::max(ttft, r.timings.ttft_s);
    jct = std::max(jct, r.timings.jct_s);
  }
  const double step_bytes = static_cast<double>(weight_bytes) + kv_bytes;
  const double p50 = percentile(gaps, 50);
  const double floor_s = step_bytes / bandwidth;
  nlohmann::json out = {
      {"shape", o.shape}, {"device", device.str()}, {"dtype", dtype_label(dtype)}, {"context", o.context},
      {"batch", o.batch}, {"new_tokens", o.new_tokens}, {"policy", o.policy}, {"budget", o.budget},
      {"ttft_s", results[0].timings.ttft_s}, {"ttft_last_s", ttft},
      {"tbt_p50_s", p50}, {"tbt_p99_s", percentile(gaps, 99)},
      {"tokens_per_s", jct > ttft ? static_cast<double>(o.batch) * static_cast<double>(o.new_tokens - 1) / (jct - ttft) : 0.0},
      {"weight_bytes_per_step", weight_bytes}, {"kv_bytes_per_step", kv_bytes}, {"bytes_per_step", step_bytes},
      {"achieved_GBps", p50 > 0 ? step_bytes / p50 / 1e9 : 0.0}, {"copy_bandwidth_GBps", bandwidth / 1e9},
      {"floor_s", floor_s}, {"tbt_over_floor", floor_s > 0 ? p50 / floor_s : 0.0}, {"mode", "eager"},
      {"jct_s", jct}, {"controller", o.controller}, {"controller_checks", controller_checks},
      {"controller_check_s", controller_check_s}};
  return out;
}

}  // namespace lil
