#include "runtime/bench_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include <ATen/ATen.h>
#ifdef LIL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#endif

#include "core/error.h"
#include "core/host_memory.h"
#include "core/json_util.h"
#include "policies/policy.h"
#include "runtime/decode_graph.h"
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

const std::vector<std::string>& bench_shape_names() {
  static const std::vector<std::string> names = {"llama-8b", "qwen2-1.5b", "qwen2-moe-a2.7b", "tiny"};
  return names;
}

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
  std::string expected;
  for (const std::string& n : bench_shape_names()) expected += n + ", ";
  expected.resize(expected.size() - 2);
  fail_at("--shape", "expected " + expected + " or a config.json path, got '" + name + "'");
}

namespace {

// Per-step timestamps: CUDA events on the GPU (no host synchronisation until the end), the host clock on
// the CPU (where every op has finished when it returns).
class StepClock {
 public:
  explicit StepClock(const c10::Device& device) : device_(device) {}
  void mark() {
#ifdef LIL_WITH_CUDA
    if (device_.is_cuda()) {
      events_.emplace_back(std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault));
      events_.back()->record(at::cuda::getCurrentCUDAStream());
      return;
    }
#endif
    host_.push_back(std::chrono::steady_clock::now());
  }
  // Seconds between consecutive marks (waits for the device).
  std::vector<double> gaps() {
    std::vector<double> out;
#ifdef LIL_WITH_CUDA
    if (device_.is_cuda()) {
      synchronize(device_);
      for (size_t i = 1; i < events_.size(); ++i) out.push_back(events_[i - 1]->elapsed_time(*events_[i]) / 1e3);
      return out;
    }
#endif
    for (size_t i = 1; i < host_.size(); ++i) out.push_back(std::chrono::duration<double>(host_[i] - host_[i - 1]).count());
    return out;
  }

 private:
  c10::Device device_;
  std::vector<std::chrono::steady_clock::time_point> host_;
#ifdef LIL_WITH_CUDA
  std::vector<std::unique_ptr<at::cuda::CUDAEvent>> events_;
#endif
};

// Dense matmul rate of the device (FLOP/s), best of several: 8192^3 in the model dtype on the GPU, 1024^3
// on the CPU.
double matmul_rate(const c10::Device& device, c10::ScalarType dtype) {
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    synchronize(device);
    const auto t0 = std::chrono::steady_clock::now();
    at::Tensor c = at::matmul(a, b);
    synchronize(device);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) best = std::max(best, 2.0 * static_cast<double>(n) * n * n / s);
  }
  return best;
}

struct DecodeRun {
  double ttft_s = 0;          // prefill of row 0 and its first token
  double prefill_all_s = 0;   // every row prefilled
  std::vector<double> gaps;   // per decode step, seconds
  double kv_bytes = 0;        // attended KV bytes per step, summed over rows (mean over steps)
  double selection_bytes = 0;  // policy state read per step to choose them, summed over rows
  int64_t graph_replays = 0;
};

