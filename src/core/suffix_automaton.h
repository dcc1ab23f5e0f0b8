#pragma once
// An online suffix automaton over token ids, built one token at a time, answering "how long is the longest
// prefix of tokens[p..] that also starts at some earlier position j < p" (the longest previous factor,
// overlap allowed) in time proportional to the answer. It is the exact longest-match search behind the
// LZ77 reference (core/lz77.h): an O(n) structure rather than hash chains, because a hash chain is either
// inexact (bounded chains) or quadratic on repetitive output, which is exactly what Guardian watches for.
//
// Construction follows the textbook algorithm (Blumer et al. 1985; Crochemore & Hancart 1997), with each
// state's `first_end` (the end index of the first occurrence of its strings) kept so a query can tell an
// earlier occurrence from the current one. Transitions live in one open-addressing hash table keyed by
// (state, token), since the alphabet (a vocabulary of ~150k ids) is too large for arrays and the root alone
// can have tens of thousands of transitions.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lil {

class TokenSuffixAutomaton {
 public:
  TokenSuffixAutomaton();

  // Appends one token to the indexed text.
  void extend(int32_t token);
  int64_t size() const { return static_cast<int64_t>(text_.size()); }
  const std::vector<int32_t>& text() const { return text_; }

  struct Match {
    int64_t length = 0;  // 0 when text[p] never occurred before p
    int64_t source = 0;  // start of the leftmost earlier occurrence (meaningful when length > 0)
  };
  // Longest l <= limit such that text[p..p+l) == text[j..j+l) for some j < p (j + l may exceed p), with the
  // leftmost such j. Requires p + limit <= size(): only indexed tokens can be matched.
  Match longest_previous_match(int64_t p, int64_t limit) const;

 private:
  struct State {
    int32_t length;      // of the state's longest string
    int32_t link;        // suffix link
    int32_t first_end;   // end index of the first occurrence of the state's strings
    int32_t edges_head;  // head of the list of its outgoing tokens (to copy them when it is cloned)
  };
  struct Slot {
    uint64_t key;    // (state << 32 | token); kEmptyKey marks a free slot
    int32_t target;
  };
  // Where the target of (state, token) is stored, or nullptr when there is no such transition.
  int32_t* find_transition(int32_t state, int32_t token);
  int32_t transition(int32_t state, int32_t token) const;  // -1 when absent
  // Adds (state, token) -> target unless the state already has a transition on token; returns that
  // transition's target, or -1 when it was added.
  int32_t add_transition_if_absent(int32_t state, int32_t token, int32_t target);
  size_t find_slot(uint64_t key) const;  // the slot holding key, or the free slot where it would go
  int32_t add_state(int32_t length, int32_t link, int32_t first_end);
  void grow_table();

  std::vector<int32_t> text_;
  std::vector<State> states_;
  std::vector<int32_t> edge_token_, edge_next_;  // singly linked lists of outgoing tokens, one per state
  int32_t last_ = 0;                              // the state of the whole text
  // The root has a transition for every distinct token and is read by every query, so its transitions for
  // ids below kRootDirect sit in a plain array (-1: none) instead of the hash table.
  std::vector<int32_t> root_targets_;
  std::vector<Slot> table_;  // every other transition: open addressing, linear probing, power-of-two size
  size_t table_used_ = 0;
};

}  // namespace lil
