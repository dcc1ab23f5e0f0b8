// The Qwen2-MoE family. Parity with Hugging Face on the fixture made by scripts/make_parity_fixtures.py
// (tiny-qwen2-moe: random-initialised, real Qwen vocabulary and tokenizer, two sparse layers around one
// dense layer, untied LM head); and, without any fixture, the grouped-expert block against a plain
// per-token float64 loop, the routing groups, the dense/sparse layer choice, and prefill against decode.
#include "catch_torch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include <ATen/ATen.h>

#include "core/json_util.h"
#include "runtime/bench_runner.h"
#include "runtime/generate.h"
#include "runtime/kv_cache.h"
#include "runtime/loaded_model.h"
#include "runtime/model.h"
#include "runtime/moe.h"
#include "parity_support.h"
#include "test_support.h"

using namespace lil;

namespace {

const char* const kFixture = "tiny-qwen2-moe";
using test::check_against;
using test::kLogprobTolerance;
using test::ParityRecord;
using test::request_for;
std::vector<ParityRecord> read_parity() { return test::read_parity(kFixture); }

LoadedModel load_fixture() { return load_model(test::fixture_model(kFixture), at::kFloat, c10::Device(c10::kCPU)); }

// ---- the plain reference: one token at a time, float64, routing by explicit sort ----

at::Tensor silu64(const at::Tensor& v) { return v / (1.0 + at::exp(-v)); }

at::Tensor swiglu64(const at::Tensor& gate, const at::Tensor& up, const at::Tensor& down, const at::Tensor& xt) {
  return at::mv(down, silu64(at::mv(gate, xt)) * at::mv(up, xt));
}

struct Reference {
  at::Tensor out;                                          // [T, H] float64
  double min_logit_gap = std::numeric_limits<double>::infinity();  // k-th vs (k+1)-th expert, over tokens
  std::vector<std::vector<int64_t>> chosen;                // per token, the top-k experts
  std::vector<std::vector<double>> weights;                // per token, their routing weights
};

Reference per_token_moe(const MoeWeights& w, const at::Tensor& x, int64_t top_k, bool norm_topk_prob) {
  auto d = [](const at::Tensor& t) { return t.to(at::kDouble); };
  const at::Tensor xd = d(x), router = d(w.router), gates = d(w.experts_gate_proj), ups = d(w.experts_up_proj),
                   downs = d(w.experts_down_proj), shared_gate = d(w.shared_expert_gate).reshape({-1});
  const SwiGluWeights& s = w.shared_expert;
  const at::Tensor s_gate = d(s.gate_proj), s_up = d(s.up_proj), s_down = d(s.down_proj);
  const int64_t tokens = x.size(0), experts = router.size(0);
  Reference ref;
  ref.out = at::zeros({tokens, x.size(1)}, at::kDouble);
  for (int64_t t = 0; t < tokens; ++t) {
    const at::Tensor xt = xd[t];
    at::Tensor logits_t = at::mv(router, xt).contiguous();
    const double* logit = logits_t.data_ptr<double>();
    std::vector<int64_t> order(static_cast<size_t>(experts));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logit[a] > logit[b]; });
    if (top_k < experts) ref.min_logit_gap = std::min(ref.min_logit_gap, logit[order[top_k - 1]] - logit[order[top_k]]);
    double denom = 0;
    for (int64_t e = 0; e < experts; ++e) denom += std::exp(logit[e] - logit[order[0]]);
    std::vector<double> weight;
    for (int64_t j = 0; j < top_k; ++j) weight.push_back(std::exp(logit[order[j]] - logit[order[0]]) / denom);
    if (norm_topk_prob) {
      const double sum = std::accumulate(weight.begin(), weight.end(), 0.0);
      for (double& v : weight) v /= sum;
    }
    at::Tensor y = at::zeros({x.size(1)}, at::kDouble);
    for (int64_t j = 0; j < top_k; ++j) {
      const int64_t e = order[j];
      y += weight[j] * swiglu64(gates[e], ups[e], downs[e], xt);
    }
    const double shared_scale = 1.0 / (1.0 + std::exp(-at::dot(shared_gate, xt).item<double>()));
    y += shared_scale * swiglu64(s_gate, s_up, s_down, xt);
    ref.out[t] = y;
    ref.chosen.emplace_back(order.begin(), order.begin() + top_k);
    ref.weights.push_back(weight);
  }
  return ref;
}

