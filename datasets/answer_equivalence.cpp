// answers_equivalent: normalise both answers, split them into structures (tuples, intervals, sets,
// unions, matrices, equations) and compare leaves as strings, then as values with GiNaC.
#include <algorithm>
#include <cctype>

#include "datasets/answer_normalization.h"
#include "datasets/grader.h"
#include "datasets/latex_expression.h"
#include "datasets/value_comparison.h"

namespace lil {
namespace {

enum class Shape { scalar, bracketed, set, bare_list, set_union, matrix, equation };

struct Structure {
  Shape shape = Shape::scalar;
  std::string text;                         // the normalised text of a scalar
  char open = 0, close = 0;                 // brackets of a tuple or interval
  std::vector<std::string> items;           // elements, pieces of a union, or the two sides of an equation
  std::vector<std::vector<std::string>> rows;  // matrix cells
};

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "1\pm\sqrt{5}" -> "1+\sqrt{5}", "1-\sqrt{5}" (one \pm; more is left as text).
std::vector<std::string> expand_plus_minus(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    const size_t pm = item.find("\\pm");
    if (pm == std::string::npos || item.find("\\pm", pm + 3) != std::string::npos) {
      out.push_back(item);
      continue;
    }
    out.push_back(item.substr(0, pm) + "+" + item.substr(pm + 3));
    out.push_back(item.substr(0, pm) + "-" + item.substr(pm + 3));
  }
  return out;
}

bool all_nonempty(const std::vector<std::string>& items) {
  return std::all_of(items.begin(), items.end(), [](const std::string& s) { return !s.empty(); });
}

// "\{1,2\}" but not "\{1\},\{2\}": the first escaped brace closes at the very end.
bool escaped_braces_enclose(const std::string& text) {
  if (!starts_with(text, "\\{") || !ends_with(text, "\\}") || text.size() < 4) return false;
  int depth = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] != '\\') continue;
    if (text[i + 1] == '{') ++depth;
    if (text[i + 1] == '}' && --depth == 0) return i + 2 == text.size();
    ++i;
  }
  return false;
}

// A set "\{...\}" (any order), a tuple or interval, a union, a matrix, a bare list "3, 5, 7" (any order),
// an equation, or a scalar.
Structure analyse(const std::string& text) {
  Structure s;
  s.text = text;
  const auto pieces = split_top_level(text, "\\cup");
  if (pieces.size() > 1 && all_nonempty(pieces)) {
    s.shape = Shape::set_union;
    s.items = pieces;
    return s;
  }
  const std::string begin = "\\begin{pmatrix}", end = "\\end{pmatrix}";
  if (starts_with(text, begin) && ends_with(text, end) && text.size() > begin.size() + end.size()) {
    s.shape = Shape::matrix;
    for (const auto& row : split_top_level(text.substr(begin.size(), text.size() - begin.size() - end.size()),
                                           "\\\\")) {
      if (row.empty()) continue;  // a trailing "\\"
      s.rows.push_back(split_top_level(row, "&"));
    }
    return s;
  }
  if (escaped_braces_enclose(text)) {
    const std::string inner = text.substr(2, text.size() - 4);
    s.shape = Shape::set;
    s.items = inner.empty() ? std::vector<std::string>{} : expand_plus_minus(split_top_level(inner, ","));
    return s;
  }
  if (!text.empty() && (text[0] == '(' || text[0] == '[') && matching_bracket(text, 0) == text.size() - 1) {
    const auto inner = split_top_level(text.substr(1, text.size() - 2), ",");
    if (inner.size() > 1) {
      s.shape = Shape::bracketed;
      s.open = text.front();
      s.close = text.back();
      s.items = inner;
      return s;
    }
  }
  const auto list = split_top_level(text, ",");
  if (list.size() > 1 && all_nonempty(list)) {
    s.shape = Shape::bare_list;
    s.items = expand_plus_minus(list);
    return s;
  }
  if (text.find("\\pm") != std::string::npos) {
    s.items = expand_plus_minus({text});
    if (s.items.size() == 2) {
      s.shape = Shape::bare_list;
      return s;
    }
  }
  const auto sides = split_top_level(text, "=");
  if (sides.size() == 2 && all_nonempty(sides)) {
    s.shape = Shape::equation;
    s.items = sides;
    return s;
  }
  return s;
}

bool is_word(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isalpha(c) || c == ' ';
  });
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

class Comparer {
 public:
  explicit Comparer(const GradeOptions& options) : options_(options) {
    limits_.max_chars = options.max_answer_chars;
    limits_.max_exponent = options.max_exponent;
  }