// Prefill every row, then `steps` decode steps of all rows with greedy tokens fed back on the device.
DecodeRun device_decode(CausalLM& model, const std::vector<at::Tensor>& prompts, const BenchOptions& o,
                        bool cuda_graph) {
  const ModelConfig& config = model.config();
  const c10::Device device = model.device();
  const int64_t rows = static_cast<int64_t>(prompts.size());
  const int64_t context = prompts[0].size(0);
  const int64_t max_context = context + o.new_tokens;
  PolicyGeometry geometry{config.num_hidden_layers, config.num_key_value_heads, config.num_attention_heads,
                          config.head_dim};
  KVCache cache(make_policy(o.policy, o.budget, o.policy_args, geometry),
                CacheShape{rows, config.num_hidden_layers, config.num_key_value_heads, config.num_attention_heads,
                           config.head_dim, max_context},
                model.dtype(), device);
  model.reserve_positions(max_context);
  DecodeRun run;
  synchronize(device);
  const auto start = std::chrono::steady_clock::now();
  std::vector<at::Tensor> first;
  for (int64_t b = 0; b < rows; ++b) {
    at::Tensor logits = model.prefill(prompts[static_cast<size_t>(b)].to(device), b, cache);
    first.push_back(logits.argmax(-1));
    if (b == 0) {
      synchronize(device);
      run.ttft_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
  synchronize(device);
  run.prefill_all_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  at::Tensor ids = at::cat(first, 0);
  at::Tensor positions = at::full({rows}, context, at::TensorOptions().dtype(at::kLong).device(device));
  DecodeGraph graph(model, cache, cuda_graph);
  StepClock clock(device);
  clock.mark();
  std::vector<std::vector<bool>> active;
  for (int64_t step = 1; step < o.new_tokens; ++step) {
    at::Tensor logits = graph.step(ids, positions);
    cache.end_step();
    ids = logits.argmax(-1);
    positions = positions + 1;
    clock.mark();
    active.emplace_back(static_cast<size_t>(rows), true);
  }
  run.gaps = clock.gaps();
  // The first step runs eagerly (warm-up) and the second captures the graph: time the steady state.
  if (graph.enabled() && run.gaps.size() > 2) run.gaps.erase(run.gaps.begin(), run.gaps.begin() + 2);
  run.graph_replays = graph.replays();
  for (const auto& s : cache.summarize(active)) {
    run.kv_bytes += s.attended_bytes_mean;
    run.selection_bytes += static_cast<double>(s.selection_bytes);
  }
  return run;
}

// Bytes of the weights one decode step of `batch` rows reads: every weight once, except that the embedding
// table is read as the LM head only when tied (a lookup reads one row), and of the routed experts of a MoE
// layer only the selected ones (top-k at batch 1; at batch B the expected number of distinct experts under
// uniform routing, E (1 - (1 - k/E)^B)).
int64_t step_weight_bytes(const ModelConfig& config, const CausalLM& model, int64_t batch, double* experts_read) {
  const int64_t elem = static_cast<int64_t>(c10::elementSize(model.dtype()));
  const int64_t embed_bytes = config.vocab_size * config.hidden_size * elem;
  int64_t bytes = model.weight_bytes() - (config.tie_word_embeddings ? 0 : embed_bytes);
  *experts_read = 0;
  if (config.num_experts > 0) {
    const double e = static_cast<double>(config.num_experts), k = static_cast<double>(config.num_experts_per_tok);
    const double read = batch == 1 ? k : e * (1.0 - std::pow(1.0 - k / e, static_cast<double>(batch)));
    const int64_t expert_bytes = 3 * config.moe_intermediate_size * config.hidden_size * elem;
    for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
      if (!config.layer_is_moe(l)) continue;
      bytes -= static_cast<int64_t>((e - read) * static_cast<double>(expert_bytes));
    }
    *experts_read = read;
  }
  return bytes;
}

}  // namespace

