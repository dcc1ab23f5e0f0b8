#include "policy_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace lil::test {

// ---------------------------------------------------------------------------------------------------------
// The shared simulation: history, memory, write-before-attend, attention with an explicit mask.

double HeadReference::dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t d = 0; d < a.size(); ++d) s += a[d] * b[d];
  return s;
}

Vec HeadReference::softmax_over(const Vec& q, const std::vector<int64_t>& positions) const {
  Vec logits;
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t pos : positions) {
    logits.push_back(shape_.softmax_scale * dot(q, key(pos)));
    top = std::max(top, logits.back());
  }
  double total = 0;
  for (double& x : logits) total += (x = std::exp(x - top));
  for (double& x : logits) x /= total;
  return logits;
}

std::vector<int64_t> HeadReference::resident() const {
  std::vector<int64_t> out;
  for (size_t pos = 0; pos < alive_.size(); ++pos) {
    if (alive_[pos]) out.push_back(static_cast<int64_t>(pos));
  }
  return out;
}

void HeadReference::prefill(const std::vector<std::vector<Vec>>& queries, const std::vector<Vec>& keys,
                            const std::vector<Vec>& values) {
  const size_t prompt_len = keys.size();
  keys_ = keys;
  values_ = values;
  queries_.assign(prompt_len, std::vector<Vec>(static_cast<size_t>(shape_.group)));
  for (size_t t = 0; t < prompt_len; ++t) {
    for (size_t g = 0; g < queries.size(); ++g) queries_[t][g] = queries[g][t];
  }
  alive_.assign(prompt_len, true);
  score_.assign(prompt_len, 0.0);
  if (evicts()) {
    const std::vector<double> scores = prompt_scores();
    const std::vector<bool> kept_anyway = prompt_protected();
    if (static_cast<int64_t>(prompt_len) > budget_) {
      // Protected first, then higher score, then the earlier token.
      std::vector<int64_t> order(prompt_len);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        const size_t ia = static_cast<size_t>(a), ib = static_cast<size_t>(b);
        if (kept_anyway[ia] != kept_anyway[ib]) return static_cast<bool>(kept_anyway[ia]);
        if (!kept_anyway[ia] && scores[ia] != scores[ib]) return scores[ia] > scores[ib];
        return a < b;
      });
      alive_.assign(prompt_len, false);
      for (int64_t i = 0; i < budget_; ++i) alive_[static_cast<size_t>(order[static_cast<size_t>(i)])] = true;
    }
    score_ = scores;
  }
  after_prefill();
}

std::vector<Vec> HeadReference::decode(const std::vector<Vec>& queries, const Vec& key_in, const Vec& value) {
  ++decode_steps_;
  const int64_t next = context();
  if (evicts() && static_cast<int64_t>(resident().size()) >= budget_) {
    // Lowest score among unprotected tokens, the oldest on equal scores (all tokens if none is unprotected).
    std::vector<int64_t> candidates;
    for (int64_t pos : resident()) {
      if (!is_protected(pos, next)) candidates.push_back(pos);
    }
    if (candidates.empty()) candidates = resident();
    int64_t victim = candidates.front();
    for (int64_t pos : candidates) {
      if (victim_score(pos) < victim_score(victim)) victim = pos;
    }
    alive_[static_cast<size_t>(victim)] = false;
  }
  keys_.push_back(key_in);
  values_.push_back(value);
  queries_.push_back(queries);
  alive_.push_back(true);
  score_.push_back(0.0);

  attended_ = choose();
  std::sort(attended_.begin(), attended_.end());
  std::vector<Vec> out, probs;
  for (int64_t g = 0; g < shape_.group; ++g) {
    probs.push_back(softmax_over(queries[static_cast<size_t>(g)], attended_));
    Vec o(static_cast<size_t>(shape_.head_dim), 0.0);
    for (size_t i = 0; i < attended_.size(); ++i) {
      const Vec& v = values_[static_cast<size_t>(attended_[i])];
      for (size_t d = 0; d < o.size(); ++d) o[d] += probs.back()[i] * v[d];
    }
    out.push_back(o);
  }
  observe(attended_, probs);
  return out;
}