at::Tensor per_token_dense(const SwiGluWeights& w, const at::Tensor& x) {
  at::Tensor out = at::zeros({x.size(0), x.size(1)}, at::kDouble);
  for (int64_t t = 0; t < x.size(0); ++t) {
    out[t] = swiglu64(w.gate_proj.to(at::kDouble), w.up_proj.to(at::kDouble), w.down_proj.to(at::kDouble),
                      x[t].to(at::kDouble));
  }
  return out;
}

// Largest |got - want| relative to the largest |want|.
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  const double scale = want.abs().max().item<double>();
  return (got.to(at::kDouble) - want).abs().max().item<double>() / scale;
}

// A block with weights of unit-ish scale (so outputs are O(1)) and a router spread wide enough that the
// top-k choice is far from any tie for the test's tokens (checked, not assumed, by each test).
MoeWeights random_moe(int64_t experts, int64_t hidden, int64_t width, int64_t shared_width, uint64_t seed) {
  at::manual_seed(seed);
  MoeWeights w;
  w.router = at::randn({experts, hidden});
  w.experts_gate_proj = at::randn({experts, width, hidden}) * 0.3;
  w.experts_up_proj = at::randn({experts, width, hidden}) * 0.3;
  w.experts_down_proj = at::randn({experts, hidden, width}) * 0.3;
  w.shared_expert.gate_proj = at::randn({shared_width, hidden}) * 0.3;
  w.shared_expert.up_proj = at::randn({shared_width, hidden}) * 0.3;
  w.shared_expert.down_proj = at::randn({hidden, shared_width}) * 0.3;
  w.shared_expert_gate = at::randn({1, hidden}) * 0.3;
  return w;
}

// float32 router logits carry ~1e-6 rounding; a gap far above it means both sides pick the same experts.
constexpr double kSafeLogitGap = 1e-3;

ModelConfig tiny_moe_config() {
  ModelConfig c;
  c.architecture = Architecture::Qwen2Moe;
  c.model_type = "qwen2_moe";
  c.vocab_size = 96;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rope_theta = 10000.0;
  c.max_position_embeddings = 256;
  c.attention_bias = true;
  c.num_experts = 6;
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = 12;
  c.shared_expert_intermediate_size = 24;
  c.norm_topk_prob = true;
  c.decoder_sparse_step = 1;
  c.mlp_only_layers = {1};
  return c;
}

KVCache full_cache(const ModelConfig& cfg, int64_t rows, int64_t max_context) {
  return KVCache(make_policy("full", 0, {}, {cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.num_attention_heads,
                                             cfg.head_dim}),
                 CacheShape{rows, cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.num_attention_heads, cfg.head_dim,
                            max_context},
                 at::kFloat, c10::Device(c10::kCPU));
}

}  // namespace

// ---------------------------------------------------------------- fixture-independent

TEST_CASE("MoE block: grouped experts equal a per-token float64 loop", "[moe]") {
  const int64_t experts = 8, hidden = 16, width = 8, shared_width = 12, tokens = 40;
  const MoeWeights w = random_moe(experts, hidden, width, shared_width, 3);
  at::manual_seed(4);
  const at::Tensor x = at::randn({tokens, hidden});
  for (int64_t top_k : {1, 2, 3}) {
    for (bool norm_topk_prob : {false, true}) {
      INFO("top_k " << top_k << ", norm_topk_prob " << norm_topk_prob);
      const Reference ref = per_token_moe(w, x, top_k, norm_topk_prob);
      REQUIRE(ref.min_logit_gap > kSafeLogitGap);
      const at::Tensor got = moe_forward(w, x, top_k, norm_topk_prob);
      REQUIRE(got.scalar_type() == at::kFloat);
      REQUIRE(got.sizes() == x.sizes());
      CHECK(relative_error(got, ref.out) < 1e-5);
    }
  }
  // The renormalisation changes the result (k > 1): the flag is not ignored.
  CHECK(relative_error(moe_forward(w, x, 2, true), per_token_moe(w, x, 2, false).out) > 1e-2);
}

