// lil generate: run one model on one or more prompts, streaming text, then a metrics summary (or --json).
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/json_util.h"
#include "runtime/generate.h"
#include "runtime/loaded_model.h"

namespace lil::cli {
namespace {

struct GenerateOptions {
  std::string model_dir;
  std::vector<std::string> prompts;
  std::vector<std::string> prompt_files;
  int64_t max_new_tokens = 256;
  bool ignore_eos = false;
  std::string dtype = "auto";
  std::string device = "cpu";
  bool json = false;
  bool raw_prompt = false;
  std::string policy = "full";
  int64_t budget = 0;
  std::vector<std::string> policy_args;
  double temperature = 0.0;
  double top_p = 1.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
};

nlohmann::json kv_json(const GenerationResult& r, const PolicySpec& policy) {
  return {{"policy", policy.name},
          {"budget", policy.budget},
          {"decode_steps", r.kv.steps},
          {"attended_max", r.kv.attended_max},
          {"attended_mean", r.kv.attended_mean},
          {"resident_max", r.kv.resident_max},
          {"resident_mean", r.kv.resident_mean},
          {"resident_bytes_peak", r.kv.resident_bytes_peak},
          {"attended_bytes_mean", r.kv.attended_bytes_mean},
          {"allocated_bytes", r.kv_allocated_bytes}};
}

nlohmann::json result_json(const std::vector<int32_t>& prompt_ids, const GenerationResult& r, const Tokenizer& tok,
                           const PolicySpec& policy) {
  return {{"prompt_ids", prompt_ids},
          {"token_ids", r.token_ids},
          {"logprobs", r.logprobs},
          {"text", tok.decode(r.token_ids)},
          {"stop_reason", r.stop_reason},
          {"prompt_tokens", prompt_ids.size()},
          {"output_tokens", r.token_ids.size()},
          {"ttft_s", r.timings.ttft_s},
          {"tbt_mean_s", r.timings.tbt_mean_s},
          {"tbt_p50_s", r.timings.tbt_p50_s},
          {"tbt_p90_s", r.timings.tbt_p90_s},
          {"tbt_p99_s", r.timings.tbt_p99_s},
          {"jct_s", r.timings.jct_s},
          {"decode_tokens_per_s", r.timings.decode_tokens_per_s},
          {"kv", kv_json(r, policy)}};
}

int run_generate(const GenerateOptions& o) {
  std::vector<std::string> texts = o.prompts;
  for (const auto& f : o.prompt_files) texts.push_back(read_text_file(f));
  if (texts.empty()) fail_at("lil generate", "give a prompt with --prompt TEXT or --prompt-file FILE");
  const c10::Device device = parse_device(o.device);
  const c10::ScalarType dtype = parse_dtype(o.dtype, device);
  LoadedModel loaded = load_model(o.model_dir, dtype, device);

  GenerationOptions options;
  options.policy = PolicySpec{o.policy, o.budget, {}};
  for (const auto& [k, v] : parse_key_values(o.policy_args, "--policy-arg")) options.policy.args[k] = v;
  options.sampling = SamplingOptions{o.temperature, o.top_p, o.top_k, o.seed};
  options.eos_ids = loaded.eos_ids;

  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < texts.size(); ++i) {
    GenerationRequest r;
    r.prompt_ids = loaded.tokenizer->encode(texts[i], /*add_special_tokens=*/!o.raw_prompt);
    r.max_new_tokens = o.max_new_tokens;
    r.ignore_eos = o.ignore_eos;
    r.seed = o.seed + i;
    requests.push_back(std::move(r));
  }

  // Stream only a single request's text; interleaving a batch would be unreadable.
  std::unique_ptr<StreamDecoder> stream;
  TokenCallback on_token;
  if (!o.json && requests.size() == 1) {
    stream = std::make_unique<StreamDecoder>(*loaded.tokenizer);
    on_token = [&](size_t, int32_t token) {
      std::cout << stream->push(token) << std::flush;
    };
  }
  std::vector<GenerationResult> results = generate(*loaded.model, requests, options, on_token);