namespace {

using Knobs = std::map<std::string, std::string>;

int64_t knob(const Knobs& knobs, const std::string& key, int64_t fallback) {
  auto it = knobs.find(key);
  return it == knobs.end() ? fallback : std::stoll(it->second);
}
double knob_double(const Knobs& knobs, const std::string& key, double fallback) {
  auto it = knobs.find(key);
  return it == knobs.end() ? fallback : std::stod(it->second);
}
std::string knob_text(const Knobs& knobs, const std::string& key, const std::string& fallback) {
  auto it = knobs.find(key);
  return it == knobs.end() ? fallback : it->second;
}

// ---------------------------------------------------------------------------------------------------------
class FullReference final : public HeadReference {
 public:
  using HeadReference::HeadReference;
  bool evicts() const override { return false; }
};

// First n_sink tokens + the most recent ones; the oldest non-sink token goes.
class SinkReference final : public HeadReference {
 public:
  SinkReference(const HeadShape& s, int64_t budget, int64_t n_sink) : HeadReference(s, budget), n_sink_(n_sink) {}
  bool evicts() const override { return true; }
  std::vector<double> prompt_scores() override {
    std::vector<double> s;
    for (int64_t t = 0; t < context(); ++t) s.push_back(static_cast<double>(t));
    return s;
  }
  std::vector<bool> prompt_protected() override {
    std::vector<bool> p;
    for (int64_t t = 0; t < context(); ++t) p.push_back(t < n_sink_);
    return p;
  }
  bool is_protected(int64_t pos, int64_t) const override { return pos < n_sink_; }
  double victim_score(int64_t pos) const override { return static_cast<double>(pos); }

 private:
  int64_t n_sink_;
};

// Accumulated attention (summed over the group), recent window protected.
class H2OReference final : public HeadReference {
 public:
  H2OReference(const HeadShape& s, int64_t budget, int64_t recent) : HeadReference(s, budget), recent_(recent) {}
  bool evicts() const override { return true; }
  std::vector<double> prompt_scores() override {
    std::vector<double> s(static_cast<size_t>(context()), 0.0);
    for (int64_t i = 0; i < context(); ++i) {
      std::vector<int64_t> visible(static_cast<size_t>(i + 1));
      std::iota(visible.begin(), visible.end(), 0);
      for (int64_t g = 0; g < shape_.group; ++g) {
        Vec p = softmax_over(query(i, g), visible);
        for (int64_t m = 0; m <= i; ++m) s[static_cast<size_t>(m)] += p[static_cast<size_t>(m)];
      }
    }
    return s;
  }
  std::vector<bool> prompt_protected() override {
    std::vector<bool> p;
    for (int64_t t = 0; t < context(); ++t) p.push_back(t >= context() - recent_);
    return p;
  }
  bool is_protected(int64_t pos, int64_t next) const override { return pos > next - recent_; }
  void observe(const std::vector<int64_t>& chosen, const std::vector<Vec>& probs) override {
    for (const Vec& p : probs) {
      for (size_t i = 0; i < chosen.size(); ++i) score(chosen[i]) += p[i];
    }
  }

 private:
  int64_t recent_;
};

// Attention of the latest query only (mean over the group).
class TovaReference final : public HeadReference {
 public:
  using HeadReference::HeadReference;
  bool evicts() const override { return true; }
  std::vector<double> prompt_scores() override {
    std::vector<int64_t> all(static_cast<size_t>(context()));
    std::iota(all.begin(), all.end(), 0);
    std::vector<double> s(all.size(), 0.0);
    for (int64_t g = 0; g < shape_.group; ++g) {
      Vec p = softmax_over(query(latest(), g), all);
      for (size_t m = 0; m < all.size(); ++m) s[m] += p[m] / static_cast<double>(shape_.group);
    }
    return s;
  }
  void observe(const std::vector<int64_t>& chosen, const std::vector<Vec>& probs) override {
    for (size_t i = 0; i < chosen.size(); ++i) {
      double mean = 0;
      for (const Vec& p : probs) mean += p[i] / static_cast<double>(shape_.group);
      score(chosen[i]) = mean;
    }
  }
};

// SnapKV and R-KV: scoring with the last `window` queries at the prefill and every `interval` steps.
class ObservationReference : public HeadReference {
 public:
  ObservationReference(const HeadShape& s, int64_t budget, int64_t window, int64_t interval)
      : HeadReference(s, budget), window_(window), interval_(interval) {}
  bool evicts() const override { return true; }

