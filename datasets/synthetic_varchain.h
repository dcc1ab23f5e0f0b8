#pragma once
// The synthetic reasoning task lil's shipped model is trained on ("varchain", see datasets/SYNTHETIC.md):
// a chain of variable definitions, each using earlier variables, evaluated step by step. Every step of the
// worked solution must look back twice: at the problem statement (to copy the next definition) and at
// earlier steps (for the values of its operands). Answers are one `\boxed{}` number, graded by the normal
// grader. Problems are a pure function of (options, split, seed, index); train and test are disjoint by
// construction (a problem's split is decided by a hash of its question text). No torch here.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lil {

struct VarchainOptions {
  int64_t min_vars = 12;        // definitions per problem (the number of solution steps), drawn uniformly
  int64_t max_vars = 20;        // at most 26 (one lower-case letter each)
  int64_t fan_in = 2;           // operands per computed definition: a variable, then variables or constants
  double constant_prob = 0.15;  // a definition (other than the first, always constant) is a bare constant
  double variable_operand_prob = 0.5;  // an operand after the first is a variable (else a constant)
  int64_t max_lookback = 0;     // operands come from the last N definitions (0: any earlier one)
  int64_t modulus = 10;         // all arithmetic is modulo this (10: single digits)
  bool alphabetical_names = false;  // variables are a, b, c, ... in definition order (else random letters)
};

// Reads the knobs from a JSON object (absent keys keep their defaults); LilError naming `where` and the key
// for unknown keys and out-of-range values.
VarchainOptions parse_varchain_options(const nlohmann::json& object, const std::string& where);
nlohmann::json varchain_options_json(const VarchainOptions& options);
void validate_varchain_options(const VarchainOptions& options, const std::string& where);

enum class SynthSplit { Train, Test };
SynthSplit parse_synth_split(const std::string& text, const std::string& where);  // "train" | "test"
const char* synth_split_name(SynthSplit split);
// The split a question belongs to: test when its FNV-1a hash is 0 modulo 8 (an eighth of all problems).
SynthSplit varchain_split_of(const std::string& question);

struct SyntheticProblem {
  std::string id;        // "<split>-<seed>-<index>"
  std::string question;  // "a=7;k=a+5;m=k-a. What is m?"
  std::string solution;  // "a=7\nk=a+5=7+5=2\nm=k-a=2-7=5\n\\boxed{5}"
  std::string answer;    // "5"
};

// Problem `index` of the (split, seed) stream. Deterministic on every platform (own PRNG, no <random>
// distributions).
SyntheticProblem make_varchain_problem(const VarchainOptions& options, SynthSplit split, uint64_t seed,
                                       uint64_t index);
std::vector<SyntheticProblem> make_varchain_problems(const VarchainOptions& options, SynthSplit split,
                                                     uint64_t seed, uint64_t first_index, uint64_t count);

// One JSONL record: {"id", "question", "answer", "solution"} (loads as data set kind `jsonl`).
std::string varchain_jsonl_line(const SyntheticProblem& problem);

// Re-evaluates a solution's steps against its question: the empty string when every line is the correct
// evaluation of the matching definition and the box holds the last value, else what is wrong. The
// obviously-right twin of the generator, for tests and for checking model output by hand.
std::string check_varchain_solution(const std::string& question, const std::string& solution, int64_t modulus);

}  // namespace lil
