// The LZ77 reference behind Guardian (core/lz77.h): worked examples from docs/controllers.md, and agreement
// with an obviously-right quadratic twin on random and repetitive sequences, block sizes and parameters.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/lz77.h"

namespace {

using lil::Lz77Params;
using lil::Lz77Unit;

// The specification read literally: every earlier start is tried, the first (leftmost) longest one wins.
std::vector<Lz77Unit> quadratic_parse(const std::vector<int32_t>& tokens, const Lz77Params& params,
                                      int64_t block_size) {
  std::vector<Lz77Unit> units;
  const auto n = static_cast<int64_t>(tokens.size());
  const int64_t block = block_size <= 0 ? std::max<int64_t>(n, 1) : block_size;
  for (int64_t block_start = 0; block_start < n; block_start += block) {
    const int64_t block_end = std::min(n, block_start + block);
    int64_t p = block_start;
    while (p < block_end) {
      const int64_t limit = std::min(params.max_match, block_end - p);
      int64_t best = 0, source = 0;
      for (int64_t j = 0; j < p; ++j) {
        int64_t l = 0;
        while (l < limit && tokens[static_cast<size_t>(j + l)] == tokens[static_cast<size_t>(p + l)]) ++l;
        if (l > best) {
          best = l;
          source = j;
        }
      }
      if (best >= params.min_match) {
        units.push_back({p, best, p - source});
        p += best;
      } else {
        units.push_back({p, 1, 0});
        p += 1;
      }
    }
  }
  return units;
}

std::vector<int32_t> random_tokens(size_t n, int32_t vocabulary, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(0, vocabulary - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = token(rng);
  return out;
}

// Reasoning-loop-like text: random motifs repeated with occasional substitutions and fresh stretches.
std::vector<int32_t> repetitive_tokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> out;
  std::vector<int32_t> motif = random_tokens(1 + rng() % 40, 50, rng());
  while (out.size() < n) {
    switch (rng() % 4) {
      case 0: motif = random_tokens(1 + rng() % 40, 50, rng()); break;
      case 1: out.push_back(static_cast<int32_t>(rng() % 50)); break;
      default: {
        for (int32_t t : motif) out.push_back(rng() % 17 == 0 ? static_cast<int32_t>(rng() % 50) : t);
      }
    }
  }
  out.resize(n);
  return out;
}

bool same_units(const std::vector<Lz77Unit>& a, const std::vector<Lz77Unit>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Lz77Unit& x, const Lz77Unit& y) {
    return x.position == y.position && x.length == y.length && x.distance == y.distance;
  });
}

std::vector<Lz77Unit> reference_units(const std::vector<int32_t>& tokens, const Lz77Params& params, int64_t block) {
  std::vector<Lz77Unit> units;
  lil::lz77_parse(tokens, params, block, &units);
  return units;
}

}  // namespace

