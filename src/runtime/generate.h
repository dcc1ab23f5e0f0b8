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
#include "runtime/controller.h"
#include "runtime/kv_cache.h"
#include "runtime/sampling.h"

namespace lil {

class CausalLM;

struct GenerationRequest {
  std::vector<int32_t> prompt_ids;
  int64_t max_new_tokens = 256;
  bool ignore_eos = false;
  uint64_t seed = 0;  // per-request sampling seed (ignored when greedy)
  // Stop reason recorded when max_new_tokens is reached: "max_new_tokens", or "cap" when the caller set
  // max_new_tokens from a length cap (the study caps sparse runs at k x the full-attention length).
  std::string limit_reason = "max_new_tokens";
};

// What happens when a controller stops a row.
enum class OnStop {
  Truncate,     // the output is what was written so far
  ForceAnswer,  // feed `force_answer_ids` (end of think block + final-answer prompt), decode up to
                // `force_answer_max_tokens` more tokens, recorded separately in `answer_ids`
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
  StopController* controller = nullptr;  // optional early-stop controller (not owned)
  const Tokenizer* tokenizer = nullptr;  // handed to text-level controllers
  OnStop on_stop = OnStop::Truncate;
  std::vector<int32_t> force_answer_ids;            // used when the output has already closed the think block
  std::vector<int32_t> force_answer_ids_in_think;   // used while the think block is still open (closes it first)
  std::vector<int32_t> think_end_ids;               // the think-block end marker (e.g. "</think>"); empty = none
  int64_t force_answer_max_tokens = 64;
  // On CUDA: the decode step is captured once in a CUDA graph and replayed (DecodeGraph); false = eager.
  bool cuda_graph = true;
};

struct GenerationResult {
  std::vector<int32_t> token_ids;  // generated tokens only (the eos token included when it ended the row)
  std::vector<float> logprobs;     // log-softmax of the raw logits at each generated token
  std::string stop_reason;         // "eos" | "max_new_tokens" | "cap" | "controller"
  int64_t stop_step = -1;          // generated tokens when a controller stopped the row, else -1
  std::vector<ControllerCheck> checks;  // every controller check of this row
  std::vector<int32_t> answer_ids;      // tokens decoded after a forced answer prompt (OnStop::ForceAnswer)
  RequestTimings timings;          // over the generated tokens; jct_s also covers a forced answer
  KVStepStats kv;
  int64_t kv_allocated_bytes = 0;  // bytes the cache allocated for the whole batch
};

// Called once per generated token, in order, for streaming output.
using TokenCallback = std::function<void(size_t request_index, int32_t token)>;

std::vector<GenerationResult> generate(CausalLM& model, const std::vector<GenerationRequest>& requests,
                                       const GenerationOptions& options, const TokenCallback& on_token = {});

}  // namespace lil