namespace {

// The model, device and reference rates of one `lil bench` process, shared by every case it measures.
struct BenchSession {
  ModelConfig config;
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = at::kFloat;
  std::string mode;
  std::string engine;  // device | generate (auto resolved)
  std::unique_ptr<CausalLM> model;
  double bandwidth = 0, matmul = 0;
};

BenchSession open_session(const BenchOptions& o) {
  if (o.batch < 1) fail_at("--batch", "expected >= 1");
  if (o.new_tokens < 2) fail_at("--new-tokens", "expected >= 2 (TBT needs two tokens)");
  BenchSession s;
  s.config = bench_shape(o.shape);
  s.device = parse_device(o.device);
  s.dtype = parse_dtype(o.dtype, s.device);
  s.mode = o.mode == "auto" ? (s.device.is_cuda() ? "graph" : "eager") : o.mode;
  if (s.mode != "graph" && s.mode != "fused" && s.mode != "eager") {
    fail_at("--mode", "expected auto, graph, fused or eager, got '" + o.mode + "'");
  }
  if (s.mode != "eager" && !s.device.is_cuda()) fail_at("--mode", "'" + s.mode + "' needs --device cuda (the CPU runs eager)");
  s.engine = o.engine == "auto" ? (o.controller == "none" ? "device" : "generate") : o.engine;
  if (s.engine != "device" && s.engine != "generate") {
    fail_at("--engine", "expected auto, device or generate, got '" + o.engine + "'");
  }
  if (s.engine == "device" && o.controller != "none") {
    fail_at("--engine", "'device' runs no controller; use --engine generate with --controller " + o.controller);
  }
  s.model = CausalLM::random(s.config, s.dtype, s.device, o.seed);
  s.model->set_fused_decode(s.mode != "eager");
  s.bandwidth = copy_bandwidth(s.device);
  s.matmul = matmul_rate(s.device, s.dtype);
  return s;
}

// One case (context, policy, budget, controller) on the session's model.
nlohmann::json measure(BenchSession& s, const BenchOptions& o) {
  if (o.context < 1) fail_at("--context", "expected >= 1");
  const ModelConfig& config = s.config;
  const c10::Device device = s.device;
  const c10::ScalarType dtype = s.dtype;
  const std::string& mode = s.mode;
  CausalLM* model = s.model.get();
  const double bandwidth = s.bandwidth, matmul = s.matmul;

  std::vector<at::Tensor> prompts;
  at::manual_seed(o.seed + 1);
  for (int64_t b = 0; b < o.batch; ++b) prompts.push_back(at::randint(0, config.vocab_size, {o.context}, at::kLong));

  const std::string& engine = s.engine;
  DecodeRun run;
  int64_t controller_checks = 0;
  double controller_check_s = 0;
  // Each engine first runs the first prompt for 4 tokens: the allocator, the kernels, and the GEMM / attention
  // plans cuBLAS and cuDNN pick on a shape's first use (on an H100 the 8k prefill of the 8B shape took ~0.1-0.7 s
  // more then). ttft_s is the prefill after that; the warm-up's is reported as ttft_first_use_s.
  double ttft_first_use = 0;
  if (engine == "device") {
    {
      BenchOptions warm = o;
      warm.new_tokens = 4;
      ttft_first_use = device_decode(*model, {prompts[0]}, warm, mode == "graph").ttft_s;
    }
    run = device_decode(*model, prompts, o, mode == "graph");
  } else {
    // With a controller: the normal engine, whose controller hook reads tokens on the host every step.
    std::vector<GenerationRequest> requests;
    for (const auto& p : prompts) {
      GenerationRequest r;
      r.prompt_ids.assign(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + o.context);
      r.max_new_tokens = o.new_tokens;
      r.ignore_eos = true;
      requests.push_back(std::move(r));
    }
    GenerationOptions gen;
    gen.policy = PolicySpec{o.policy, o.budget, o.policy_args};
    gen.cuda_graph = mode == "graph";
    {
      std::vector<GenerationRequest> warm(requests.begin(), requests.begin() + 1);
      warm[0].max_new_tokens = 4;
      ttft_first_use = generate(*model, warm, gen)[0].timings.ttft_s;
    }
    std::unique_ptr<StopController> controller =
        o.controller == "none" ? nullptr : make_controller(o.controller, o.controller_args);
    gen.controller = controller.get();
    auto results = generate(*model, requests, gen);
    double ttft_last = 0;
    for (const auto& r : results) {
      run.kv_bytes += r.kv.attended_bytes_mean;
      run.selection_bytes += static_cast<double>(r.kv.selection_bytes);
      for (size_t i = 1; i < r.timings.token_times_s.size(); ++i) {
        run.gaps.push_back(r.timings.token_times_s[i] - r.timings.token_times_s[i - 1]);
      }
      ttft_last = std::max(ttft_last, r.timings.ttft_s);
      for (const auto& c : r.checks) {
        controller_checks += 1;
        controller_check_s += c.seconds;
      }
    }
    run.ttft_s = results[0].timings.ttft_s;
    run.prefill_all_s = ttft_last;
  }

  double experts_read = 0;
  const int64_t weight_bytes = step_weight_bytes(config, *model, o.batch, &experts_read);
  const double step_bytes = static_cast<double>(weight_bytes) + run.kv_bytes + run.selection_bytes;
  const double p50 = percentile(run.gaps, 50);
  double decode_s = 0;
  for (double g : run.gaps) decode_s += g;
  const double mean_gap = run.gaps.empty() ? 0.0 : decode_s / static_cast<double>(run.gaps.size());
  const double floor_s = step_bytes / bandwidth;
  // Prefill work of row 0: 2 FLOPs per weight a token uses (a MoE layer's top-k experts, not all) for every
  // token, the LM head's only for the last one (prefill computes the last position's logits), plus the causal
  // attention's two matmuls.
  const double t = static_cast<double>(o.context);
  double token_experts = 0;
  const double lm_head_params = static_cast<double>(config.vocab_size) * static_cast<double>(config.hidden_size);
  const double token_params = static_cast<double>(step_weight_bytes(config, *model, 1, &token_experts)) /
                                  static_cast<double>(c10::elementSize(dtype)) -
                              lm_head_params;
  const double attention_flops = 2.0 * 2.0 * (t * (t + 1) / 2) * static_cast<double>(config.num_attention_heads) *
                                 static_cast<double>(config.head_dim) * static_cast<double>(config.num_hidden_layers);
  const double prefill_flops = 2.0 * token_params * t + 2.0 * lm_head_params + attention_flops;
  const double bound_tokens_per_s = floor_s > 0 ? static_cast<double>(o.batch) / floor_s : 0.0;
  const double tokens_per_s = mean_gap > 0 ? static_cast<double>(o.batch) / mean_gap : 0.0;
  nlohmann::json out = {
      {"shape", o.shape}, {"device", device.str()}, {"dtype", dtype_label(dtype)}, {"context", o.context},
      {"batch", o.batch}, {"new_tokens", o.new_tokens}, {"policy", o.policy}, {"budget", o.budget},
      {"mode", mode}, {"engine", engine}, {"graph_replays", run.graph_replays},
      {"ttft_s", run.ttft_s}, {"ttft_last_s", run.prefill_all_s}, {"ttft_first_use_s", ttft_first_use},
      {"tbt_p50_s", p50}, {"tbt_p99_s", percentile(run.gaps, 99)}, {"tbt_mean_s", mean_gap},
      {"timed_steps", static_cast<int64_t>(run.gaps.size())},
      {"tokens_per_s", tokens_per_s}, {"bandwidth_bound_tokens_per_s", bound_tokens_per_s},
      {"tokens_per_s_over_bound", bound_tokens_per_s > 0 ? tokens_per_s / bound_tokens_per_s : 0.0},
      {"weight_bytes_per_step", weight_bytes}, {"kv_bytes_per_step", run.kv_bytes},
      {"selection_bytes_per_step", run.selection_bytes}, {"bytes_per_step", step_bytes},
      {"moe_experts_read_per_layer", experts_read},
      {"achieved_GBps", p50 > 0 ? step_bytes / p50 / 1e9 : 0.0}, {"copy_bandwidth_GBps", bandwidth / 1e9},
      {"floor_s", floor_s}, {"tbt_over_floor", floor_s > 0 ? p50 / floor_s : 0.0},
      {"prefill_flops", prefill_flops},
      {"prefill_TFLOPs", run.ttft_s > 0 ? prefill_flops / run.ttft_s / 1e12 : 0.0},
      {"matmul_TFLOPs", matmul / 1e12},
      {"prefill_over_matmul", run.ttft_s > 0 && matmul > 0 ? prefill_flops / run.ttft_s / matmul : 0.0},
      {"controller", o.controller}, {"controller_checks", controller_checks},
      {"controller_check_s", controller_check_s},
      {"host_malloc", host_memory_kept() ? "kept" : "system"}};
  return out;
}

}  // namespace

