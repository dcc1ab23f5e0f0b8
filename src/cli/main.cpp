// lil: the command-line driver. Subcommands live in src/cli/cmd_*.cpp and register themselves.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/host_memory.h"
#include "core/version.h"

namespace lil::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

std::vector<std::pair<std::string, std::string>> parse_key_values(const std::vector<std::string>& items,
                                                                  const std::string& flag) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) fail_at(flag, "expected key=value, got '" + item + "'");
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

}  // namespace lil::cli

int main(int argc, char** argv) {
  lil::keep_freed_host_memory();  // large CPU tensors reuse freed heap pages instead of faulting in afresh
  // OpenBLAS spawns one thread per core by default and oversubscribes with LibTorch's own pool.
  setenv("OPENBLAS_NUM_THREADS", "1", /*overwrite=*/0);
  CLI::App app{"lil: measure what post-training sparse attention does to reasoning models' output length, "
               "accuracy and job completion time"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Print version, git commit, LibTorch version and CUDA support");

  auto& registry = lil::cli::command_registry();
  std::sort(registry.begin(), registry.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, lil::cli::Action>> actions;
  for (auto& spec : registry) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    actions.emplace_back(sub, spec.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : lil::kExitUserError;
  }
  try {
    if (show_version) {
      std::cout << lil::version_string() << "\n";
      return 0;
    }
    for (auto& [sub, action] : actions) {
      if (sub->parsed()) return action();
    }
    std::cout << app.help();
    return 0;
  } catch (const lil::LilError& e) {
    std::cerr << "lil: error: " << e.what() << "\n";
    return lil::kExitUserError;
  } catch (const std::bad_alloc&) {
    std::cerr << "lil: error: out of memory\n";
    return lil::kExitUserError;
  } catch (const std::exception& e) {
    std::cerr << "lil: internal error: " << e.what() << "\n";
    return 1;
  }
}
