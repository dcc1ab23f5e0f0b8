#pragma once
// One error type for every user-facing failure (bad file, bad config, bad flag, bad input data).
// The message names the file or key and what was expected; the CLI maps it to exit code 2.
#include <stdexcept>
#include <string>

namespace lil {

class LilError : public std::runtime_error {
 public:
  explicit LilError(const std::string& message) : std::runtime_error(message) {}
};

// "<where>: <what>", e.g. fail_at("model/config.json", "key 'hidden_size': expected a positive integer").
[[noreturn]] inline void fail_at(const std::string& where, const std::string& what) {
  throw LilError(where + ": " + what);
}

constexpr int kExitUserError = 2;

}  // namespace lil
