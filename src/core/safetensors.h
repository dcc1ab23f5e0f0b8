#pragma once
// safetensors reader (https://github.com/huggingface/safetensors format): 8-byte little-endian header
// length, JSON header {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__": {...}}, then the
// byte buffer. Files are memory-mapped; every header field is validated (length vs file size, dtypes,
// shapes vs byte counts, offsets in range, no overlaps) before any tensor is handed out. No torch here.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lil {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

std::string dtype_name(DType dtype);          // "F32", "BF16", ... as spelled in safetensors headers
size_t dtype_size(DType dtype);               // bytes per element

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // points into the memory map; valid while the owning file is open
  size_t nbytes = 0;
  std::string file;            // which file it came from (for error messages)
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws LilError naming the file and the offending tensor/key.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint directory: `model.safetensors`, or the shards listed by `model.safetensors.index.json`
// (its weight_map must name files that exist and hold the tensors it claims).
class Checkpoint {
 public:
  static Checkpoint open_dir(const std::string& dir);

  bool has(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // LilError "<dir>: tensor '<name>' is missing"
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }
  size_t total_bytes() const;

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// Writes tensors to a single safetensors file atomically (used by `lil train` and by tests that build
// malformed or small checkpoints). `data` must hold `nbytes` bytes of `dtype`.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace lil