TEST_CASE("lz77: the worked examples of docs/controllers.md", "[lz77]") {
  const Lz77Params defaults;
  const std::vector<int32_t> abc = {1, 2, 3, 1, 2, 3, 1, 2, 3, 4};

  SECTION("one block: a match may overlap the position it copies to") {
    std::vector<Lz77Unit> units;
    const auto totals = lil::lz77_parse(abc, defaults, 0, &units);
    REQUIRE(same_units(units, {{0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 6, 3}, {9, 1, 0}}));
    CHECK(totals.literals == 4);
    CHECK(totals.matches == 1);
    CHECK(totals.matched_tokens == 6);
    CHECK(totals.tokens == 10);
    CHECK(lil::lz77_cost(totals, defaults) == 4 * 2 + 3);
  }
  SECTION("blocks of 5: no match crosses a block end, so position 3 only has 2 tokens to match") {
    std::vector<Lz77Unit> units;
    const auto totals = lil::lz77_parse(abc, defaults, 5, &units);
    REQUIRE(same_units(units, {{0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {4, 1, 0}, {5, 4, 3}, {9, 1, 0}}));
    CHECK(lil::lz77_cost(totals, defaults) == 6 * 2 + 3);
  }
  SECTION("a run of one token is one literal and one self-overlapping match") {
    const std::vector<int32_t> run(10, 7);
    std::vector<Lz77Unit> units;
    const auto totals = lil::lz77_parse(run, defaults, 0, &units);
    REQUIRE(same_units(units, {{0, 1, 0}, {1, 9, 1}}));
    CHECK(lil::lz77_cost(totals, defaults) == 5);
  }
  SECTION("max_match caps a match; a tail shorter than min_match is a literal") {
    Lz77Params capped;
    capped.max_match = 4;
    const std::vector<int32_t> run(10, 7);
    std::vector<Lz77Unit> units;
    const auto totals = lil::lz77_parse(run, capped, 0, &units);
    REQUIRE(same_units(units, {{0, 1, 0}, {1, 4, 1}, {5, 4, 5}, {9, 1, 0}}));  // the leftmost source is position 0
    CHECK(lil::lz77_cost(totals, capped) == 2 + 3 + 3 + 2);
  }
  SECTION("the source of a match is its leftmost earlier occurrence") {
    const std::vector<int32_t> tokens = {1, 2, 3, 9, 1, 2, 3, 8, 1, 2, 3};
    REQUIRE(same_units(reference_units(tokens, defaults, 0),
                       {{0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {4, 3, 4}, {7, 1, 0}, {8, 3, 8}}));
  }
  SECTION("a match shorter than min_match is not taken") {
    Lz77Params long_matches;
    long_matches.min_match = 4;
    const std::vector<int32_t> tokens = {1, 2, 3, 9, 1, 2, 3, 8};
    const auto totals = lil::lz77_parse(tokens, long_matches, 0);
    CHECK(totals.matches == 0);
    CHECK(totals.literals == 8);
  }
}

TEST_CASE("lz77: the incremental parser equals the block parse of the whole sequence", "[lz77]") {
  const auto tokens = repetitive_tokens(3000, 11);
  for (int64_t block : {1, 3, 250, 1000}) {
    lil::Lz77Parser parser;
    std::vector<Lz77Unit> incremental;
    std::vector<int64_t> costs;
    for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(block)) {
      const size_t count = std::min(static_cast<size_t>(block), tokens.size() - start);
      parser.append_block(tokens.data() + start, count, &incremental);
      costs.push_back(parser.compressed_length());
      CHECK(parser.totals().tokens == static_cast<int64_t>(start + count));
    }
    INFO("block " << block);
    CHECK(same_units(incremental, reference_units(tokens, {}, block)));
    CHECK(std::is_sorted(costs.begin(), costs.end()));
    // Every prefix cut at a block end parses the same way, so C at a check never depends on later tokens.
    const size_t prefix = std::min(tokens.size(), static_cast<size_t>(block) * 2);
    const std::vector<int32_t> head(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(prefix));
    CHECK(lil::lz77_cost(lil::lz77_parse(head, {}, block), {}) == costs[std::min<size_t>(costs.size(), 2) - 1]);
  }
  lil::Lz77Parser parser;
  parser.append_block(nullptr, 0);
  CHECK(parser.totals().tokens == 0);
  CHECK(parser.compressed_length() == 0);
}

TEST_CASE("lz77: the suffix-automaton parse equals the quadratic twin", "[lz77]") {
  struct Setting {
    int64_t min_match, max_match;
  };
  const std::vector<Setting> settings = {{3, 255}, {1, 255}, {2, 5}, {5, 1 << 30}, {3, 3}};
  uint64_t seed = 1;
  for (const auto& setting : settings) {
    Lz77Params params;
    params.min_match = setting.min_match;
    params.max_match = setting.max_match;
    for (int32_t vocabulary : {2, 3, 10, 1000}) {
      for (int64_t block : {0, 1, 7, 250}) {
        const auto tokens = random_tokens(1500, vocabulary, ++seed);
        INFO("random, vocabulary " << vocabulary << ", block " << block << ", min_match " << params.min_match
                                   << ", max_match " << params.max_match);
        CHECK(same_units(reference_units(tokens, params, block), quadratic_parse(tokens, params, block)));
      }
    }
    for (int64_t block : {0, 1, 7, 250}) {
      const auto tokens = repetitive_tokens(2000, ++seed);
      INFO("repetitive, block " << block << ", min_match " << params.min_match << ", max_match "
                                << params.max_match);
      CHECK(same_units(reference_units(tokens, params, block), quadratic_parse(tokens, params, block)));
    }
  }
}

TEST_CASE("lz77: token ids use all 32 bits", "[lz77]") {
  const int32_t big = std::numeric_limits<int32_t>::max();
  const int32_t small = std::numeric_limits<int32_t>::min();
  const std::vector<int32_t> tokens = {big, small, -1, 0, big, small, -1, 0, big, 0, -1};
  CHECK(same_units(reference_units(tokens, {}, 0), quadratic_parse(tokens, {}, 0)));
  CHECK(lil::lz77_parse(tokens, {}, 0).matches == 1);
  // Ids on both sides of 2^20, where the automaton's root switches from an array to the hash table.
  auto straddling = random_tokens(1500, 10, 99);
  for (auto& t : straddling) t += (1 << 20) - 5;
  CHECK(same_units(reference_units(straddling, {}, 0), quadratic_parse(straddling, {}, 0)));
  CHECK(same_units(reference_units(straddling, {}, 7), quadratic_parse(straddling, {}, 7)));
}

TEST_CASE("lz77: 100k tokens of one repeated 1000-token passage", "[lz77]") {
  // 1000 distinct tokens cost 1000 literals; the 99 copies are matches of max_match = 255 tokens, with a
  // 60-token remainder (99000 = 388 * 255 + 60).
  std::vector<int32_t> passage(1000);
  std::iota(passage.begin(), passage.end(), 5000);
  std::shuffle(passage.begin(), passage.end(), std::mt19937_64(3));
  std::vector<int32_t> tokens;
  for (int copy = 0; copy < 100; ++copy) tokens.insert(tokens.end(), passage.begin(), passage.end());
  const auto totals = lil::lz77_parse(tokens, {}, 0);
  CHECK(totals.literals == 1000);
  CHECK(totals.matches == 389);
  CHECK(totals.matched_tokens == 99000);
  CHECK(lil::lz77_cost(totals, {}) == 1000 * 2 + 389 * 3);
  // In blocks of 250 (Guardian's checks), each block of a copy is one match of its 250 tokens.
  const auto blocks = lil::lz77_parse(tokens, {}, 250);
  CHECK(blocks.literals == 1000);
  CHECK(blocks.matches == 99000 / 250);
}

TEST_CASE("lz77: parameters that make no parse are rejected by name", "[lz77]") {
  auto rejects = [](Lz77Params params, const std::string& name) {
    try {
      lil::Lz77Parser parser(params);
    } catch (const lil::LilError& e) {
      return std::string(e.what()).find(name) != std::string::npos;
    }
    return false;
  };
  Lz77Params p;
  p.min_match = 0;
  CHECK(rejects(p, "min_match"));
  p = {};
  p.max_match = 2;
  CHECK(rejects(p, "max_match"));
  p = {};
  p.literal_cost = -1;
  CHECK(rejects(p, "literal_cost"));
  p = {};
  p.match_cost = -1;
  CHECK(rejects(p, "match_cost"));
  CHECK_FALSE(rejects({}, "lz77"));
}