TEST_CASE("MoE block: a single token (decode of one row) and a token routed alone to its experts", "[moe]") {
  const MoeWeights w = random_moe(8, 16, 8, 12, 5);
  at::manual_seed(6);
  const at::Tensor x = at::randn({1, 16});
  const Reference ref = per_token_moe(w, x, 2, false);
  REQUIRE(ref.min_logit_gap > kSafeLogitGap);
  CHECK(relative_error(moe_forward(w, x, 2, false), ref.out) < 1e-5);
}

TEST_CASE("MoE routing: top-k experts and float32 softmax weights, optionally renormalised", "[moe]") {
  const MoeWeights w = random_moe(8, 16, 8, 12, 7);
  at::manual_seed(8);
  const at::Tensor x = at::randn({10, 16});
  for (bool norm_topk_prob : {false, true}) {
    const MoeRouting routing = route_tokens(w.router, x, 3, norm_topk_prob);
    const Reference ref = per_token_moe(w, x, 3, norm_topk_prob);
    REQUIRE(ref.min_logit_gap > kSafeLogitGap);
    REQUIRE(routing.experts.sizes().vec() == std::vector<int64_t>{10, 3});
    REQUIRE(routing.weights.scalar_type() == at::kFloat);
    for (int64_t t = 0; t < 10; ++t) {
      for (int64_t j = 0; j < 3; ++j) {
        CHECK(routing.experts[t][j].item<int64_t>() == ref.chosen[t][j]);
        CHECK(std::abs(routing.weights[t][j].item<double>() - ref.weights[t][j]) < 1e-6);
      }
      if (norm_topk_prob) CHECK(std::abs(routing.weights[t].sum().item<double>() - 1.0) < 1e-6);
    }
  }
  // Weights come back in the hidden dtype (Hugging Face casts them before weighting the experts).
  CHECK(route_tokens(w.router.to(at::kBFloat16), x.to(at::kBFloat16), 2, false).weights.scalar_type() ==
        at::kBFloat16);
}

TEST_CASE("MoE grouping: every (token, slot) pair once, grouped by expert, one group per expert used", "[moe]") {
  const int64_t experts = 8, top_k = 2;
  const MoeWeights w = random_moe(experts, 16, 8, 12, 9);
  for (int64_t tokens : {1, 3, 32}) {
    INFO(tokens << " tokens");
    at::manual_seed(10 + tokens);
    const MoeRouting routing = route_tokens(w.router, at::randn({tokens, 16}), top_k, false);
    const ExpertGroups groups = group_by_expert(routing, experts);
    // What the groups must hold: for each expert, the tokens routed to it with their weights.
    std::map<int64_t, std::vector<std::pair<int64_t, float>>> expected;
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t j = 0; j < top_k; ++j) {
        expected[routing.experts[t][j].item<int64_t>()].push_back({t, routing.weights[t][j].item<float>()});
      }
    }
    // At decode with B rows that is at most B * top_k expert calls, never all experts.
    CHECK(groups.experts.size() <= static_cast<size_t>(std::min(experts, tokens * top_k)));
    REQUIRE(groups.experts.size() == expected.size());
    REQUIRE(groups.offsets.size() == groups.experts.size() + 1);
    CHECK(groups.offsets.back() == tokens * top_k);
    size_t g = 0;
    for (const auto& [expert, pairs] : expected) {
      CHECK(groups.experts[g] == expert);
      std::vector<std::pair<int64_t, float>> got;
      for (int64_t i = groups.offsets[g]; i < groups.offsets[g + 1]; ++i) {
        got.push_back({groups.tokens[i].item<int64_t>(), groups.weights[i].item<float>()});
      }
      CHECK(got == pairs);  // token order within a group: the sort is stable
      ++g;
    }
  }
}

