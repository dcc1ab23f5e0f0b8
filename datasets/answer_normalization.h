#pragma once
// String-level clean-up of a final answer before comparison, after the Qwen2.5-Math evaluator's
// strip_string: math delimiters, spacing commands, \left/\right, \dfrac, units and \text{}, degrees, %, $,
// thousands separators, "x = 3" -> "3", "(B)" -> "B". The result is still LaTeX; the comparison parses it.
#include <string>
#include <vector>

namespace lil {

std::string normalize_answer(const std::string& answer);

// Index of the bracket that closes the one at `open` ('{', '(' or '['; a '(' or '[' may be closed by either
// ')' or ']', as in intervals), skipping escaped braces "\{" "\}". npos when unbalanced.
size_t matching_bracket(const std::string& text, size_t open);

// How many brace pairs wrap the whole of `text`: "{{x}}" -> 2, "{x}{y}" -> 0, "{{x}y}" -> 1.
size_t wrapping_brace_pairs(const std::string& text);

// Splits at `separator` where no bracket is open ("(1,2),3" -> "(1,2)", "3"). Escaped braces count as
// brackets. `separator` is a literal string such as "," or "\\\\" or "&".
std::vector<std::string> split_top_level(const std::string& text, const std::string& separator);

}  // namespace lil
