// Hand-made cases where the selected set is known: StreamingLLM window boundaries, H2O heavy hitters, TOVA
// evictions and Quest page bounds, checked index by index (float32, the path real runs take).
#include "catch_torch.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "policies/policy.h"
#include "policies/prompt_attention.h"
#include "runtime/kv_cache.h"

using namespace lil;

namespace {

// One layer, one row, one KV head, one query head.
KVCache single_head_cache(const std::string& policy, int64_t budget, const std::map<std::string, std::string>& knobs,
                          int64_t head_dim, int64_t max_context) {
  return KVCache(make_policy(policy, budget, knobs, PolicyGeometry{1, 1, 1, head_dim}),
                 CacheShape{1, 1, 1, 1, head_dim, max_context}, at::kFloat, c10::Device(c10::kCPU));
}

std::set<int64_t> resident(KVCache& cache) {
  std::set<int64_t> out;
  at::Tensor pos = cache.layer(0).positions[0][0];
  for (int64_t i = 0; i < pos.size(0); ++i) {
    if (pos[i].item<int64_t>() >= 0) out.insert(pos[i].item<int64_t>());
  }
  return out;
}

std::set<int64_t> range(int64_t begin, int64_t end) {
  std::set<int64_t> out;
  for (int64_t i = begin; i < end; ++i) out.insert(i);
  return out;
}

// Keys c_j * e0 (rows of `scale`), queries e0 by default: token j's logit is c_j.
at::Tensor keys_along_e0(const std::vector<float>& scale, int64_t head_dim) {
  at::Tensor k = at::zeros({1, static_cast<int64_t>(scale.size()), head_dim});
  for (size_t j = 0; j < scale.size(); ++j) k[0][static_cast<int64_t>(j)][0] = scale[j];
  return k;
}

void decode_one(KVCache& cache, const at::Tensor& query, const at::Tensor& key, int64_t position) {
  const int64_t d = query.size(-1);
  cache.decode_attention(0, query.view({1, 1, d}), key.view({1, 1, d}), at::ones({1, 1, d}),
                         at::full({1}, position, at::kLong), 1.0);
}

at::Tensor e0(int64_t head_dim, float value = 1.0f) {
  at::Tensor q = at::zeros({head_dim});
  q[0] = value;
  return q;
}

}  // namespace

TEST_CASE("sink: first n_sink tokens plus the recent window, at the prefill and while decoding", "[policy][selection]") {
  const int64_t d = 4;
  KVCache cache = single_head_cache("sink", 8, {{"n_sink", "2"}}, d, 40);
  at::Tensor q = at::randn({1, 20, d}), k = at::randn({1, 20, d}), v = at::randn({1, 20, d});
  cache.store_prefill(0, 0, q, k, v, 0.5);
  std::set<int64_t> expected{0, 1};
  for (int64_t p : range(14, 20)) expected.insert(p);
  CHECK(resident(cache) == expected);
  for (int64_t p = 20; p < 23; ++p) decode_one(cache, at::randn({d}), at::randn({d}), p);
  expected = {0, 1};
  for (int64_t p : range(17, 23)) expected.insert(p);
  CHECK(resident(cache) == expected);

  SECTION("without sinks it is a sliding window") {
    KVCache window = single_head_cache("sink", 5, {{"n_sink", "0"}}, d, 40);
    window.store_prefill(0, 0, q, k, v, 0.5);
    CHECK(resident(window) == range(15, 20));
    decode_one(window, at::randn({d}), at::randn({d}), 20);
    CHECK(resident(window) == range(16, 21));
  }
}

TEST_CASE("h2o: heavy hitters by accumulated attention survive, the recent window is protected", "[policy][selection]") {
  const int64_t d = 4;
  // Tokens 1 and 6 have keys 10 e0, the others -10 e0; every query is e0. Token 1 takes nearly all the
  // attention of queries 1..5 and half of 6..9 (about 7), token 6 half of 6..9 (about 2), token 0 only query
  // 0's (1), the rest almost nothing.
  std::vector<float> c(10, -10.0f);
  c[1] = c[6] = 10.0f;
  KVCache cache = single_head_cache("h2o", 4, {{"recent", "2"}}, d, 20);
  at::Tensor q = e0(d).view({1, 1, d}).expand({1, 10, d}).contiguous();
  cache.store_prefill(0, 0, q, keys_along_e0(c, d), at::ones({1, 10, d}), 1.0);
  CHECK(resident(cache) == std::set<int64_t>{1, 6, 8, 9});  // heavy {1, 6} + recent {8, 9}

  // Writing 10 protects 9 (with 10 the window of 2); among {1, 6, 8}, token 8 has the least mass.
  decode_one(cache, e0(d), e0(d, -10.0f), 10);
  CHECK(resident(cache) == std::set<int64_t>{1, 6, 9, 10});
  decode_one(cache, e0(d), e0(d, -10.0f), 11);
  CHECK(resident(cache) == std::set<int64_t>{1, 6, 10, 11});
}

