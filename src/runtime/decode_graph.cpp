#include "runtime/decode_graph.h"

#include <map>

#include <ATen/ATen.h>
#ifdef LIL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#endif

#include "runtime/kv_cache.h"
#include "runtime/model.h"

namespace lil {

struct DecodeGraph::Graphs {
#ifdef LIL_WITH_CUDA
  std::map<int64_t, std::unique_ptr<at::cuda::CUDAGraph>> graphs;  // by policy variant
  std::map<int64_t, at::Tensor> outputs;                           // the logits each graph writes
#endif
  at::Tensor ids, positions;                                       // static inputs
};

DecodeGraph::DecodeGraph(CausalLM& model, KVCache& cache, bool enabled)
    : model_(model), cache_(cache), graphs_(std::make_unique<Graphs>()) {
#ifdef LIL_WITH_CUDA
  enabled_ = enabled && model.device().is_cuda();
#else
  (void)enabled;
#endif
  if (enabled_) {
    const auto opts = at::TensorOptions().dtype(at::kLong).device(model.device());
    graphs_->ids = at::zeros({cache.shape().rows}, opts);
    graphs_->positions = at::zeros({cache.shape().rows}, opts);
  }
}

DecodeGraph::~DecodeGraph() = default;

int64_t DecodeGraph::graphs_captured() const {
#ifdef LIL_WITH_CUDA
  return static_cast<int64_t>(graphs_->graphs.size());
#else
  return 0;
#endif
}

at::Tensor DecodeGraph::step(const at::Tensor& ids, const at::Tensor& positions) {
  if (!enabled_ || eager_steps_ < 1) {
    eager_steps_ += 1;
    return model_.decode(ids, positions, cache_);
  }
#ifdef LIL_WITH_CUDA
  const int64_t step_number = cache_.layer(0).decode_steps + 1;
  const int64_t variant = cache_.policy().graph_variant(step_number);
  graphs_->ids.copy_(ids);
  graphs_->positions.copy_(positions);
  auto found = graphs_->graphs.find(variant);
  if (found == graphs_->graphs.end()) {
    // Capture on a side stream that first waits for the work already queued; capturing runs nothing, and
    // it advances the host step counters exactly as the eager step would.
    const c10::cuda::CUDAGuard device_guard(model_.device());
    at::cuda::CUDAStream current = at::cuda::getCurrentCUDAStream();
    at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
    at::cuda::CUDAEvent ready;
    ready.record(current);
    ready.block(side);
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    {
      const c10::cuda::CUDAStreamGuard stream_guard(side);
      graph->capture_begin();
      graphs_->outputs[variant] = model_.decode(graphs_->ids, graphs_->positions, cache_);
      graph->capture_end();
    }
    at::cuda::CUDAEvent captured;
    captured.record(side);
    captured.block(current);
    found = graphs_->graphs.emplace(variant, std::move(graph)).first;
  } else {
    for (int64_t l = 0; l < cache_.shape().n_layers; ++l) cache_.layer(l).decode_steps = step_number;
  }
  found->second->replay();
  replays_ += 1;
  return graphs_->outputs.at(variant).clone();
#else
  return model_.decode(ids, positions, cache_);
#endif
}

}  // namespace lil
