#include "datasets/synthetic_varchain.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

#include "core/error.h"

namespace lil {

namespace {

// SplitMix64: a tiny, well-mixed generator whose output is the same on every platform and library.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by rejection (no modulo bias).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next(); while (x >= limit);
    return x % n;
  }
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

int64_t reduce(int64_t value, int64_t modulus) { return ((value % modulus) + modulus) % modulus; }

struct Term {
  char sign = '+';           // how the term combines with the running value ('+' for the first)
  int var = -1;              // index of an earlier definition, or -1 for a constant
  int64_t constant = 0;
};

struct Definition {
  char name = 'a';
  std::vector<Term> terms;  // one constant term for a bare constant
};

// The text of a definition's right-hand side with operand names ("a+5") or with their values ("7+5").
std::string right_side(const Definition& d, const std::vector<Definition>& defs, const std::vector<int64_t>* values) {
  std::string text;
  for (size_t i = 0; i < d.terms.size(); ++i) {
    const Term& t = d.terms[i];
    if (i > 0) text += t.sign;
    if (t.var < 0) text += std::to_string(t.constant);
    else text += values ? std::to_string((*values)[static_cast<size_t>(t.var)]) : std::string(1, defs[static_cast<size_t>(t.var)].name);
  }
  return text;
}

std::vector<std::string> split_on(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

}  // namespace

void validate_varchain_options(const VarchainOptions& o, const std::string& where) {
  if (o.min_vars < 2) fail_at(where, "key 'min_vars': expected at least 2, got " + std::to_string(o.min_vars));
  if (o.max_vars < o.min_vars || o.max_vars > 26) {
    fail_at(where, "key 'max_vars': expected min_vars.." + std::string("26 (one letter per variable), got ") +
                       std::to_string(o.max_vars));
  }
  if (o.fan_in < 1 || o.fan_in > 4) fail_at(where, "key 'fan_in': expected 1..4, got " + std::to_string(o.fan_in));
  if (!(o.constant_prob >= 0 && o.constant_prob < 1)) {
    fail_at(where, "key 'constant_prob': expected a probability in [0, 1), got " + std::to_string(o.constant_prob));
  }
  if (!(o.variable_operand_prob >= 0 && o.variable_operand_prob <= 1)) {
    fail_at(where, "key 'variable_operand_prob': expected a probability in [0, 1], got " +
                       std::to_string(o.variable_operand_prob));
  }
  if (o.max_lookback < 0) fail_at(where, "key 'max_lookback': expected 0 (any) or a positive count");
  if (o.modulus < 2 || o.modulus > 1000000) {
    fail_at(where, "key 'modulus': expected 2..1000000, got " + std::to_string(o.modulus));
  }
}

VarchainOptions parse_varchain_options(const nlohmann::json& object, const std::string& where) {
  if (!object.is_object()) fail_at(where, "expected a JSON object of task knobs");
  VarchainOptions o;
  for (const auto& [key, value] : object.items()) {
    auto integer = [&](int64_t& field) {
      if (!value.is_number_integer()) fail_at(where, "key '" + key + "': expected an integer");
      field = value.get<int64_t>();
    };
    auto number = [&](double& field) {
      if (!value.is_number()) fail_at(where, "key '" + key + "': expected a number");
      field = value.get<double>();
    };
    if (key == "min_vars") integer(o.min_vars);
    else if (key == "max_vars") integer(o.max_vars);
    else if (key == "fan_in") integer(o.fan_in);
    else if (key == "max_lookback") integer(o.max_lookback);
    else if (key == "modulus") integer(o.modulus);
    else if (key == "constant_prob") number(o.constant_prob);
    else if (key == "variable_operand_prob") number(o.variable_operand_prob);
    else if (key == "alphabetical_names") {
      if (!value.is_boolean()) fail_at(where, "key '" + key + "': expected true or false");
      o.alphabetical_names = value.get<bool>();
    }
    else {
      fail_at(where, "unknown key '" + key +
                         "' (known: min_vars, max_vars, fan_in, constant_prob, variable_operand_prob, max_lookback, modulus, "
                         "alphabetical_names)");
    }
  }
  validate_varchain_options(o, where);
  return o;
}

nlohmann::json varchain_options_json(const VarchainOptions& o) {
  return {{"min_vars", o.min_vars},         {"max_vars", o.max_vars},
          {"fan_in", o.fan_in},             {"constant_prob", o.constant_prob},
          {"variable_operand_prob", o.variable_operand_prob},
          {"max_lookback", o.max_lookback}, {"modulus", o.modulus},
          {"alphabetical_names", o.alphabetical_names}};
}

SynthSplit parse_synth_split(const std::string& text, const std::string& where) {
  if (text == "train") return SynthSplit::Train;
  if (text == "test") return SynthSplit::Test;
  fail_at(where, "expected 'train' or 'test', got '" + text + "'");
}

const char* synth_split_name(SynthSplit split) { return split == SynthSplit::Train ? "train" : "test"; }

SynthSplit varchain_split_of(const std::string& question) {
  return fnv1a(question) % 8 == 0 ? SynthSplit::Test : SynthSplit::Train;
}

SyntheticProblem make_varchain_problem(const VarchainOptions& o, SynthSplit split, uint64_t seed, uint64_t index) {
  validate_varchain_options(o, "varchain options");
  for (uint64_t attempt = 0;; ++attempt) {
    SplitMix64 rng(fnv1a(std::to_string(seed) + "/" + std::to_string(index) + "/" + std::to_string(attempt)));
    const auto n = static_cast<size_t>(o.min_vars + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.max_vars - o.min_vars + 1))));
    std::string letters = "abcdefghijklmnopqrstuvwxyz";
    if (!o.alphabetical_names) {
      for (size_t i = letters.size() - 1; i > 0; --i) std::swap(letters[i], letters[rng.below(i + 1)]);
    }

    std::vector<Definition> defs(n);
    std::vector<int64_t> values(n);
    for (size_t i = 0; i < n; ++i) {
      Definition& d = defs[i];
      d.name = letters[i];
      auto earlier = [&]() {
        const size_t window = o.max_lookback > 0 ? std::min(i, static_cast<size_t>(o.max_lookback)) : i;
        return static_cast<int>(i - 1 - rng.below(window));
      };
      if (i == 0 || rng.chance(o.constant_prob)) {
        d.terms.push_back({'+', -1, static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.modulus)))});
      } else {
        d.terms.push_back({'+', earlier(), 0});
        for (int64_t k = 1; k < o.fan_in; ++k) {
          Term t;
          t.sign = rng.chance(0.5) ? '+' : '-';
          if (rng.chance(o.variable_operand_prob)) t.var = earlier();
          else t.constant = static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.modulus)));
          d.terms.push_back(t);
        }
      }
      int64_t value = 0;
      for (const Term& t : d.terms) {
        const int64_t operand = t.var < 0 ? t.constant : values[static_cast<size_t>(t.var)];
        value = reduce(t.sign == '+' ? value + operand : value - operand, o.modulus);
      }
      values[i] = value;
    }

    SyntheticProblem p;
    std::vector<std::string> lines;
    for (size_t i = 0; i < n; ++i) {
      const std::string definition = std::string(1, defs[i].name) + "=" + right_side(defs[i], defs, nullptr);
      p.question += (i ? ";" : "") + definition;
      const bool bare_constant = defs[i].terms.size() == 1 && defs[i].terms[0].var < 0;
      lines.push_back(bare_constant ? definition
                                    : definition + "=" + right_side(defs[i], defs, &values) + "=" +
                                          std::to_string(values[i]));
    }
    p.question += ". What is " + std::string(1, defs[n - 1].name) + "?";
    if (varchain_split_of(p.question) != split) continue;  // belongs to the other split: draw again
    p.answer = std::to_string(values[n - 1]);
    for (const auto& line : lines) p.solution += line + "\n";
    p.solution += "\\boxed{" + p.answer + "}";
    p.id = std::string(synth_split_name(split)) + "-" + std::to_string(seed) + "-" + std::to_string(index);
    return p;
  }
}

