#include "datasets/answer_normalization.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace lil {
namespace {

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Replaces the control word `\name` only where it ends (not `\right` inside `\rightarrow`).
void replace_command(std::string& text, const std::string& name, const std::string& to) {
  const std::string command = "\\" + name;
  size_t pos = 0;
  while ((pos = text.find(command, pos)) != std::string::npos) {
    const size_t end = pos + command.size();
    if (end < text.size() && is_letter(text[end])) {
      pos = end;
      continue;
    }
    text.replace(pos, command.size(), to);
    pos += to.size();
  }
}

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

// Position of the '{' that opens the argument of a command ending at `after_name`, skipping spaces.
size_t argument_brace(const std::string& text, size_t after_name) {
  size_t pos = after_name;
  while (pos < text.size() && text[pos] == ' ') ++pos;
  return pos < text.size() && text[pos] == '{' ? pos : std::string::npos;
}

// `\name{X}` -> X for every occurrence (innermost-last is fine: the loop rescans).
void unwrap_command(std::string& text, const std::string& name) {
  const std::string command = "\\" + name;
  size_t pos = 0;
  while ((pos = text.find(command, pos)) != std::string::npos) {
    const size_t after = pos + command.size();
    if (after < text.size() && is_letter(text[after])) {
      pos = after;
      continue;
    }
    const size_t open = argument_brace(text, after);
    const size_t close = open == std::string::npos ? std::string::npos : matching_bracket(text, open);
    if (close == std::string::npos) {
      pos = after;
      continue;
    }
    text = text.substr(0, pos) + text.substr(open + 1, close - open - 1) + text.substr(close + 1);
  }
}

const std::array<const char*, 6> kTextCommands = {"text", "textrm", "mbox", "textbf", "textit", "mathrm"};

// "15\mbox{ cm}^2" -> "15", "5.4 \text{ cents}" -> "5.4"; a lone "\text{Evelyn}" stays.
bool strip_trailing_text_unit(std::string& text) {
  for (const char* name : kTextCommands) {
    const std::string command = std::string("\\") + name;
    const size_t pos = text.rfind(command);
    if (pos == std::string::npos) continue;
    const size_t open = argument_brace(text, pos + command.size());
    if (open == std::string::npos) continue;
    const size_t close = matching_bracket(text, open);
    if (close == std::string::npos) continue;
    std::string rest = trim(text.substr(close + 1));
    if (rest == "^2" || rest == "^3" || rest == "^{2}" || rest == "^{3}") rest.clear();
    if (!rest.empty()) continue;
    const std::string before = trim(text.substr(0, pos));
    if (before.empty()) continue;
    const char last = before.back();
    if (!is_digit(last) && last != '}' && last != ')' && last != '.') continue;
    text = before;
    return true;
  }
  return false;
}

const std::set<std::string>& unit_words() {
  static const std::set<std::string> words = {
      "cm", "mm", "km", "m", "meter", "meters", "metre", "metres", "in", "inch", "inches", "ft", "foot", "feet",
      "yd", "yard", "yards", "mile", "miles", "mph", "units", "unit", "sq", "square", "cubic", "degree",
      "degrees", "deg", "dollar", "dollars", "cent", "cents", "hour", "hours", "hr", "hrs", "minute", "minutes",
      "min", "mins", "second", "seconds", "sec", "day", "days", "week", "weeks", "month", "months", "year",
      "years", "kg", "gram", "grams", "pound", "pounds", "lb", "lbs", "ounce", "ounces", "oz", "liter",
      "liters", "litre", "litres", "gallon", "gallons", "percent", "points", "people", "students", "times"};
  return words;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// Start of the run of letters that ends at `end` (== end when there is none).
size_t letter_run_start(const std::string& text, size_t end) {
  while (end > 0 && is_letter(text[end - 1])) --end;
  return end;
}

// "27 miles" -> "27", "15 square units" -> "15"; only after a number and a space, so "x", "2m" or "east"
// stay.
void strip_trailing_unit_words(std::string& text) {
  std::string work = trim(text);
  if (work.size() >= 2 && work[work.size() - 2] == '^' && (work.back() == '2' || work.back() == '3')) {
    work.resize(work.size() - 2);
  }
  size_t end = work.size();
  for (int words = 0; words < 3; ++words) {
    const size_t begin = letter_run_start(work, end);
    // A unit needs a space before it: "2m" is a product, "2 m" a length.
    if (begin == end || begin == 0 || !is_space(work[begin - 1])) return;
    if (unit_words().count(lowercase(work.substr(begin, end - begin))) == 0) return;
    const std::string before = trim(work.substr(0, begin));
    if (before.empty()) return;
    const char last = before.back();
    if (is_digit(last) || last == '}' || last == ')') {
      text = before;
      return;
    }
    end = before.size();  // maybe another unit word ("square units")
    work = before;
  }
}

bool is_single_variable(const std::string& lhs) {
  const std::string name = trim(lhs);
  if (name.empty()) return false;
  size_t pos = 0;
  if (name[0] == '\\') {
    pos = 1;
    while (pos < name.size() && is_letter(name[pos])) ++pos;
    if (pos == 1) return false;
  } else if (is_letter(name[0])) {
    pos = 1;
  } else {
    return false;
  }
  if (pos == name.size()) return true;
  if (name[pos] != '_') return false;
  const std::string subscript = name.substr(pos + 1);
  if (subscript.size() == 1) return std::isalnum(static_cast<unsigned char>(subscript[0])) != 0;
  return subscript.size() > 2 && subscript.front() == '{' && subscript.back() == '}';
}

// "x = 3" -> "3", "x \in [-2,7]" -> "[-2,7]": the name of the unknown is not part of the answer.
void strip_variable_assignment(std::string& text) {
  const auto parts = split_top_level(text, "=");
  if (parts.size() == 2 && is_single_variable(parts[0]) && !trim(parts[1]).empty()) {
    text = trim(parts[1]);
    return;
  }
  const size_t in = text.find("\\in");
  if (in != std::string::npos && in + 3 <= text.size() && (in + 3 == text.size() || !is_letter(text[in + 3])) &&
      is_single_variable(text.substr(0, in))) {
    text = trim(text.substr(in + 3));
  }
}

// "\!", "\,", "\;", "\:", "\ " and "~" -> " ", leaving the row break "\\" of matrices alone.
std::string replace_spacing_commands(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '~') {
      out += ' ';
    } else if (c == '\\' && i + 1 < text.size()) {
      const char next = text[i + 1];
      if (next == '!' || next == ',' || next == ';' || next == ':' || next == ' ') {
        out += ' ';
      } else {
        out += c;
        out += next;
      }
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

// Spaces carry no meaning in LaTeX math except between words ("\cot x", "sin x").
std::string remove_spaces(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (!is_space(text[i])) {
      out += text[i];
      continue;
    }
    size_t next = i;
    while (next < text.size() && is_space(text[next])) ++next;
    if (!out.empty() && is_letter(out.back()) && next < text.size() && is_letter(text[next])) out += ' ';
    i = next - 1;
  }
  return out;
}

// "1,450,000" or "-2,125.5", but not the list "1,2" or "3,5,7".
bool is_thousands_number(const std::string& text) {
  size_t pos = 0;
  if (pos < text.size() && text[pos] == '-') ++pos;
  const size_t lead_begin = pos;
  while (pos < text.size() && is_digit(text[pos])) ++pos;
  if (pos == lead_begin || pos - lead_begin > 3) return false;
  int groups = 0;
  while (pos < text.size() && text[pos] == ',') {
    for (size_t k = 1; k <= 3; ++k) {
      if (pos + k >= text.size() || !is_digit(text[pos + k])) return false;
    }
    pos += 4;
    ++groups;
  }
  if (groups == 0) return false;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t fraction_begin = pos;
    while (pos < text.size() && is_digit(text[pos])) ++pos;
    if (pos == fraction_begin) return false;
  }
  return pos == text.size();
}

// "_{5}" -> "_5" and "^{2}" -> "^2", so that "4210_{5}" and "4210_5" compare equal as strings.
void drop_single_char_braces(std::string& text) {
  for (const char marker : {'_', '^'}) {
    size_t pos = 0;
    while ((pos = text.find(std::string(1, marker) + "{", pos)) != std::string::npos) {
      // Not when a digit or letter follows: "x^{1}0" is x * 0, and "x^10" would read as x^{10}.
      const bool followed = pos + 4 < text.size() && std::isalnum(static_cast<unsigned char>(text[pos + 4]));
      if (pos + 3 < text.size() && text[pos + 3] == '}' && std::isalnum(static_cast<unsigned char>(text[pos + 2])) &&
          !followed) {
        text = text.substr(0, pos + 1) + text[pos + 2] + text.substr(pos + 4);
      }
      ++pos;
    }
  }
}

void replace_infinity_words(std::string& text) {
  replace_all(text, "infinity", "\\infty");
  size_t pos = 0;
  while ((pos = text.find("inf", pos)) != std::string::npos) {
    const bool command = pos > 0 && text[pos - 1] == '\\';
    const bool word_inside = (pos > 0 && is_letter(text[pos - 1]) && !command) ||
                             (pos + 3 < text.size() && is_letter(text[pos + 3]));
    if (!command && !word_inside) {
      text.replace(pos, 3, "\\infty");
      pos += 6;
    } else {
      pos += 3;
    }
  }
}

}  // namespace

