#include "core/lz77.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace lil {

void validate_lz77_params(const Lz77Params& params) {
  if (params.min_match < 1) fail_at("lz77 min_match", "expected at least 1, got " + std::to_string(params.min_match));
  if (params.max_match < params.min_match) {
    fail_at("lz77 max_match", "expected at least min_match (" + std::to_string(params.min_match) + "), got " +
                                  std::to_string(params.max_match));
  }
  if (params.literal_cost < 0) {
    fail_at("lz77 literal_cost", "expected a cost of at least 0, got " + std::to_string(params.literal_cost));
  }
  if (params.match_cost < 0) {
    fail_at("lz77 match_cost", "expected a cost of at least 0, got " + std::to_string(params.match_cost));
  }
}

int64_t lz77_cost(const Lz77Totals& totals, const Lz77Params& params) {
  return totals.literals * params.literal_cost + totals.matches * params.match_cost;
}

Lz77Parser::Lz77Parser(const Lz77Params& params) : params_(params) { validate_lz77_params(params_); }

void Lz77Parser::append_block(const int32_t* tokens, size_t count, std::vector<Lz77Unit>* units) {
  const int64_t start = automaton_.size();
  for (size_t i = 0; i < count; ++i) automaton_.extend(tokens[i]);
  const int64_t end = automaton_.size();
  int64_t p = start;
  while (p < end) {
    const auto match = automaton_.longest_previous_match(p, std::min(params_.max_match, end - p));
    Lz77Unit unit{p, 1, 0};
    if (match.length >= params_.min_match) {
      unit.length = match.length;
      unit.distance = p - match.source;
      ++totals_.matches;
      totals_.matched_tokens += match.length;
    } else {
      ++totals_.literals;
    }
    if (units) units->push_back(unit);
    p += unit.length;
  }
  totals_.tokens = end;
}

Lz77Totals lz77_parse(const std::vector<int32_t>& tokens, const Lz77Params& params, int64_t block_size,
                      std::vector<Lz77Unit>* units) {
  Lz77Parser parser(params);
  const size_t n = tokens.size();
  const size_t block = block_size <= 0 ? std::max<size_t>(n, 1) : static_cast<size_t>(block_size);
  for (size_t start = 0; start < n; start += block) {
    parser.append_block(tokens.data() + start, std::min(block, n - start), units);
  }
  return parser.totals();
}

}  // namespace lil