  std::vector<double> prompt_scores() override {
    std::vector<int64_t> all(static_cast<size_t>(context()));
    std::iota(all.begin(), all.end(), 0);
    std::vector<double> s(all.size(), 0.0);
    for (const auto& [pos, value] : scores_at(latest(), all)) s[static_cast<size_t>(pos)] = value;
    return s;
  }
  std::vector<bool> prompt_protected() override {
    std::vector<bool> p;
    for (int64_t t = 0; t < context(); ++t) p.push_back(t >= context() - window_);
    return p;
  }
  void after_prefill() override { scored_up_to_ = latest(); }
  bool is_protected(int64_t pos, int64_t) const override { return pos > scored_up_to_ - window_; }
  void observe(const std::vector<int64_t>&, const std::vector<Vec>&) override {
    if (decode_steps_ % interval_ != 0) return;
    const std::vector<int64_t> in_memory = resident();
    for (int64_t pos : in_memory) score(pos) = 0.0;
    for (const auto& [pos, value] : scores_at(latest(), in_memory)) score(pos) = value;
    scored_up_to_ = latest();
  }

 protected:
  // Candidates (in memory, position <= s - window), ascending, and their scores.
  virtual std::vector<double> candidate_scores(const std::vector<int64_t>& candidates, const Vec& attention,
                                               const std::vector<int64_t>& in_memory) = 0;

  // kernel-wide pooling with stride 1 and kernel/2 padding over a sequence.
  static Vec pool(const Vec& x, int64_t kernel, bool average) {
    const int64_t n = static_cast<int64_t>(x.size()), half = kernel / 2;
    Vec out(x.size());
    for (int64_t i = 0; i < n; ++i) {
      double acc = average ? 0.0 : -std::numeric_limits<double>::infinity();
      for (int64_t j = i - half; j <= i + half; ++j) {
        if (j < 0 || j >= n) continue;  // padding: 0 for the average (divided by kernel), nothing for the max
        acc = average ? acc + x[static_cast<size_t>(j)] : std::max(acc, x[static_cast<size_t>(j)]);
      }
      out[static_cast<size_t>(i)] = average ? acc / static_cast<double>(kernel) : acc;
    }
    return out;
  }

  int64_t window_, interval_;

 private:
  std::vector<std::pair<int64_t, double>> scores_at(int64_t s, const std::vector<int64_t>& in_memory) {
    // Attention each token in memory receives from the queries at s-window+1 .. s (causal), averaged over
    // those queries and the group.
    const int64_t first_query = std::max<int64_t>(0, s - window_ + 1);
    const double n_queries = static_cast<double>(s - first_query + 1);
    std::map<int64_t, double> received;
    for (int64_t qpos = first_query; qpos <= s; ++qpos) {
      std::vector<int64_t> visible;
      for (int64_t pos : in_memory) {
        if (pos <= qpos) visible.push_back(pos);
      }
      for (int64_t g = 0; g < shape_.group; ++g) {
        Vec p = softmax_over(query(qpos, g), visible);
        for (size_t i = 0; i < visible.size(); ++i) {
          received[visible[i]] += p[i] / n_queries / static_cast<double>(shape_.group);
        }
      }
    }
    std::vector<int64_t> candidates;
    Vec attention;
    for (int64_t pos : in_memory) {
      if (pos <= s - window_) {
        candidates.push_back(pos);
        attention.push_back(received[pos]);
      }
    }
    const std::vector<double> scores = candidate_scores(candidates, attention, in_memory);
    std::vector<std::pair<int64_t, double>> out;
    for (size_t i = 0; i < candidates.size(); ++i) out.emplace_back(candidates[i], scores[i]);
    return out;
  }

  int64_t scored_up_to_ = -1;
};

class SnapKVReference final : public ObservationReference {
 public:
  SnapKVReference(const HeadShape& s, int64_t budget, int64_t window, int64_t interval, int64_t kernel, bool average)
      : ObservationReference(s, budget, window, interval), kernel_(kernel), average_(average) {}

 protected:
  std::vector<double> candidate_scores(const std::vector<int64_t>&, const Vec& attention,
                                       const std::vector<int64_t>&) override {
    return pool(attention, kernel_, average_);
  }

