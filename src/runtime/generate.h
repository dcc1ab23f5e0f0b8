#pragma once
// The decode engine: dense prefill of each request, then batched decode of all rows over a KV cache whose
// policy decides what is kept and attended; each row stops on its own (eos, max_new_tokens). Timings are
// taken on the host after the chosen tokens are copied back (which synchronises with the device), so they
// never time asynchronous launches.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "runtime/kv_cache.h"
#include "runtime/sampling.h"

namespace lil {

class CausalLM;

struct GenerationRequest {
  std::vector<int32_t> prompt_ids;
  int64_t max_new_tokens = 256;
  bool ignore_eos = false;
  uint64_t seed = 0;  // per-request sampling seed (ignored when greedy)
};

struct PolicySpec {
  std::string name = "full";
  int64_t budget = 0;
  std::map<std::string, std::string> args;
};

struct GenerationOptions {
  PolicySpec policy;
  SamplingOptions sampling;      // shared by the batch (the seed comes from each request)
  std::vector<int64_t> eos_ids;  // any of them ends a row (unless ignore_eos)
};

struct GenerationResult {
  std::vector<int32_t> token_ids;  // generated tokens only (the eos token included when it ended the row)
  std::vector<float> logprobs;     // log-softmax of the raw logits at each generated token
  std::string stop_reason;         // "eos" | "max_new_tokens"
  RequestTimings timings;
  KVStepStats kv;
  int64_t kv_allocated_bytes = 0;  // bytes the cache allocated for the whole batch
};

// Called once per generated token, in order, for streaming output.
using TokenCallback = std::function<void(size_t request_index, int32_t token)>;

std::vector<GenerationResult> generate(CausalLM& model, const std::vector<GenerationRequest>& requests,
                                       const GenerationOptions& options, const TokenCallback& on_token = {});

}  // namespace lil