nlohmann::json run_bench(const BenchOptions& o) {
  BenchSession session = open_session(o);
  return measure(session, o);
}

void run_bench_grid(const BenchOptions& base, const BenchGrid& grid,
                    const std::function<void(const nlohmann::json&)>& emit) {
  // An unknown policy name is bad input (exit 2), not a case that failed: refuse it before building the model.
  for (const std::string& policy : grid.policies) {
    const auto& registry = policy_registry();
    if (std::none_of(registry.begin(), registry.end(), [&](const PolicyInfo& info) { return info.name == policy; })) {
      make_policy(policy, 1, {}, PolicyGeometry{});  // throws the usual "unknown policy" error
    }
  }
  BenchSession session = open_session(base);
  const std::vector<int64_t> contexts = grid.contexts.empty() ? std::vector<int64_t>{base.context} : grid.contexts;
  std::vector<std::string> policies = grid.policies.empty() ? std::vector<std::string>{base.policy} : grid.policies;
  // `full` first at every context: the sparse cases are reported relative to it.
  std::stable_partition(policies.begin(), policies.end(), [](const std::string& p) { return p == "full"; });
  const std::vector<int64_t> budgets = grid.budgets.empty() ? std::vector<int64_t>{base.budget} : grid.budgets;
  for (int64_t context : contexts) {
    nlohmann::json full;
    for (const std::string& policy : policies) {
      for (int64_t budget : policy == "full" ? std::vector<int64_t>{0} : budgets) {
        BenchOptions o = base;
        o.context = context;
        o.policy = policy;
        o.budget = budget;
        nlohmann::json r;
        try {
          r = measure(session, o);
        } catch (const std::exception& e) {
          // One case that cannot run (e.g. out of device memory at a long context) is reported; the grid goes on.
          r = {{"shape", o.shape}, {"context", context}, {"batch", o.batch}, {"policy", policy}, {"budget", budget},
               {"error", e.what()}};
          emit(r);
          continue;
        }
        if (policy == "full") full = r;
        if (!full.is_null() && policy != "full") {
          const double tbt = r["tbt_p50_s"].get<double>(), full_tbt = full["tbt_p50_s"].get<double>();
          const double bytes = r["bytes_per_step"].get<double>(), full_bytes = full["bytes_per_step"].get<double>();
          r["vs_full"] = full_tbt > 0 ? tbt / full_tbt : 0.0;
          r["bytes_vs_full"] = full_bytes > 0 ? bytes / full_bytes : 0.0;
          r["vs_full_over_bytes"] = full_tbt > 0 && bytes > 0 ? (tbt / full_tbt) / (bytes / full_bytes) : 0.0;
        }
        emit(r);
      }
    }
  }
}

}  // namespace lil