  Equivalence compare(const std::string& predicted, const std::string& gold, int depth = 0) {
    if (predicted == gold) return {true, "string"};
    if (predicted.empty() || gold.empty() || depth > 8) return {false, "different"};
    // Words ("East", "even") compare without case; one- and two-letter answers are variables, where case
    // matters ("R" is not "r").
    if (is_word(predicted) && predicted.size() >= 3 && lowercase(predicted) == lowercase(gold)) {
      return {true, "string"};
    }
    const Structure p = analyse(predicted);
    const Structure g = analyse(gold);
    if (p.shape == Shape::scalar && g.shape == Shape::scalar) return compare_scalars(predicted, gold);
    if (p.shape == Shape::equation && g.shape == Shape::equation) return compare_equations_text(p, g);
    if (p.shape == Shape::matrix && g.shape == Shape::matrix) return compare_matrices(p.rows, g.rows, depth);
    if (p.shape == Shape::bracketed && g.shape == Shape::bracketed) {
      // "(1,2)" is an open interval or a point, "[1,2]" a closed interval: the brackets are part of the answer.
      if (p.open != g.open || p.close != g.close) return {false, "different"};
      return ordered(p.items, g.items, depth);
    }
    // A column vector written as a tuple, or a tuple whose parentheses the model left out.
    if (p.shape == Shape::matrix && g.shape == Shape::bracketed && g.open == '(' && g.close == ')') {
      return ordered(flatten_vector(p.rows), g.items, depth);
    }
    if (g.shape == Shape::matrix && p.shape == Shape::bracketed && p.open == '(' && p.close == ')') {
      return ordered(p.items, flatten_vector(g.rows), depth);
    }
    const auto is_tuple = [](const Structure& s) { return s.shape == Shape::bracketed && s.open == '(' && s.close == ')'; };
    if ((p.shape == Shape::bare_list && is_tuple(g)) || (is_tuple(p) && g.shape == Shape::bare_list)) {
      return ordered(p.items, g.items, depth);
    }
    const auto is_collection = [](Shape s) { return s == Shape::set || s == Shape::bare_list; };
    if (is_collection(p.shape) && is_collection(g.shape)) return unordered(p.items, g.items, depth);
    if (p.shape == Shape::set_union && g.shape == Shape::set_union) return unordered(p.items, g.items, depth);
    return {false, "different"};
  }

 private:
  static std::vector<std::string> flatten_vector(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::string> cells;
    const bool column = std::all_of(rows.begin(), rows.end(), [](const auto& row) { return row.size() == 1; });
    if (column) {
      for (const auto& row : rows) cells.push_back(row[0]);
    } else if (rows.size() == 1) {
      cells = rows[0];
    }
    return cells;
  }

  // Items are normalised again: "x=1, y=2" has the assignments inside the list.
  Equivalence compare_items(const std::string& p, const std::string& g, int depth) {
    return compare(normalize_answer(p), normalize_answer(g), depth + 1);
  }

  Equivalence ordered(const std::vector<std::string>& p, const std::vector<std::string>& g, int depth) {
    if (p.size() != g.size() || p.empty()) return {false, "different"};
    for (size_t i = 0; i < p.size(); ++i) {
      if (!compare_items(p[i], g[i], depth).equal) return {false, "different"};
    }
    return {true, "structure"};
  }

  // Multiset equality; greedy matching is exact because equivalence is transitive.
  Equivalence unordered(const std::vector<std::string>& p, const std::vector<std::string>& g, int depth) {
    if (p.size() != g.size()) return {false, "different"};
    std::vector<bool> used(g.size(), false);
    for (const auto& item : p) {
      bool matched = false;
      for (size_t j = 0; j < g.size() && !matched; ++j) {
        if (!used[j] && compare_items(item, g[j], depth).equal) used[j] = matched = true;
      }
      if (!matched) return {false, "different"};
    }
    return {true, "structure"};
  }

  Equivalence compare_matrices(const std::vector<std::vector<std::string>>& p,
                               const std::vector<std::vector<std::string>>& g, int depth) {
    if (p.size() != g.size()) return {false, "different"};
    for (size_t r = 0; r < p.size(); ++r) {
      if (!ordered(p[r], g[r], depth).equal) return {false, "different"};
    }
    return {true, "structure"};
  }

  Equivalence compare_scalars(const std::string& predicted, const std::string& gold) {
    std::lock_guard<std::mutex> lock(ginac_mutex());
    SymbolTable symbols;
    const auto p = parse_latex_expression(predicted, symbols, limits_);
    const auto g = parse_latex_expression(gold, symbols, limits_);
    if (!p || !g) return {false, "different"};
    const ValueComparison result = compare_values(*p, *g, symbols, options_.decimal_relative_tolerance);
    return {result.equal, result.method};
  }

  Equivalence compare_equations_text(const Structure& p, const Structure& g) {
    std::lock_guard<std::mutex> lock(ginac_mutex());
    SymbolTable symbols;
    const auto pl = parse_latex_expression(p.items[0], symbols, limits_);
    const auto pr = parse_latex_expression(p.items[1], symbols, limits_);
    const auto gl = parse_latex_expression(g.items[0], symbols, limits_);
    const auto gr = parse_latex_expression(g.items[1], symbols, limits_);
    if (!pl || !pr || !gl || !gr) return {false, "different"};
    const ValueComparison result = compare_equations(pl->value - pr->value, gl->value - gr->value, symbols);
    return {result.equal, result.method};
  }

  const GradeOptions& options_;
  ExpressionLimits limits_;
};

}  // namespace

Equivalence compare_answers(const std::string& predicted, const std::string& gold, const GradeOptions& options) {
  if (predicted == gold && !predicted.empty()) return {true, "string"};
  const std::string p = normalize_answer(predicted);
  const std::string g = normalize_answer(gold);
  if (p.empty() || g.empty()) return {false, "different"};
  return Comparer(options).compare(p, g);
}

bool answers_equivalent(const std::string& predicted, const std::string& gold, const GradeOptions& options) {
  return compare_answers(predicted, gold, options).equal;
}

}  // namespace lil