  if (o.json) {
    nlohmann::json out;
    std::vector<nlohmann::json> items;
    for (size_t i = 0; i < results.size(); ++i) {
      items.push_back(result_json(requests[i].prompt_ids, results[i], *loaded.tokenizer, options.policy));
    }
    out = items.size() == 1 ? items[0] : nlohmann::json{{"results", items}};
    out["model"] = o.model_dir;
    out["device"] = device.str();
    out["dtype"] = dtype_label(dtype);
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (stream) std::cout << stream->flush() << "\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (!stream) std::cout << "--- request " << i << " ---\n" << loaded.tokenizer->decode(r.token_ids) << "\n";
    std::cout << std::fixed << std::setprecision(2) << "\n[lil] request " << i << ": prompt "
              << requests[i].prompt_ids.size() << " tokens, output " << r.token_ids.size() << " tokens, stop "
              << r.stop_reason << "\n[lil]   TTFT " << r.timings.ttft_s * 1e3 << " ms, TBT mean "
              << r.timings.tbt_mean_s * 1e3 << " ms (p50 " << r.timings.tbt_p50_s * 1e3 << ", p90 "
              << r.timings.tbt_p90_s * 1e3 << ", p99 " << r.timings.tbt_p99_s * 1e3 << "), JCT " << r.timings.jct_s * 1e3
              << " ms, " << r.timings.decode_tokens_per_s << " tokens/s\n[lil]   policy " << options.policy.name;
    if (options.policy.name != "full") std::cout << " budget " << options.policy.budget;
    std::cout << ": KV attended mean " << r.kv.attended_mean << " (max " << r.kv.attended_max << "), resident max "
              << r.kv.resident_max << " tokens, " << r.kv.resident_bytes_peak << " bytes\n";
  }
  return 0;
}

Registrar registrar("generate", "Generate text from a Hugging Face checkpoint directory, with timings", [](CLI::App& sub) {
  auto o = std::make_shared<GenerateOptions>();
  sub.add_option("--model", o->model_dir, "Checkpoint directory (config.json, *.safetensors, tokenizer.json)")->required();
  sub.add_option("--prompt", o->prompts, "Prompt text (repeat for a batch)");
  sub.add_option("--prompt-file", o->prompt_files, "File whose whole content is one prompt (repeatable)");
  sub.add_option("--max-new-tokens", o->max_new_tokens, "Most tokens to generate per prompt")->capture_default_str();
  sub.add_flag("--ignore-eos", o->ignore_eos, "Do not stop at end-of-sequence ids (fixed-length benchmarking)");
  sub.add_flag("--raw-prompt", o->raw_prompt, "Tokenize without the post-processor's special tokens (no BOS)");
  sub.add_option("--dtype", o->dtype, "float32 | bfloat16 | float16 | auto (float32 on CPU, bfloat16 on CUDA)")
      ->capture_default_str();
  sub.add_option("--device", o->device, "cpu | cuda | cuda:N")->capture_default_str();
  sub.add_option("--policy", o->policy, "Sparse-attention policy for the decode stage (see `lil policies`)")
      ->capture_default_str();
  sub.add_option("--budget", o->budget, "KV tokens attended per layer and KV head (absolute count)");
  sub.add_option("--policy-arg", o->policy_args, "Policy knob key=value (repeatable)");
  sub.add_option("--temperature", o->temperature, "0 = greedy")->capture_default_str();
  sub.add_option("--top-p", o->top_p, "Nucleus sampling mass")->capture_default_str();
  sub.add_option("--top-k", o->top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  sub.add_option("--seed", o->seed, "Sampling seed (request i uses seed + i)")->capture_default_str();
  sub.add_flag("--json", o->json, "Print one JSON object (prompt_ids, token_ids, logprobs, text, timings, kv)");
  return [o]() { return run_generate(*o); };
});

}  // namespace
}  // namespace lil::cli
