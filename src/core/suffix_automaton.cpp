#include "core/suffix_automaton.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace lil {
namespace {

constexpr uint64_t kEmptyKey = std::numeric_limits<uint64_t>::max();  // state 2^32-1 never exists
constexpr size_t kInitialTableSize = 1024;                             // a power of two
constexpr int32_t kRootDirect = 1 << 20;  // token ids below this index the root's array (4 MiB at most)

uint64_t transition_key(int32_t state, int32_t token) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(state)) << 32) | static_cast<uint32_t>(token);
}

// The splitmix64 finaliser: consecutive token ids and states must not land in consecutive slots.
size_t mix(uint64_t key) {
  key ^= key >> 30;
  key *= 0xbf58476d1ce4e5b9ULL;
  key ^= key >> 27;
  key *= 0x94d049bb133111ebULL;
  key ^= key >> 31;
  return static_cast<size_t>(key);
}

bool is_direct_root_token(int32_t token) { return token >= 0 && token < kRootDirect; }

}  // namespace

TokenSuffixAutomaton::TokenSuffixAutomaton() : table_(kInitialTableSize, Slot{kEmptyKey, -1}) {
  add_state(0, -1, -1);  // the root: the empty string
}

int32_t TokenSuffixAutomaton::add_state(int32_t length, int32_t link, int32_t first_end) {
  states_.push_back(State{length, link, first_end, -1});
  return static_cast<int32_t>(states_.size() - 1);
}

size_t TokenSuffixAutomaton::find_slot(uint64_t key) const {
  const size_t mask = table_.size() - 1;
  size_t slot = mix(key) & mask;
  while (table_[slot].key != key && table_[slot].key != kEmptyKey) slot = (slot + 1) & mask;
  return slot;
}

int32_t* TokenSuffixAutomaton::find_transition(int32_t state, int32_t token) {
  if (state == 0 && is_direct_root_token(token)) {
    const auto index = static_cast<size_t>(token);
    return index < root_targets_.size() && root_targets_[index] != -1 ? &root_targets_[index] : nullptr;
  }
  const uint64_t key = transition_key(state, token);
  Slot& slot = table_[find_slot(key)];
  return slot.key == key ? &slot.target : nullptr;
}

int32_t TokenSuffixAutomaton::transition(int32_t state, int32_t token) const {
  if (state == 0 && is_direct_root_token(token)) {
    const auto index = static_cast<size_t>(token);
    return index < root_targets_.size() ? root_targets_[index] : -1;
  }
  return table_[find_slot(transition_key(state, token))].target;  // a free slot holds -1
}

int32_t TokenSuffixAutomaton::add_transition_if_absent(int32_t state, int32_t token, int32_t target) {
  if (state == 0 && is_direct_root_token(token)) {
    // The root is never cloned, so its transitions need no edge list.
    const auto index = static_cast<size_t>(token);
    if (index >= root_targets_.size()) root_targets_.resize(std::max(index + 1, 2 * root_targets_.size()), -1);
    if (root_targets_[index] != -1) return root_targets_[index];
    root_targets_[index] = target;
    return -1;
  }
  const uint64_t key = transition_key(state, token);
  size_t slot = find_slot(key);
  if (table_[slot].key == key) return table_[slot].target;
  if (2 * (table_used_ + 1) > table_.size()) {  // keep the load at most 1/2 so probes stay short
    grow_table();
    slot = find_slot(key);
  }
  table_[slot] = Slot{key, target};
  ++table_used_;
  edge_token_.push_back(token);
  edge_next_.push_back(states_[static_cast<size_t>(state)].edges_head);
  states_[static_cast<size_t>(state)].edges_head = static_cast<int32_t>(edge_token_.size() - 1);
  return -1;
}

void TokenSuffixAutomaton::grow_table() {
  std::vector<Slot> old(table_.size() * 2, Slot{kEmptyKey, -1});
  old.swap(table_);
  for (const Slot& slot : old) {
    if (slot.key != kEmptyKey) table_[find_slot(slot.key)] = slot;
  }
}

void TokenSuffixAutomaton::extend(int32_t token) {
  // States are int32 and a text of n tokens has at most 2n states.
  if (text_.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2)) {
    throw LilError("suffix automaton: more than 2^30 tokens");
  }
  const auto position = static_cast<int32_t>(text_.size());
  text_.push_back(token);
  const int32_t current = add_state(states_[static_cast<size_t>(last_)].length + 1, -1, position);
  int32_t state = last_;
  int32_t next = -1;
  while (state != -1) {
    next = add_transition_if_absent(state, token, current);
    if (next != -1) break;
    state = states_[static_cast<size_t>(state)].link;
  }
  if (state == -1) {
    states_[static_cast<size_t>(current)].link = 0;
  } else if (states_[static_cast<size_t>(state)].length + 1 == states_[static_cast<size_t>(next)].length) {
    states_[static_cast<size_t>(current)].link = next;
  } else {
    // `next` also stands for longer strings that do not end here: split off the shorter ones.
    const State split = states_[static_cast<size_t>(next)];
    const int32_t clone = add_state(states_[static_cast<size_t>(state)].length + 1, split.link, split.first_end);
    for (int32_t e = split.edges_head; e != -1; e = edge_next_[static_cast<size_t>(e)]) {
      const int32_t edge_token = edge_token_[static_cast<size_t>(e)];
      add_transition_if_absent(clone, edge_token, transition(next, edge_token));
    }
    for (; state != -1; state = states_[static_cast<size_t>(state)].link) {
      int32_t* target = find_transition(state, token);
      if (*target != next) break;  // suffix-link ancestors of a state with a transition on token have one too
      *target = clone;
    }
    states_[static_cast<size_t>(next)].link = clone;
    states_[static_cast<size_t>(current)].link = clone;
  }
  last_ = current;
}

TokenSuffixAutomaton::Match TokenSuffixAutomaton::longest_previous_match(int64_t p, int64_t limit) const {
  Match match;
  int32_t state = 0;
  // Reading text[p..p+l] from the root reaches the state of that string; its first occurrence ends at
  // first_end, so it also starts before p exactly when first_end < p + l. Once a prefix has no earlier
  // occurrence, no longer one has, so the walk stops at the first failure.
  while (match.length < limit) {
    const int32_t next = transition(state, text_[static_cast<size_t>(p + match.length)]);
    if (next == -1 || states_[static_cast<size_t>(next)].first_end >= p + match.length) break;
    state = next;
    ++match.length;
  }
  if (match.length > 0) match.source = states_[static_cast<size_t>(state)].first_end - match.length + 1;
  return match;
}

}  // namespace lil
