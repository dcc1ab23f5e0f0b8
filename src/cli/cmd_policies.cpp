// lil policies: the registered sparse-attention policies, their knobs and defaults.
#include <iomanip>
#include <iostream>

#include "cli/command.h"
#include "policies/policy.h"

namespace lil::cli {
namespace {

Registrar registrar("policies", "List sparse-attention policies with their knobs and defaults", [](CLI::App&) {
  return []() {
    for (const auto& info : policy_registry()) {
      std::cout << std::left << std::setw(8) << info.name << "  " << info.summary << "\n";
      if (!info.knobs.empty()) std::cout << std::setw(8) << "" << "  knobs: " << info.knobs << "\n";
    }
    std::cout << "Budgets are absolute KV tokens attended per layer and KV head (--budget N); knobs are set with "
                 "--policy-arg key=value.\n";
    return 0;
  };
});

}  // namespace
}  // namespace lil::cli
