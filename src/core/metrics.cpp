#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lil {

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = (q / 100.0) * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(values.size() - 1, lo + 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

RequestTimings timings_from_token_times(const std::vector<double>& token_times_s) {
  RequestTimings t;
  t.token_times_s = token_times_s;
  if (token_times_s.empty()) return t;
  t.ttft_s = token_times_s.front();
  t.jct_s = token_times_s.back();
  std::vector<double> gaps;
  for (size_t i = 1; i < token_times_s.size(); ++i) gaps.push_back(token_times_s[i] - token_times_s[i - 1]);
  if (!gaps.empty()) {
    t.tbt_mean_s = std::accumulate(gaps.begin(), gaps.end(), 0.0) / static_cast<double>(gaps.size());
    t.tbt_p50_s = percentile(gaps, 50);
    t.tbt_p90_s = percentile(gaps, 90);
    t.tbt_p99_s = percentile(gaps, 99);
    const double decode_time = t.jct_s - t.ttft_s;
    if (decode_time > 0) t.decode_tokens_per_s = static_cast<double>(gaps.size()) / decode_time;
  }
  return t;
}

}  // namespace lil
