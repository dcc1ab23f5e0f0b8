// model.safetensors.index.json of a sharded checkpoint: the input is the index; the shards it may name are
// the two real shards of tests/fixtures/models/tiny-llama, linked into the scratch directory once.
#include <cstdint>
#include <string>

#include <unistd.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool linked = [] {
    for (const char* shard : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
      const std::string from = std::string(LIL_SOURCE_DIR) + "/tests/fixtures/models/tiny-llama/" + shard;
      const std::string to = lil::fuzz::scratch_dir() + "/" + shard;
      if (::symlink(from.c_str(), to.c_str()) != 0) return false;
    }
    return true;
  }();
  if (!linked) __builtin_trap();
  lil::fuzz::write_scratch("model.safetensors.index.json", data, size);
  try {
    const lil::Checkpoint checkpoint = lil::Checkpoint::open_dir(lil::fuzz::scratch_dir());
    for (const auto& name : checkpoint.names()) (void)checkpoint.get(name).nbytes;
    (void)checkpoint.total_bytes();
  } catch (const lil::LilError&) {
  }
  return 0;
}
