#pragma once
// Subcommand registry. Each src/cli/cmd_*.cpp registers itself with a static Registrar:
//
//   static lil::cli::Registrar reg("tokenize", "Tokenize text with a model's tokenizer", [](CLI::App& sub) {
//     auto opts = std::make_shared<Options>();
//     sub.add_option("--model", opts->model_dir, "...")->required();
//     return [opts]() -> int { ...; return 0; };   // runs after parsing; LilError -> exit 2
//   });
//
// main.cpp builds the CLI11 app from the registry, so adding a command touches no other file.
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lil::cli {

using Action = std::function<int()>;
using Setup = std::function<Action(CLI::App&)>;

struct CommandSpec {
  std::string name;
  std::string description;
  Setup setup;
};

std::vector<CommandSpec>& command_registry();

struct Registrar {
  Registrar(std::string name, std::string description, Setup setup) {
    command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

// Parses "key=value" strings given to repeated flags such as --policy-arg; LilError on a malformed item.
std::vector<std::pair<std::string, std::string>> parse_key_values(const std::vector<std::string>& items,
                                                                  const std::string& flag);

}  // namespace lil::cli