TEST_CASE("tova: the token with the lowest attention at the latest query is evicted", "[policy][selection]") {
  const int64_t d = 2;
  // Logits of the last prompt query: 3, 0, 2, -1, 1, 4 -> the top four are tokens 0, 2, 4, 5.
  KVCache cache = single_head_cache("tova", 4, {}, d, 20);
  at::Tensor q = e0(d).view({1, 1, d}).expand({1, 6, d}).contiguous();
  cache.store_prefill(0, 0, q, keys_along_e0({3, 0, 2, -1, 1, 4}, d), at::ones({1, 6, d}), 1.0);
  CHECK(resident(cache) == std::set<int64_t>{0, 2, 4, 5});
  // Writing 6 evicts 4 (lowest attention at the prompt's last query). Query -e0 then ranks 6 (key 0.5 e0)
  // first and 5 (key 4 e0) last...
  decode_one(cache, e0(d, -1.0f), e0(d, 0.5f), 6);
  CHECK(resident(cache) == std::set<int64_t>{0, 2, 5, 6});
  // ...so writing 7 evicts 5.
  decode_one(cache, e0(d), e0(d), 7);
  CHECK(resident(cache) == std::set<int64_t>{0, 2, 6, 7});
}

TEST_CASE("quest: pages ranked by their min/max upper bound, the current page always attended", "[policy][selection]") {
  const int64_t d = 2;
  // Pages of 2 tokens: page 0 keys (1,0),(0,1); page 1 (-5,-5),(-4,-4); page 2 (3,3),(2,2); page 3 zeros.
  at::Tensor k = at::tensor({1.f, 0.f, 0.f, 1.f, -5.f, -5.f, -4.f, -4.f, 3.f, 3.f, 2.f, 2.f, 0.f, 0.f, 0.f, 0.f}).view({1, 8, d});
  KVCache cache = single_head_cache("quest", 4, {{"page_size", "2"}}, d, 12);
  cache.store_prefill(0, 0, at::randn({1, 8, d}), k, at::randn({1, 8, d}), 1.0);
  decode_one(cache, at::tensor({1.f, 1.f}), at::zeros({d}), 8);  // token 8 opens page 4

  auto attended = [&](const at::Tensor& query) {
    Selection sel = cache.policy().select(cache.layer(0), query.view({1, 1, 1, d}), at::full({1}, 8, at::kLong));
    REQUIRE(sel.slots.size(2) == 4);  // budget / page_size pages of 2 slots, a fixed shape
    std::set<int64_t> out;
    for (int64_t i = 0; i < sel.slots.size(2); ++i) {
      if (sel.valid[0][0][i].item<bool>()) out.insert(sel.slots[0][0][i].item<int64_t>());
    }
    return out;
  };
  // q = (1,1): bounds 2, -8, 6, 0 -> page 2 (slots 4, 5) with the current page (slot 8; slot 9 is empty).
  CHECK(attended(at::tensor({1.f, 1.f})) == std::set<int64_t>{4, 5, 8});
  // q = (-1,0): bounds 0, 5, -2, 0 -> page 1: a negative component takes the page minimum.
  CHECK(attended(at::tensor({-1.f, 0.f})) == std::set<int64_t>{2, 3, 8});
  // q = (0,-1): bounds 0, 5, -2, 0 again by the second coordinate.
  CHECK(attended(at::tensor({0.f, -1.f})) == std::set<int64_t>{2, 3, 8});
}

TEST_CASE("prompt attention: chunked over queries, it equals the dense causal softmax", "[policy][selection]") {
  // Prompts longer than a query chunk (256), several heads per KV head: the mass each token receives (H2O's
  // prefill scores, each chunk's scores cut at its last query) and the probabilities of a window of queries
  // (TOVA, SnapKV) against one dense masked softmax over the whole prompt.
  at::manual_seed(31);
  for (int64_t prompt_len : {1, 255, 256, 257, 600}) {
    INFO("prompt length " << prompt_len);
    const int64_t n_kv = 2, group = 3, head_dim = 16;
    at::Tensor queries = at::randn({n_kv * group, prompt_len, head_dim}, at::kFloat);
    at::Tensor keys = at::randn({n_kv, prompt_len, head_dim}, at::kFloat) * 2;
    at::Tensor values = at::randn({n_kv, prompt_len, head_dim}, at::kFloat);
    const double scale = 0.25;
    PrefillView view{0, 0, queries, keys, values, scale};

    at::Tensor q = queries.reshape({n_kv, group, prompt_len, head_dim}).to(at::kDouble);
    at::Tensor logits = at::matmul(q, keys.to(at::kDouble).unsqueeze(1).transpose(2, 3)) * scale;
    at::Tensor future = at::ones({prompt_len, prompt_len}, at::kBool).triu(1);
    at::Tensor dense = at::softmax(logits.masked_fill(future, -std::numeric_limits<double>::infinity()), -1);

    at::Tensor received = prompt_attention_received(view);
    REQUIRE(received.sizes() == at::IntArrayRef({n_kv, prompt_len}));
    CHECK(received.scalar_type() == at::kFloat);
    CHECK(at::allclose(received.to(at::kDouble), dense.sum({1, 2}), 1e-5, 1e-5));
    // Every query's probabilities sum to one: the total mass is the number of queries times the group.
    CHECK(received.sum().item<double>() == Approx(static_cast<double>(n_kv * group * prompt_len)).epsilon(1e-5));

    const int64_t begin = std::max<int64_t>(0, prompt_len - 40);
    at::Tensor window = prompt_attention(view, begin, prompt_len);
    REQUIRE(window.sizes() == at::IntArrayRef({n_kv, group, prompt_len - begin, prompt_len}));
    CHECK(at::allclose(window.to(at::kDouble), dense.slice(2, begin, prompt_len), 1e-5, 1e-6));
  }
}
