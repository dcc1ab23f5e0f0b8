// config.json: parse, validate, and derive the expected tensor table from whatever validated.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const lil::ModelConfig config =
        lil::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    for (int64_t layer = 0; layer < config.num_hidden_layers && layer < 4; ++layer) (void)config.layer_is_moe(layer);
    (void)lil::expected_tensors(config);
  } catch (const lil::LilError&) {
  }
  return 0;
}