 private:
  int64_t kernel_;
  bool average_;
};

class RKVReference final : public ObservationReference {
 public:
  RKVReference(const HeadShape& s, int64_t budget, int64_t window, int64_t interval, int64_t kernel, double lambda,
               double threshold)
      : ObservationReference(s, budget, window, interval), kernel_(kernel), lambda_(lambda), threshold_(threshold) {}

 protected:
  std::vector<double> candidate_scores(const std::vector<int64_t>& candidates, const Vec& attention,
                                       const std::vector<int64_t>& in_memory) override {
    const Vec importance = pool(attention, kernel_, /*average=*/false);
    // Redundancy over every token in memory.
    const size_t n = in_memory.size();
    std::vector<Vec> unit;
    for (int64_t pos : in_memory) {
      Vec k = key(pos);
      const double norm = std::sqrt(dot(k, k)) + 1e-8;
      for (double& x : k) x /= norm;
      unit.push_back(k);
    }
    Vec mean(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      Vec sim(n, 0.0);
      int64_t latest_similar = -1;
      for (size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        sim[j] = dot(unit[i], unit[j]);
        if (sim[j] > threshold_ && (latest_similar < 0 || in_memory[j] > in_memory[static_cast<size_t>(latest_similar)])) {
          latest_similar = static_cast<int64_t>(j);
        }
      }
      if (latest_similar >= 0) sim[static_cast<size_t>(latest_similar)] = 0.0;
      for (double x : sim) mean[i] += x;
      mean[i] /= static_cast<double>(n);
    }
    const double top = *std::max_element(mean.begin(), mean.end());
    double total = 0;
    std::map<int64_t, double> redundancy;
    for (size_t i = 0; i < n; ++i) total += std::exp(mean[i] - top);
    for (size_t i = 0; i < n; ++i) redundancy[in_memory[i]] = std::exp(mean[i] - top) / total;
    std::vector<double> out;
    for (size_t c = 0; c < candidates.size(); ++c) {
      out.push_back(lambda_ * importance[c] - (1.0 - lambda_) * redundancy[candidates[c]]);
    }
    return out;
  }

 private:
  int64_t kernel_;
  double lambda_, threshold_;
};

// Pages of page_size positions; the current page plus the top pages by min/max upper bound.
class QuestReference final : public HeadReference {
 public:
  QuestReference(const HeadShape& s, int64_t budget, int64_t page_size) : HeadReference(s, budget), page_size_(page_size) {}
  bool evicts() const override { return false; }
  std::vector<int64_t> choose() override {
    const int64_t p = latest();
    const int64_t current_page = p / page_size_;
    const int64_t total_pages = (shape_.max_context + page_size_ - 1) / page_size_;
    const int64_t pages_attended = std::min(budget_ / page_size_, total_pages);
    std::vector<std::pair<double, int64_t>> ranked;  // (bound, page) of the other non-empty pages
    for (int64_t page = 0; page < current_page; ++page) {
      double bound = 0;
      for (int64_t g = 0; g < shape_.group; ++g) {
        const Vec& q = query(p, g);
        for (size_t d = 0; d < q.size(); ++d) {
          double lo = std::numeric_limits<double>::infinity(), hi = -lo;
          for (int64_t pos = page * page_size_; pos < (page + 1) * page_size_; ++pos) {
            lo = std::min(lo, key(pos)[d]);
            hi = std::max(hi, key(pos)[d]);
          }
          bound += std::max(q[d] * lo, q[d] * hi);
        }
      }
      ranked.emplace_back(bound, page);
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<int64_t> pages{current_page};
    for (size_t i = 0; i < ranked.size() && static_cast<int64_t>(pages.size()) < pages_attended; ++i) {
      pages.push_back(ranked[i].second);
    }
    std::vector<int64_t> out;
    for (int64_t page : pages) {
      for (int64_t pos = page * page_size_; pos < (page + 1) * page_size_ && pos <= p; ++pos) out.push_back(pos);
    }
    return out;
  }

 private:
  int64_t page_size_;
};

// Initial tokens + local window + top memory blocks by representative keys.
class InfLLMReference final : public HeadReference {
 public:
  InfLLMReference(const HeadShape& s, int64_t budget, int64_t n_sink, int64_t local, int64_t block_size, int64_t reps)
      : HeadReference(s, budget), n_sink_(n_sink), block_size_(block_size), reps_(reps) {
    n_blocks_ = (budget - n_sink - local) / block_size;
    local_ = budget - n_sink - n_blocks_ * block_size;
  }
  bool evicts() const override { return false; }

