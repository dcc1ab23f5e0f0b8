#pragma once
// The LZ77 variant behind Guardian's compressed length C (docs/controllers.md has the full specification
// with worked examples). This is the CPU reference; src/kernels/lz77.cu implements the same parse on the
// GPU and must agree with it exactly.
//
// The parse, over the whole output as its window:
//  - Tokens arrive in blocks (Guardian: the tokens generated since its previous check). Block boundaries are
//    part of the definition: a match never extends past the end of the block it starts in, so parsing a
//    block needs no token from the future, and the parse of a prefix is never revised.
//  - Greedy, left to right. At position p of a block ending at e, let L be the largest l <= min(max_match,
//    e - p) such that tokens[p..p+l) == tokens[j..j+l) for some j < p (j + l may run past p, as in LZ77).
//    If L >= min_match, emit a match (cost match_cost) and advance by L; otherwise emit a literal (cost
//    literal_cost) and advance by 1.
//  - C = literals * literal_cost + matches * match_cost.
// C depends only on match lengths, never on which earlier occurrence is the source; a unit names the
// leftmost one (the GPU parse does not compute sources).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/suffix_automaton.h"

namespace lil {

struct Lz77Params {
  int64_t min_match = 3;      // shorter repeats are cheaper as literals
  int64_t max_match = 255;    // a classic one-byte length field
  int64_t literal_cost = 2;   // a token id is about two bytes
  int64_t match_cost = 3;     // a (distance, length) pair
};

// LilError naming the parameter when the values make no parse (min_match < 1, max_match < min_match,
// negative costs).
void validate_lz77_params(const Lz77Params& params);

struct Lz77Unit {
  int64_t position = 0;  // first token covered
  int64_t length = 1;    // 1 for a literal
  int64_t distance = 0;  // 0 for a literal; for a match, position minus the start of its leftmost source
};

struct Lz77Totals {
  int64_t tokens = 0;          // tokens parsed
  int64_t literals = 0;
  int64_t matches = 0;
  int64_t matched_tokens = 0;  // tokens covered by matches (tokens = literals + matched_tokens)
};

int64_t lz77_cost(const Lz77Totals& totals, const Lz77Params& params);

// Incremental parser: each `append_block` call adds one block and parses it, in time proportional to the
// block (amortised), whatever the length of the history.
class Lz77Parser {
 public:
  explicit Lz77Parser(const Lz77Params& params = {});

  // Parses `count` new tokens as one block; appends the units it emits to `units` when given.
  void append_block(const int32_t* tokens, size_t count, std::vector<Lz77Unit>* units = nullptr);
  void append_block(const std::vector<int32_t>& tokens, std::vector<Lz77Unit>* units = nullptr) {
    append_block(tokens.data(), tokens.size(), units);
  }

  const Lz77Totals& totals() const { return totals_; }
  int64_t compressed_length() const { return lz77_cost(totals_, params_); }
  const Lz77Params& params() const { return params_; }

 private:
  Lz77Params params_;
  TokenSuffixAutomaton automaton_;
  Lz77Totals totals_;
};

// The parse of a whole sequence cut into blocks of `block_size` tokens (the last may be shorter); 0 or a
// size >= tokens.size() parses it as one block, the plain non-incremental LZ77 of the sequence.
Lz77Totals lz77_parse(const std::vector<int32_t>& tokens, const Lz77Params& params, int64_t block_size = 0,
                      std::vector<Lz77Unit>* units = nullptr);

}  // namespace lil
