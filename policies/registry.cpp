// The policy registry: one entry per policy. `lil policies` prints this table.
#include "core/error.h"
#include "policies/full.h"
#include "policies/policy.h"
#include "policies/sink.h"

namespace lil {

const std::vector<PolicyInfo>& policy_registry() {
  static const std::vector<PolicyInfo> registry = {
      {"full", "dense attention over every cached token (reference)", "",
       [](int64_t, PolicyArgs&, const PolicyGeometry& g) { return std::make_unique<FullPolicy>(g); }},
      {"sink", "StreamingLLM: attention sinks + recent window (Xiao et al., ICLR 2024)",
       "n_sink=4: first tokens always kept; the recent window is budget - n_sink",
       [](int64_t budget, PolicyArgs& a, const PolicyGeometry& g) {
         const int64_t n_sink = a.get_int("n_sink", 4, 0, 1 << 20);
         if (n_sink >= budget) {
           fail_at("--policy-arg n_sink", "must be smaller than the budget (" + std::to_string(budget) +
                                              ") so a recent window remains, got " + std::to_string(n_sink));
         }
         return std::make_unique<SinkPolicy>(budget, n_sink, g);
       }},
  };
  return registry;
}

}  // namespace lil
