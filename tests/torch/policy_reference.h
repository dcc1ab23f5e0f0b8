#pragma once
// Brute-force references of every policy's rule, written independently of policies/: plain loops over
// std::vector<double>, one (row, KV head) at a time. A reference keeps the whole history of keys, values and
// queries by position plus the set of positions still in memory, and attends with an explicit mask of the
// selected positions. The tests drive a reference and KVCache with the same random stream and compare.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lil::test {

using Vec = std::vector<double>;

struct HeadShape {
  int64_t group = 1;          // query heads sharing this KV head
  int64_t head_dim = 0;
  double softmax_scale = 1.0;
  int64_t max_context = 0;    // slots of a retention cache (pages and blocks are laid out over them)
};

class HeadReference {
 public:
  HeadReference(const HeadShape& shape, int64_t budget) : shape_(shape), budget_(budget) {}
  virtual ~HeadReference() = default;

  // Dense prefill of a prompt: queries[g][t], keys[t], values[t] (after RoPE).
  void prefill(const std::vector<std::vector<Vec>>& queries, const std::vector<Vec>& keys,
               const std::vector<Vec>& values);
  // One decode step (write, select, attend, observe): queries[g], key, value -> output[g].
  std::vector<Vec> decode(const std::vector<Vec>& queries, const Vec& key, const Vec& value);

  std::vector<int64_t> resident() const;  // positions in memory, ascending
  const std::vector<int64_t>& attended() const { return attended_; }  // at the last decode step, ascending
  int64_t context() const { return static_cast<int64_t>(keys_.size()); }

 protected:
  virtual bool evicts() const = 0;
  // Eviction policies: prompt scores (higher = keep) and the prompt tokens kept regardless.
  virtual std::vector<double> prompt_scores() { return std::vector<double>(keys_.size(), 0.0); }
  virtual std::vector<bool> prompt_protected() { return std::vector<bool>(keys_.size(), false); }
  // Eviction policies: may `pos` be evicted when `next` is written? Which score ranks victims?
  virtual bool is_protected(int64_t /*pos*/, int64_t /*next*/) const { return false; }
  virtual double victim_score(int64_t pos) const { return score_[static_cast<size_t>(pos)]; }
  // Positions attended by the query of the latest token (default: all in memory).
  virtual std::vector<int64_t> choose() { return resident(); }
  virtual void after_prefill() {}
  // probs[g][i]: attention of query head g to chosen[i].
  virtual void observe(const std::vector<int64_t>& /*chosen*/, const std::vector<Vec>& /*probs*/) {}

  static double dot(const Vec& a, const Vec& b);
  // Softmax of scale * q . k over `positions`.
  Vec softmax_over(const Vec& query, const std::vector<int64_t>& positions) const;
  int64_t latest() const { return context() - 1; }
  const Vec& key(int64_t pos) const { return keys_[static_cast<size_t>(pos)]; }
  const Vec& query(int64_t pos, int64_t g) const { return queries_[static_cast<size_t>(pos)][static_cast<size_t>(g)]; }
  double& score(int64_t pos) { return score_[static_cast<size_t>(pos)]; }

  HeadShape shape_;
  int64_t budget_;
  int64_t decode_steps_ = 0;

 private:
  std::vector<Vec> keys_, values_;
  std::vector<std::vector<Vec>> queries_;  // [pos][g]
  std::vector<bool> alive_;
  std::vector<double> score_;
  std::vector<int64_t> attended_;
};

// The reference of a registered policy, with the same knob defaults as documented in its header.
std::unique_ptr<HeadReference> make_reference(const std::string& policy, int64_t budget,
                                              const std::map<std::string, std::string>& knobs, const HeadShape& shape);

}  // namespace lil::test
