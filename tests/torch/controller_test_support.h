#pragma once
// Runs a stop controller the way the decode engine (src/runtime/generate.cpp) does, on scripted token
// sequences instead of a model, so a test knows exactly when each row should stop.
#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/controller.h"

namespace lil::test {

struct DriveResult {
  std::vector<std::vector<ControllerCheck>> checks;  // per row, in order
  std::vector<int64_t> stop_step;                    // tokens generated when the controller fired, else -1
};

// Logits [rows, V] of one decode step (0-based), given which rows are active.
using LogitsAt = std::function<at::Tensor(int64_t step)>;

// Row i generates rows[i] token by token (all rows in lockstep, as in one batch) until its tokens run out or
// the controller fires. After each step: observe(tokens, logits, active), then check() for the rows still
// generating whose count is a multiple of check_every(); a row that just used its last token is finished
// before the check, as a row reaching max_new_tokens is.
inline DriveResult drive(StopController& controller, const std::vector<std::vector<int32_t>>& rows,
                         const Tokenizer* tokenizer = nullptr, const LogitsAt& logits_at = {},
                         at::Device device = at::kCPU) {
  const size_t batch = rows.size();
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r.size());
  constexpr int64_t kDefaultVocab = 8;
  controller.reset(ControllerContext{tokenizer, static_cast<int64_t>(batch), kDefaultVocab, static_cast<int64_t>(longest)});
  DriveResult result;
  result.checks.resize(batch);
  result.stop_step.assign(batch, -1);
  std::vector<std::vector<int32_t>> generated(batch);
  std::vector<bool> done(batch, false);
  for (size_t i = 0; i < batch; ++i) done[i] = rows[i].empty();
  for (int64_t step = 0; std::any_of(done.begin(), done.end(), [](bool d) { return !d; }); ++step) {
    std::vector<int64_t> tokens(batch, 0);
    std::vector<uint8_t> active(batch, 0);
    for (size_t i = 0; i < batch; ++i) {
      if (done[i]) continue;
      active[i] = 1;
      tokens[i] = rows[i][static_cast<size_t>(step)];
      generated[i].push_back(static_cast<int32_t>(tokens[i]));
      if (generated[i].size() == rows[i].size()) done[i] = true;
    }
    const at::Tensor logits = logits_at ? logits_at(step) : at::zeros({static_cast<int64_t>(batch), kDefaultVocab});
    controller.observe(at::tensor(tokens, at::kLong).to(device), logits.to(device),
                       at::tensor(std::vector<int64_t>(active.begin(), active.end()), at::kLong).to(at::kBool).to(device));
    std::vector<bool> should(batch, false);
    bool any = false;
    for (size_t i = 0; i < batch; ++i) {
      const auto n = static_cast<int64_t>(generated[i].size());
      should[i] = active[i] && !done[i] && n % controller.check_every() == 0;
      any = any || should[i];
    }
    if (!any) continue;
    const std::vector<ControllerCheck> checks = controller.check(should, generated);
    for (size_t i = 0; i < batch; ++i) {
      if (!should[i]) continue;
      result.checks[i].push_back(checks.at(i));
      if (checks[i].fired) {
        result.stop_step[i] = static_cast<int64_t>(generated[i].size());
        done[i] = true;
      }
    }
  }
  return result;
}

inline std::vector<int32_t> iota_tokens(int32_t first, int32_t count) {
  std::vector<int32_t> out(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = first + i;
  return out;
}

inline std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline std::vector<int32_t> repeat(const std::vector<int32_t>& piece, size_t times) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < times; ++i) out.insert(out.end(), piece.begin(), piece.end());
  return out;
}

}  // namespace lil::test