TEST_CASE("MoE model: sparse layers get the MoE block, mlp_only_layers and the sparse step a dense MLP", "[moe]") {
  ModelConfig config = tiny_moe_config();
  auto model = CausalLM::random(config, at::kFloat, c10::Device(c10::kCPU), 21);
  at::manual_seed(22);
  const at::Tensor x = at::randn({24, config.hidden_size});
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    INFO("layer " << layer);
    const LayerWeights& w = model->layer(layer);
    const at::Tensor got = model->feed_forward(layer, x);
    if (layer == 1) {  // listed in mlp_only_layers
      REQUIRE_FALSE(w.moe.defined());
      REQUIRE(w.mlp.gate_proj.sizes().vec() == std::vector<int64_t>{config.intermediate_size, config.hidden_size});
      CHECK(relative_error(got, per_token_dense(w.mlp, x)) < 1e-5);
      continue;
    }
    REQUIRE_FALSE(w.mlp.defined());
    REQUIRE(w.moe.defined());
    using Shape = std::vector<int64_t>;
    CHECK(w.moe.router.sizes().vec() == Shape{config.num_experts, config.hidden_size});
    CHECK(w.moe.experts_gate_proj.sizes().vec() ==
          Shape{config.num_experts, config.moe_intermediate_size, config.hidden_size});
    CHECK(w.moe.experts_down_proj.sizes().vec() ==
          Shape{config.num_experts, config.hidden_size, config.moe_intermediate_size});
    CHECK(w.moe.shared_expert.up_proj.sizes().vec() == Shape{config.shared_expert_intermediate_size, config.hidden_size});
    CHECK(w.moe.shared_expert_gate.sizes().vec() == Shape{1, config.hidden_size});
    // The model's own top-k and norm_topk_prob are the ones used.
    const Reference ref = per_token_moe(w.moe, x, config.num_experts_per_tok, config.norm_topk_prob);
    REQUIRE(ref.min_logit_gap > 1e-5);  // random() draws a narrow router (std 0.02): a smaller, still safe gap
    CHECK(relative_error(got, ref.out) < 1e-5);
  }

  // decoder_sparse_step 2: only layers 1, 3, ... are sparse.
  config.mlp_only_layers.clear();
  config.decoder_sparse_step = 2;
  auto stepped = CausalLM::random(config, at::kFloat, c10::Device(c10::kCPU), 21);
  CHECK(stepped->layer(0).mlp.defined());
  CHECK(stepped->layer(1).moe.defined());
  CHECK(stepped->layer(2).mlp.defined());
}

TEST_CASE("MoE model: batched decode steps give the logits of a full prefill", "[moe]") {
  const ModelConfig config = tiny_moe_config();
  auto model = CausalLM::random(config, at::kFloat, c10::Device(c10::kCPU), 31);
  at::manual_seed(32);
  const at::Tensor seq_a = at::randint(0, config.vocab_size, {14}, at::kLong);
  const at::Tensor seq_b = at::randint(0, config.vocab_size, {11}, at::kLong);
  auto full_logits = [&](const at::Tensor& seq) {
    KVCache cache = full_cache(config, 1, seq.size(0));
    return model->prefill(seq, 0, cache, /*all_logits=*/true);
  };
  const at::Tensor want_a = full_logits(seq_a), want_b = full_logits(seq_b);

  // Two rows of different lengths: the MoE block sees both rows' tokens in one group-by-expert step.
  const int64_t prefix_a = 9, prefix_b = 6, steps = 5;
  KVCache cache = full_cache(config, 2, seq_a.size(0));
  const at::Tensor first_a = model->prefill(seq_a.slice(0, 0, prefix_a), 0, cache);
  const at::Tensor first_b = model->prefill(seq_b.slice(0, 0, prefix_b), 1, cache);
  // random() draws weights of std 0.02, so logits are ~0.1 and the MoE blocks move them by ~1e-3 relative:
  // the tolerance is relative and far below that, far above float32 rounding.
  const double tolerance = 1e-5 * std::max(want_a.abs().max().item<double>(), want_b.abs().max().item<double>());
  CHECK((first_a[0] - want_a[prefix_a - 1]).abs().max().item<double>() < tolerance);
  CHECK((first_b[0] - want_b[prefix_b - 1]).abs().max().item<double>() < tolerance);
  double worst = 0;
  for (int64_t s = 0; s < steps; ++s) {
    const at::Tensor ids = at::stack({seq_a[prefix_a + s], seq_b[prefix_b + s]});
    const at::Tensor positions = at::tensor(std::vector<int64_t>{prefix_a + s, prefix_b + s}, at::kLong);
    const at::Tensor logits = model->decode(ids, positions, cache);
    cache.end_step();
    worst = std::max(worst, (logits[0] - want_a[prefix_a + s]).abs().max().item<double>());
    worst = std::max(worst, (logits[1] - want_b[prefix_b + s]).abs().max().item<double>());
  }
  INFO("largest logit difference " << worst << ", tolerance " << tolerance);
  CHECK(worst < tolerance);
}

