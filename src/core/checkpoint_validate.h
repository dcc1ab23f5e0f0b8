#pragma once
// Checks a checkpoint against the tensors its config.json implies, before any weight is copied, so a
// wrong or truncated download fails with the first offending tensor named instead of deep inside a load.
#include "core/model_config.h"
#include "core/safetensors.h"

namespace lil {

// LilError "<dir>: tensor 'name': ..." for the first tensor (in expected_tensors order) that is missing,
// has the wrong shape, or is not F32/F16/BF16; also for a bias the config says the model does not have.
void validate_checkpoint(const ModelConfig& config, const Checkpoint& checkpoint);

}  // namespace lil
