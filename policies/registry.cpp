// The policy registry: one entry per policy. `lil policies` prints this table. Each factory reads and
// validates its knobs (LilError naming the flag and what was expected).
#include <string>

#include "core/error.h"
#include "policies/full.h"
#include "policies/h2o.h"
#include "policies/infllm.h"
#include "policies/policy.h"
#include "policies/quest.h"
#include "policies/rkv.h"
#include "policies/sink.h"
#include "policies/snapkv.h"
#include "policies/tova.h"

namespace lil {
namespace {

constexpr int64_t kLargestKnob = int64_t{1} << 30;

void require(bool ok, const std::string& where, const std::string& what) {
  if (!ok) fail_at(where, what);
}

int64_t odd_kernel(PolicyArgs& args, int64_t default_value) {
  const int64_t kernel = args.get_int("kernel", default_value, 1, 1023);
  require(kernel % 2 == 1, args.where("kernel"), "expected an odd pooling kernel size, got " + std::to_string(kernel));
  return kernel;
}

// Window and re-scoring interval of the observation-window policies (SnapKV, R-KV).
void check_observation_window(PolicyArgs& args, int64_t budget, int64_t window, int64_t interval) {
  require(window < budget, args.where("window"),
          "the observation window (" + std::to_string(window) + ") must be smaller than the budget (" +
              std::to_string(budget) + ")");
  require(window + interval <= budget, args.where("interval"),
          "window + interval (" + std::to_string(window) + " + " + std::to_string(interval) +
              ") must be at most the budget (" + std::to_string(budget) +
              "): tokens written since the last scoring are protected, and one must remain evictable");
}

}  // namespace

const std::vector<PolicyInfo>& policy_registry() {
  static const std::vector<PolicyInfo> registry = {
      {"full", "dense attention over every cached token (reference)", "",
       [](int64_t, PolicyArgs&, const PolicyGeometry& g) { return std::make_unique<FullPolicy>(g); }},
      {"sink", "StreamingLLM: attention sinks + recent window (Xiao et al., ICLR 2024) [eviction]",
       "n_sink=4: first tokens always kept; the recent window is budget - n_sink",
       [](int64_t budget, PolicyArgs& a, const PolicyGeometry& g) {
         const int64_t n_sink = a.get_int("n_sink", 4, 0, kLargestKnob);
         require(n_sink < budget, a.where("n_sink"),
                 "must be smaller than the budget (" + std::to_string(budget) + ") so a recent window remains, got " +
                     std::to_string(n_sink));
         return std::make_unique<SinkPolicy>(budget, n_sink, g);
       }},
      {"h2o", "H2O: heavy hitters by accumulated attention + recent window (Zhang et al., NeurIPS 2023) [eviction]",
       "recent=budget/2: most recent tokens always kept; the rest of the budget goes to heavy hitters",
       [](int64_t budget, PolicyArgs& a, const PolicyGeometry& g) {
         const int64_t recent = a.get_int("recent", budget / 2, 0, kLargestKnob);
         require(recent < budget, a.where("recent"),
                 "the recent window (" + std::to_string(recent) + ") must be smaller than the budget (" +
                     std::to_string(budget) + ")");
         return std::make_unique<H2OPolicy>(budget, recent, g);
       }},
      {"tova", "TOVA: evict the token with the lowest current attention (Oren et al., EMNLP 2024) [eviction]", "",
       [](int64_t budget, PolicyArgs&, const PolicyGeometry& g) { return std::make_unique<TovaPolicy>(budget, g); }},
      {"snapkv", "SnapKV: observation-window voting at prefill, re-applied while decoding (Li et al., NeurIPS 2024) [eviction]",
       "window=32: recent queries that vote (their tokens are kept); kernel=7: odd pooling width; pooling=avg "
       "(avg|max); interval=32: decode steps between re-votes (window + interval <= budget)",
       [](int64_t budget, PolicyArgs& a, const PolicyGeometry& g) {
         const int64_t window = a.get_int("window", 32, 1, kLargestKnob);
         const int64_t kernel = odd_kernel(a, 7);
         const std::string pooling = a.get_string("pooling", "avg", {"avg", "max"});
         const int64_t interval = a.get_int("interval", 32, 1, kLargestKnob);
         check_observation_window(a, budget, window, interval);
         return std::make_unique<SnapKVPolicy>(budget, window, interval, kernel,
                                               pooling == "avg" ? Pooling::Average : Pooling::Max, g);
       }},
      {"rkv", "R-KV: attention importance minus key redundancy, for reasoning traces (Cai et al., 2025) [eviction]",
       "window=8: recent queries that score (their tokens are kept); kernel=7: odd max-pooling width; "
       "lambda=0.07: weight of importance vs redundancy; threshold=0.5: cosine similarity counted as "
       "near-duplicate; interval=32: decode steps between re-scorings (window + interval <= budget)",
       [](int64_t budget, PolicyArgs& a, const PolicyGeometry& g) {
         const int64_t window = a.get_int("window", 8, 1, kLargestKnob);
         const int64_t kernel = odd_kernel(a, 7);
         const double lambda = a.get_double("lambda", 0.07, 0.0, 1.0);
         const double threshold = a.get_double("threshold", 0.5, -1.0, 1.0);
         const int64_t interval = a.get_int("interval", 32, 1, kLargestKnob);
         check_observation_window(a, budget, window, interval);
         return std::make_unique<RKVPolicy>(budget, window, interval, kernel, lambda, threshold, g);
       }},
      {"quest", "Quest: top pages by per-page key min/max bounds, all KV kept (Tang et al., ICML 2024) [retention]",
       "page_size=16: tokens per page; the budget must be a multiple of it",
       [](int64_t budget, PolicyArgs& a, const PolicyGeometry& g) {
         const int64_t page_size = a.get_int("page_size", 16, 1, kLargestKnob);
         require(page_size <= budget && budget % page_size == 0, a.where("page_size"),
                 "the budget (" + std::to_string(budget) + ") must be a whole number of pages of " +
                     std::to_string(page_size) + " tokens");
         return std::make_unique<QuestPolicy>(budget, page_size, g);
       }},
      {"infllm", "InfLLM: sink + local window + top memory blocks by representative keys, all KV kept (Xiao et al., "
                 "NeurIPS 2024) [retention]",
       "n_sink=4: initial tokens; local=budget/4: least local window (widened by what blocks leave over); "
       "block_size=32: tokens per memory block; reps=4: representative keys per block",
       [](int64_t budget, PolicyArgs& a, const PolicyGeometry& g) {
         const int64_t n_sink = a.get_int("n_sink", 4, 0, kLargestKnob);
         const int64_t local = a.get_int("local", budget / 4, 1, kLargestKnob);
         const int64_t block_size = a.get_int("block_size", 32, 1, kLargestKnob);
         const int64_t reps = a.get_int("reps", 4, 1, kLargestKnob);
         require(reps <= block_size, a.where("reps"),
                 "a block of " + std::to_string(block_size) + " tokens cannot have " + std::to_string(reps) +
                     " representative keys");
         require(n_sink + local + block_size <= budget, a.where("local"),
                 "n_sink + local + block_size (" + std::to_string(n_sink) + " + " + std::to_string(local) + " + " +
                     std::to_string(block_size) + ") must be at most the budget (" + std::to_string(budget) +
                     ") so at least one memory block is attended");
         return std::make_unique<InfLLMPolicy>(budget, n_sink, local, block_size, reps, g);
       }},
  };
  return registry;
}

}  // namespace lil
