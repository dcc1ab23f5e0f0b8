// Data-set JSONL files: the input is the whole file, loaded as every data-set kind (each has its own
// fields and answer rules).
#include <cstdint>
#include <string>

#include "core/error.h"
#include "datasets/dataset.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lil::fuzz::write_scratch("data.jsonl", data, size);
  for (const lil::DatasetKind& kind : lil::list_dataset_kinds()) {
    lil::DatasetSpec spec;
    spec.name = kind.name;
    spec.path = path;
    try {
      (void)lil::load_dataset(spec);
    } catch (const lil::LilError&) {
    }
  }
  return 0;
}