  void after_prefill() override {
    // r_m = sum of q_i . k_m over the following queries i = m+1 .. m+L in the prompt, summed over the group.
    for (int64_t m = n_sink_; m < context(); ++m) {
      for (int64_t i = m + 1; i <= std::min(latest(), m + local_); ++i) {
        for (int64_t g = 0; g < shape_.group; ++g) score(m) += dot(query(i, g), key(m));
      }
    }
  }

  std::vector<int64_t> choose() override {
    const int64_t p = latest();
    std::vector<int64_t> out;
    for (int64_t pos = 0; pos < n_sink_ && pos <= p; ++pos) out.push_back(pos);
    const int64_t local_start = std::max(p - local_ + 1, n_sink_);
    for (int64_t pos = local_start; pos <= p; ++pos) out.push_back(pos);
    const int64_t total_blocks = std::max<int64_t>(0, (shape_.max_context - n_sink_ + block_size_ - 1) / block_size_);
    std::vector<std::pair<double, int64_t>> ranked;  // (relevance, block)
    for (int64_t block = 0; block < total_blocks; ++block) {
      const int64_t start = n_sink_ + block * block_size_;
      if (start >= local_start) break;
      std::vector<std::pair<double, int64_t>> held;  // (representative score, position) before the local window
      for (int64_t pos = start; pos < std::min(start + block_size_, local_start); ++pos) held.emplace_back(score(pos), pos);
      std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      double relevance = 0;
      for (size_t r = 0; r < held.size() && static_cast<int64_t>(r) < reps_; ++r) {
        for (int64_t g = 0; g < shape_.group; ++g) relevance += dot(query(p, g), key(held[r].second));
      }
      ranked.emplace_back(relevance, block);
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    const int64_t blocks_attended = std::min(n_blocks_, total_blocks);
    for (size_t i = 0; i < ranked.size() && static_cast<int64_t>(i) < blocks_attended; ++i) {
      const int64_t start = n_sink_ + ranked[i].second * block_size_;
      for (int64_t pos = start; pos < std::min(start + block_size_, local_start); ++pos) out.push_back(pos);
    }
    return out;
  }

  void observe(const std::vector<int64_t>&, const std::vector<Vec>&) override {
    const int64_t p = latest();
    for (int64_t m = std::max(n_sink_, p - local_); m < p; ++m) {
      for (int64_t g = 0; g < shape_.group; ++g) score(m) += dot(query(p, g), key(m));
    }
  }

 private:
  int64_t n_sink_, block_size_, reps_, n_blocks_, local_;
};

}  // namespace

std::unique_ptr<HeadReference> make_reference(const std::string& policy, int64_t budget, const Knobs& knobs,
                                              const HeadShape& shape) {
  if (policy == "full") return std::make_unique<FullReference>(shape, budget);
  if (policy == "sink") return std::make_unique<SinkReference>(shape, budget, knob(knobs, "n_sink", 4));
  if (policy == "h2o") return std::make_unique<H2OReference>(shape, budget, knob(knobs, "recent", budget / 2));
  if (policy == "tova") return std::make_unique<TovaReference>(shape, budget);
  if (policy == "snapkv") {
    return std::make_unique<SnapKVReference>(shape, budget, knob(knobs, "window", 32), knob(knobs, "interval", 32),
                                             knob(knobs, "kernel", 7), knob_text(knobs, "pooling", "avg") == "avg");
  }
  if (policy == "rkv") {
    return std::make_unique<RKVReference>(shape, budget, knob(knobs, "window", 8), knob(knobs, "interval", 32),
                                          knob(knobs, "kernel", 7), knob_double(knobs, "lambda", 0.07),
                                          knob_double(knobs, "threshold", 0.5));
  }
  if (policy == "quest") return std::make_unique<QuestReference>(shape, budget, knob(knobs, "page_size", 16));
  if (policy == "infllm") {
    return std::make_unique<InfLLMReference>(shape, budget, knob(knobs, "n_sink", 4), knob(knobs, "local", budget / 4),
                                             knob(knobs, "block_size", 32), knob(knobs, "reps", 4));
  }
  throw std::invalid_argument("no reference for policy '" + policy + "'");
}

}  // namespace lil::test
