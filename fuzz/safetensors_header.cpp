// safetensors files. An input starting with '{' is taken as the JSON header and framed as a real file
// (length prefix + header + 256 data bytes), so mutations explore the header's fields; any other input is
// the whole file, length prefix included (absurd or truncated lengths).
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/safetensors.h"
#include "scratch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string file;
  if (size > 0 && data[0] == '{') {
    uint64_t n = size;
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    file.append(reinterpret_cast<const char*>(data), size);
    file.append(256, '\x01');
  } else {
    file.assign(reinterpret_cast<const char*>(data), size);
  }
  const std::string path =
      lil::fuzz::write_scratch("model.safetensors", reinterpret_cast<const uint8_t*>(file.data()), file.size());
  try {
    lil::SafetensorsFile st(path);
    for (const auto& [name, view] : st.tensors()) {
      // Touch the first and last byte: a view that points outside the mapping is caught by ASan.
      if (view.nbytes > 0) {
        volatile uint8_t first = static_cast<const uint8_t*>(view.data)[0];
        volatile uint8_t last = static_cast<const uint8_t*>(view.data)[view.nbytes - 1];
        (void)first;
        (void)last;
      }
    }
  } catch (const lil::LilError&) {
  }
  return 0;
}