std::vector<SyntheticProblem> make_varchain_problems(const VarchainOptions& options, SynthSplit split, uint64_t seed,
                                                     uint64_t first_index, uint64_t count) {
  std::vector<SyntheticProblem> problems;
  problems.reserve(count);
  for (uint64_t i = 0; i < count; ++i) problems.push_back(make_varchain_problem(options, split, seed, first_index + i));
  return problems;
}

std::string varchain_jsonl_line(const SyntheticProblem& p) {
  return nlohmann::json{{"id", p.id}, {"question", p.question}, {"answer", p.answer}, {"solution", p.solution}}.dump();
}

std::string check_varchain_solution(const std::string& question, const std::string& solution, int64_t modulus) {
  const size_t tail = question.rfind(". What is ");
  if (tail == std::string::npos) return "question has no '. What is X?'";
  const std::vector<std::string> definitions = split_on(question.substr(0, tail), ';');
  std::map<std::string, int64_t> known;
  std::string expected;
  int64_t last = 0;
  for (const std::string& definition : definitions) {
    const size_t eq = definition.find('=');
    if (eq == std::string::npos) return "definition '" + definition + "' has no '='";
    const std::string name = definition.substr(0, eq), rhs = definition.substr(eq + 1);
    // Evaluate left to right, substituting known values.
    std::string substituted;
    int64_t value = 0;
    char sign = '+';
    size_t i = 0;
    bool any_variable = false;
    while (i < rhs.size()) {
      std::string operand;
      while (i < rhs.size() && rhs[i] != '+' && rhs[i] != '-') operand += rhs[i++];
      int64_t operand_value;
      if (!operand.empty() && std::isdigit(static_cast<unsigned char>(operand[0]))) {
        operand_value = std::stoll(operand);
      } else {
        auto it = known.find(operand);
        if (it == known.end()) return "definition '" + definition + "' uses '" + operand + "' before it is defined";
        operand_value = it->second;
        any_variable = true;
      }
      substituted += (substituted.empty() ? "" : std::string(1, sign)) + std::to_string(operand_value);
      value = reduce(sign == '+' ? value + operand_value : value - operand_value, modulus);
      if (i < rhs.size()) sign = rhs[i++];
    }
    known[name] = value;
    last = value;
    expected += any_variable ? definition + "=" + substituted + "=" + std::to_string(value) + "\n" : definition + "\n";
  }
  expected += "\\boxed{" + std::to_string(last) + "}";
  if (solution == expected) return "";
  size_t at = 0;
  while (at < solution.size() && at < expected.size() && solution[at] == expected[at]) ++at;
  return "differs from the correct evaluation at byte " + std::to_string(at) + " (expected '" +
         expected.substr(at, 16) + "', got '" + solution.substr(at, 16) + "')";
}

}  // namespace lil