size_t matching_bracket(const std::string& text, size_t open) {
  if (open >= text.size()) return std::string::npos;
  const char opener = text[open];
  const bool braces = opener == '{';
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '{' || text[i + 1] == '}')) {
      ++i;  // an escaped brace is a literal set bracket, never a group
      continue;
    }
    if (braces) {
      if (c == '{') ++depth;
      if (c == '}' && --depth == 0) return i;
    } else {
      if (c == '(' || c == '[') ++depth;
      if ((c == ')' || c == ']') && --depth == 0) return i;
    }
  }
  return std::string::npos;
}

size_t wrapping_brace_pairs(const std::string& text) {
  size_t leading = 0;
  while (leading < text.size() && text[leading] == '{') ++leading;
  // The brace at position d < leading closes where the depth first falls back to d: one pass finds
  // them all (peeling one pair at a time and matching again was quadratic in the nesting).
  std::vector<size_t> close_of(leading, std::string::npos);
  size_t depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '{' || text[i + 1] == '}')) {
      ++i;  // an escaped brace is a literal set bracket, as in matching_bracket
      continue;
    }
    if (c == '{') ++depth;
    if (c == '}') {
      if (depth == 0) break;  // unbalanced: nothing past here is wrapped
      --depth;
      if (depth < leading && close_of[depth] == std::string::npos) close_of[depth] = i;
    }
  }
  size_t pairs = 0;
  while (pairs < leading && close_of[pairs] == text.size() - 1 - pairs) ++pairs;
  return pairs;
}

