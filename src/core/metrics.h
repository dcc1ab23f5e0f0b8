#pragma once
// Serving-style latency metrics (vLLM definitions): TTFT = time to the first token; TBT (a.k.a. TPOT/ITL)
// = gaps between consecutive tokens of one request, the first token excluded; JCT = end to end.
#include <cstdint>
#include <vector>

namespace lil {

// Linear-interpolated percentile (numpy's default), q in [0, 100]; 0 for an empty sample.
double percentile(std::vector<double> values, double q);

struct RequestTimings {
  double ttft_s = 0;                  // request start -> first token on the host
  double jct_s = 0;                   // request start -> last token on the host
  std::vector<double> token_times_s;  // time of each generated token since the request start
  double tbt_mean_s = 0, tbt_p50_s = 0, tbt_p90_s = 0, tbt_p99_s = 0;
  double decode_tokens_per_s = 0;     // (tokens - 1) / (jct - ttft)
};

// Fills every field from the token times (token_times_s[0] is the TTFT).
RequestTimings timings_from_token_times(const std::vector<double>& token_times_s);

}  // namespace lil