TEST_CASE("bench shape qwen2-moe-a2.7b is Qwen1.5-MoE-A2.7B", "[moe]") {
  const ModelConfig c = bench_shape("qwen2-moe-a2.7b");
  CHECK(c.architecture == Architecture::Qwen2Moe);
  CHECK(c.num_experts == 60);
  CHECK(c.num_experts_per_tok == 4);
  CHECK_FALSE(c.norm_topk_prob);
  CHECK_FALSE(c.tie_word_embeddings);
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) CHECK(c.layer_is_moe(layer));
  // The published checkpoint has 14.3B parameters; every field that shapes a tensor of this all-sparse
  // model enters the count (intermediate_size does not: no layer is dense).
  int64_t parameters = 0;
  for (const ExpectedTensor& t : expected_tensors(c)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    parameters += n;
  }
  CHECK(parameters == 14315784192);
}

// ---------------------------------------------------------------- Hugging Face parity (needs the fixture)

TEST_CASE("HF parity (Qwen2-MoE): greedy tokens and log-probabilities, one prompt at a time", "[parity][moe]") {
  LoadedModel loaded = load_fixture();
  const ModelConfig& cfg = loaded.model->config();
  REQUIRE(cfg.architecture == Architecture::Qwen2Moe);
  // The fixture covers both layer kinds and the untied head.
  REQUIRE(loaded.model->layer(0).moe.defined());
  REQUIRE(loaded.model->layer(1).mlp.defined());
  REQUIRE_FALSE(cfg.tie_word_embeddings);
  GenerationOptions options;
  options.eos_ids = loaded.eos_ids;
  for (const auto& ref : read_parity()) {
    INFO("prompt '" << ref.name << "'");
    CHECK(loaded.tokenizer->encode(ref.text) == ref.prompt_ids);
    auto results = generate(*loaded.model, {request_for(ref)}, options);
    check_against(ref, results.at(0));
  }
}

TEST_CASE("HF parity (Qwen2-MoE): a batch of prompts of different lengths decodes as each alone", "[parity][moe]") {
  LoadedModel loaded = load_fixture();
  GenerationOptions options;
  options.eos_ids = loaded.eos_ids;
  auto refs = read_parity();
  std::vector<GenerationRequest> batch;
  for (const auto& r : refs) batch.push_back(request_for(r));
  auto results = generate(*loaded.model, batch, options);
  REQUIRE(results.size() == refs.size());
  for (size_t i = 0; i < refs.size(); ++i) check_against(refs[i], results[i]);
}

TEST_CASE("HF parity (Qwen2-MoE): log-probabilities of every position of a ~2,000-token prompt", "[parity][moe]") {
  LoadedModel loaded = load_fixture();
  bool seen_long_prompt = false;
  for (const auto& ref : read_parity()) {
    if (ref.prompt_logprobs.empty()) continue;
    seen_long_prompt = true;
    REQUIRE(ref.prompt_ids.size() > 2000);
    const auto& cfg = loaded.model->config();
    KVCache cache = full_cache(cfg, 1, static_cast<int64_t>(ref.prompt_ids.size()));
    std::vector<int64_t> ids(ref.prompt_ids.begin(), ref.prompt_ids.end());
    at::Tensor logits = loaded.model->prefill(at::tensor(ids, at::kLong), 0, cache, /*all_logits=*/true);
    at::Tensor logprobs = at::log_softmax(logits.to(at::kDouble), -1);
    double worst = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const double got = logprobs[static_cast<int64_t>(i)][ids[i + 1]].item<double>();
      worst = std::max(worst, std::abs(got - ref.prompt_logprobs[i]));
    }
    INFO("largest prompt log-probability difference " << worst << ", HF's smallest router gap " << ref.min_router_gap);
    CHECK(worst < kLogprobTolerance);
  }
  CHECK(seen_long_prompt);
}