std::vector<std::string> split_top_level(const std::string& text, const std::string& separator) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '{' || text[i + 1] == '}')) {
      depth += text[i + 1] == '{' ? 1 : -1;
      ++i;
      continue;
    }
    if (depth == 0 && text.compare(i, separator.size(), separator) == 0) {
      parts.push_back(text.substr(start, i - start));
      i += separator.size() - 1;
      start = i + 1;
      continue;
    }
    if (c == '\\' && i + 1 < text.size() && text[i + 1] == '\\') {
      ++i;  // a row break "\\" never opens or closes anything
      continue;
    }
    if (c == '{' || c == '(' || c == '[') ++depth;
    if (c == '}' || c == ')' || c == ']') --depth;
  }
  parts.push_back(text.substr(start));
  return parts;
}

std::string normalize_answer(const std::string& answer) {
  std::string text = answer;
  // Unicode forms that models print instead of LaTeX.
  replace_all(text, "\u2212", "-");
  replace_all(text, "\u00d7", "\\times ");
  replace_all(text, "\u00b7", "\\cdot ");
  replace_all(text, "\u03c0", "\\pi ");
  replace_all(text, "\u221e", "\\infty ");
  replace_all(text, "\u221a", "\\sqrt");
  replace_all(text, "\u00b0", "");
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  text = trim(text);

  replace_all(text, "\\$", "");
  replace_all(text, "$", "");
  for (const char* delimiter : {"\\(", "\\)", "\\[", "\\]"}) replace_all(text, delimiter, "");
  text = replace_spacing_commands(text);
  for (const char* name : {"qquad", "quad"}) replace_command(text, name, " ");
  for (const char* name : {"displaystyle", "textstyle", "bigl", "bigr", "Bigl", "Bigr", "big", "Big"}) {
    replace_command(text, name, "");
  }
  replace_all(text, "\\left.", "");
  replace_all(text, "\\right.", "");
  replace_command(text, "left", "");
  replace_command(text, "right", "");
  replace_command(text, "dfrac", "\\frac");
  replace_command(text, "tfrac", "\\frac");
  replace_command(text, "dbinom", "\\binom");
  replace_command(text, "tbinom", "\\binom");
  replace_all(text, "bmatrix", "pmatrix");
  replace_command(text, "neq", "\\ne");
  replace_command(text, "leq", "\\le");
  replace_command(text, "geq", "\\ge");

  // Degrees and percent carry no value of their own in these benchmarks (Qwen2.5-Math drops them too).
  for (const char* degree : {"^{\\circ}", "^\\circ", "^ \\circ", "^{\\degree}", "^\\degree"}) {
    replace_all(text, degree, "");
  }
  replace_command(text, "circ", "");
  replace_command(text, "degree", "");
  replace_all(text, "\\%", "");
  replace_all(text, "%", "");

  while (strip_trailing_text_unit(text)) {
  }
  for (const char* name : kTextCommands) unwrap_command(text, name);
  for (const char* name : {"mathbf", "mathit", "boxed", "fbox", "textnormal"}) unwrap_command(text, name);
  text = trim(text);
  while (!text.empty() && (text.back() == '.' || is_space(text.back()))) text.pop_back();

  replace_all(text, ", and ", ",");
  replace_all(text, " and ", ",");
  replace_all(text, " or ", ",");
  strip_trailing_unit_words(text);
  strip_variable_assignment(text);
  text = remove_spaces(text);
  replace_infinity_words(text);
  replace_all(text, "\\mathbb R", "\\mathbb{R}");
  if (text == "(-\\infty,\\infty)") text = "\\mathbb{R}";

  if (is_thousands_number(text)) text.erase(std::remove(text.begin(), text.end(), ','), text.end());
  if (!text.empty() && text[0] == '.') text = "0" + text;
  if (text.size() > 1 && text[0] == '-' && text[1] == '.') text = "-0" + text.substr(1);
  drop_single_char_braces(text);

  const size_t wrapping = wrapping_brace_pairs(text);
  if (wrapping > 0) text = text.substr(wrapping, text.size() - 2 * wrapping);
  // Multiple choice: "(B)" -> "B".
  if (text.size() == 3 && text[0] == '(' && text[2] == ')' && std::isupper(static_cast<unsigned char>(text[1]))) {
    text = text.substr(1, 1);
  }
  return text;
}

}  // namespace lil
