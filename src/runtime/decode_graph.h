#pragma once
// CUDA-graph capture and replay of the decode step (gpt-fast's pattern): the first step runs eagerly (it
// initialises kernels, cuBLAS handles and the allocator), the next captures CausalLM::decode on static input
// tensors, and every later step copies its inputs in and replays the graph. The KV cache, the policy's
// state and the per-step counters are updated in place, so replaying the graph continues the same cache.
//
// A policy whose step depends on the host step counter (e.g. a rescore every `interval` steps) names the
// variant of each step (Policy::graph_variant); one graph is captured per variant. Off the GPU, or when
// disabled, step() is exactly CausalLM::decode.
#include <cstdint>
#include <memory>

#include <ATen/core/Tensor.h>

namespace lil {

class CausalLM;
class KVCache;

class DecodeGraph {
 public:
  DecodeGraph(CausalLM& model, KVCache& cache, bool enabled);
  ~DecodeGraph();
  DecodeGraph(const DecodeGraph&) = delete;
  DecodeGraph& operator=(const DecodeGraph&) = delete;

  // Same contract as CausalLM::decode: ids [B], positions [B] (int64, on the model's device) -> float32
  // logits [B, V]. The result is the caller's own tensor (not overwritten by the next step).
  at::Tensor step(const at::Tensor& ids, const at::Tensor& positions);

  bool enabled() const { return enabled_; }
  int64_t graphs_captured() const;
  int64_t replays() const { return replays_; }

 private:
  struct Graphs;
  CausalLM& model_;
  KVCache& cache_;
  bool enabled_ = false;
  int64_t eager_steps_ = 0;
  int64_t replays_ = 0;
  std::unique_ptr<Graphs> graphs_;
};

}  // namespace lil
