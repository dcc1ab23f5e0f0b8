// lil train: trains a small Llama-architecture model on the synthetic varchain task and writes a Hugging Face
// checkpoint directory (src/runtime/train.h says what the loop does).
#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "runtime/train.h"

namespace lil::cli {
namespace {

struct TrainCliOptions {
  std::string config;
  TrainOverrides overrides;
};

Registrar registrar("train", "Train a small Llama model on the synthetic task; writes a Hugging Face checkpoint",
                    [](CLI::App& sub) {
  auto o = std::make_shared<TrainCliOptions>();
  sub.add_option("config", o->config, "Training config (JSON), e.g. configs/train-tiny.json")->required();
  sub.add_option("--out", o->overrides.out_dir, "Checkpoint directory (default: the config's out_dir)");
  sub.add_option("--steps", o->overrides.steps, "Optimizer steps (default: the config's optimizer.steps)");
  sub.add_option("--device", o->overrides.device, "cpu | cuda | cuda:N | auto (default: the config's device)");
  sub.add_flag("--resume", o->overrides.resume, "Continue the run in --out from its last checkpoint");
  sub.add_option("--stop-at", o->overrides.stop_at, "Checkpoint and exit after this step (continue later with --resume)");
  sub.add_flag("--quiet", o->overrides.quiet, "Do not echo the log lines (they still go to <out>/train_log.jsonl)");
  return [o]() {
    const TrainSummary s = run_training(load_train_config(o->config), o->overrides);
    std::cout << std::fixed << std::setprecision(4) << "[lil] trained " << s.parameters << " parameters for "
              << s.steps << " steps in " << std::setprecision(1) << s.seconds << " s; loss "
              << std::setprecision(4) << s.first_loss << " -> " << s.last_loss;
    if (s.last_accuracy >= 0) std::cout << ", held-out greedy accuracy " << std::setprecision(3) << s.last_accuracy;
    std::cout << "\n[lil] checkpoint: " << s.out_dir << "\n";
    return 0;
  };
});

}  // namespace
}  // namespace lil::cli
