// Shared defaults of the policy interface, knob parsing, and the registry lookup.
#include "policies/policy.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "core/error.h"

namespace lil {

int64_t PolicyArgs::get_int(const std::string& key, int64_t default_value, int64_t min_value, int64_t max_value) {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return default_value;
  size_t consumed = 0;
  int64_t value = 0;
  try {
    value = std::stoll(it->second, &consumed);
  } catch (const std::exception&) {
    consumed = 0;
  }
  if (consumed == 0 || consumed != it->second.size()) {
    fail_at(where(key), "expected an integer, got '" + it->second + "'");
  }
  if (value < min_value || value > max_value) {
    fail_at(where(key), "expected a value in [" + std::to_string(min_value) + ", " + std::to_string(max_value) +
                                 "], got " + std::to_string(value));
  }
  return value;
}

double PolicyArgs::get_double(const std::string& key, double default_value, double min_value, double max_value) {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return default_value;
  size_t consumed = 0;
  double value = 0;
  try {
    value = std::stod(it->second, &consumed);
  } catch (const std::exception&) {
    consumed = 0;
  }
  if (consumed == 0 || consumed != it->second.size()) {
    fail_at(where(key), "expected a number, got '" + it->second + "'");
  }
  if (!(value >= min_value && value <= max_value)) {
    fail_at(where(key), "expected a value in [" + std::to_string(min_value) + ", " + std::to_string(max_value) +
                                 "], got " + it->second);
  }
  return value;
}

std::string PolicyArgs::get_string(const std::string& key, const std::string& default_value,
                                   const std::set<std::string>& allowed) {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end()) return default_value;
  if (!allowed.empty() && !allowed.count(it->second)) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail_at(where(key), "expected one of {" + list + "}, got '" + it->second + "'");
  }
  return it->second;
}

void PolicyArgs::check_all_used(const std::string& owner_name) const {
  for (const auto& [key, value] : values_) {
    if (!used_.count(key)) fail_at(where(key), "'" + owner_name + "' has no knob '" + key + "'");
  }
}

c10::ScalarType score_dtype(c10::ScalarType model_dtype) {
  return model_dtype == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor gather_slots(const at::Tensor& per_slot, const at::Tensor& slots) {
  const int64_t rows = per_slot.size(0), heads = per_slot.size(1), n_slots = per_slot.size(2), width = per_slot.size(3);
  at::Tensor base = at::arange(rows * heads, slots.options()).view({rows, heads, 1}) * n_slots;
  at::Tensor flat = (slots + base).reshape({-1});
  return per_slot.reshape({rows * heads * n_slots, width}).index_select(0, flat).view({rows, heads, slots.size(2), width});
}

int64_t Policy::capacity(int64_t max_context) const {
  return kind() == PolicyKind::Eviction ? budget_ : max_context;
}

at::Tensor Policy::prefill_scores(const PrefillView& view) {
  // Recency: keep the most recent tokens.
  const int64_t prompt_len = view.keys.size(1);
  return at::arange(prompt_len, view.keys.options().dtype(at::kFloat)).unsqueeze(0).expand({view.keys.size(0), prompt_len});
}

at::Tensor Policy::prefill_protected(const PrefillView& view) {
  return at::zeros({view.keys.size(0), view.keys.size(1)}, view.keys.options().dtype(at::kBool));
}

at::Tensor Policy::protected_slots(const LayerCache& cache, const at::Tensor& /*next_position*/) {
  return at::zeros_like(cache.positions, cache.positions.options().dtype(at::kBool));
}

int64_t Policy::selection_bytes(const LayerCache& cache) const {
  if (kind() != PolicyKind::Eviction) return 0;
  const int64_t rows = std::max<int64_t>(1, cache.positions.size(0));
  return static_cast<int64_t>(cache.positions.nbytes() + cache.scores.nbytes()) / rows;
}

Selection Policy::select(LayerCache& cache, const at::Tensor& /*query*/, const at::Tensor& /*current_position*/) {
  return Selection{at::Tensor(), cache.positions.ge(0)};
}

std::unique_ptr<Policy> make_policy(const std::string& name, int64_t budget,
                                    const std::map<std::string, std::string>& args, const PolicyGeometry& geometry) {
  for (const auto& info : policy_registry()) {
    if (info.name != name) continue;
    PolicyArgs policy_args(args);
    if (name != "full" && budget <= 0) {
      fail_at("--budget", "policy '" + name + "' needs a budget of at least 1 KV token, got " + std::to_string(budget));
    }
    auto policy = info.make(budget, policy_args, geometry);
    policy_args.check_all_used(name);
    return policy;
  }
  std::string names;
  for (const auto& info : policy_registry()) names += (names.empty() ? "" : ", ") + info.name;
  fail_at("--policy", "unknown policy '" + name + "' (known: " + names + ")");
}

}  // namespace lil
