#include "core/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_util.h"

namespace lil {

namespace fs = std::filesystem;

namespace {

// The reference implementation refuses headers above 100 MB; a real checkpoint's header is a few MB at most,
// so anything larger is a corrupt length field, and we refuse it before allocating or parsing.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kIndexFileName = "model.safetensors.index.json";
constexpr const char* kSingleFileName = "model.safetensors";

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeEntry& dtype_entry(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e;
  }
  throw LilError("internal error: DType " + std::to_string(static_cast<int>(dtype)) + " has no table entry");
}

std::string supported_dtype_list() {
  std::string out;
  for (const DTypeEntry& e : kDTypes) out += (out.empty() ? "" : " ") + std::string(e.name);
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// Reads a JSON integer that must be >= 0 as u64 (offsets may legitimately exceed INT64_MAX only in
// corrupt files, which the range checks then reject).
bool read_u64(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

struct ParsedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;
  uint64_t end;
};

ParsedTensor parse_tensor_entry(const std::string& path, const std::string& name, const json& entry,
                                uint64_t buffer_size) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!entry.is_object()) fail_at(where, "expected an object {dtype, shape, data_offsets}, got " + json_type_name(entry));
  ParsedTensor t;
  t.name = name;

  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end()) fail_at(where, "missing key 'dtype'");
  if (!dtype_it->is_string()) fail_at(where, "key 'dtype': expected a string, got " + json_type_name(*dtype_it));
  const std::string dtype_text = dtype_it->get<std::string>();
  const DTypeEntry* dtype = nullptr;
  for (const DTypeEntry& e : kDTypes) {
    if (dtype_text == e.name) dtype = &e;
  }
  if (!dtype) fail_at(where, "unsupported dtype '" + dtype_text + "' (expected one of " + supported_dtype_list() + ")");
  t.dtype = dtype->dtype;

  auto shape_it = entry.find("shape");
  if (shape_it == entry.end()) fail_at(where, "missing key 'shape'");
  if (!shape_it->is_array()) fail_at(where, "key 'shape': expected a list of non-negative integers, got " + json_type_name(*shape_it));
  // The element count is accumulated in u64 with overflow checks: a corrupt shape such as
  // [2^40, 2^40] must be reported, not wrapped around into a small number that happens to match.
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& dim : *shape_it) {
    uint64_t d = 0;
    if (!read_u64(dim, &d)) {
      fail_at(where, "key 'shape': expected a list of non-negative integers, got " + shape_it->dump());
    }
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
    t.shape.push_back(static_cast<int64_t>(d));
    if (__builtin_mul_overflow(numel, d, &numel)) overflow = true;
  }
  uint64_t expected_bytes = 0;
  if (overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
      __builtin_mul_overflow(numel, static_cast<uint64_t>(dtype->size), &expected_bytes)) {
    fail_at(where, "shape " + shape_it->dump() + " has more elements than 64-bit sizes can hold");
  }

  auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end()) fail_at(where, "missing key 'data_offsets'");
  if (!offsets_it->is_array() || offsets_it->size() != 2 || !read_u64((*offsets_it)[0], &t.begin) ||
      !read_u64((*offsets_it)[1], &t.end)) {
    fail_at(where, "key 'data_offsets': expected [begin, end] (two non-negative integers), got " + offsets_it->dump());
  }
  if (t.begin > t.end) {
    fail_at(where, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]: begin is after end");
  }
  if (t.end > buffer_size) {
    fail_at(where, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                       "] run past the end of the data buffer (" + std::to_string(buffer_size) +
                       " bytes); is the file truncated?");
  }
  if (t.end - t.begin != expected_bytes) {
    fail_at(where, "shape " + shape_text(t.shape) + " of " + dtype->name + " needs " + std::to_string(expected_bytes) +
                       " bytes, but data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                       "] hold " + std::to_string(t.end - t.begin));
  }
  return t;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& value) {
  std::map<std::string, std::string> out;
  if (value.is_null()) return out;
  if (!value.is_object()) {
    fail_at(path, std::string("header key '") + kMetadataKey + "': expected an object of strings, got " + json_type_name(value));
  }
  for (const auto& item : value.items()) {
    if (!item.value().is_string()) {
      fail_at(path, std::string("header key '") + kMetadataKey + "." + item.key() + "': expected a string, got " +
                        json_type_name(item.value()));
    }
    out[item.key()] = item.value().get<std::string>();
  }
  return out;
}

// Tensors may leave gaps in the buffer, but two tensors sharing bytes would alias each other's weights.
// Empty tensors occupy no bytes, so they cannot overlap anything.
void check_no_overlap(const std::string& path, std::vector<const ParsedTensor*> tensors) {
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [](const ParsedTensor* t) { return t->begin == t->end; }),
                tensors.end());
  std::sort(tensors.begin(), tensors.end(), [](const ParsedTensor* a, const ParsedTensor* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->name < b->name;
  });
  const ParsedTensor* furthest = nullptr;  // the tensor reaching furthest into the buffer so far
  for (const ParsedTensor* t : tensors) {
    if (furthest && t->begin < furthest->end) {
      fail_at(path + ": tensor '" + t->name + "'",
              "data_offsets [" + std::to_string(t->begin) + ", " + std::to_string(t->end) + "] overlap tensor '" +
                  furthest->name + "' at [" + std::to_string(furthest->begin) + ", " + std::to_string(furthest->end) + "]");
    }
    if (!furthest || t->end > furthest->end) furthest = t;
  }
}

// Shard names come from a JSON file and are joined to the checkpoint directory: only a plain file name
// may be accepted, or an index could make us map an arbitrary file elsewhere on disk.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

std::string join_path(const std::string& dir, const std::string& name) { return (fs::path(dir) / name).string(); }

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string dtype_name(DType dtype) { return dtype_entry(dtype).name; }
size_t dtype_size(DType dtype) { return dtype_entry(dtype).size; }

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_at(path, "cannot open file (" + errno_text() + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string reason = errno_text();
    ::close(fd);
    fail_at(path, "cannot stat file (" + reason + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail_at(path, "not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail_at(path, "header: file is " + std::to_string(file_size) +
                      " bytes, shorter than the 8-byte header length of a safetensors file");
  }
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string mmap_reason = mapping == MAP_FAILED ? errno_text() : "";
  ::close(fd);  // the mapping keeps the file alive; holding the descriptor would only use up the fd limit
  if (mapping == MAP_FAILED) fail_at(path, "cannot memory-map file (" + mmap_reason + ")");
  mapping_ = mapping;
  mapping_size_ = file_size;

  // The destructor does not run when the constructor throws, so unmap here on any validation error.
  try {
    const auto* bytes = static_cast<const unsigned char*>(mapping_);
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];  // little-endian on any host
    if (header_size > kMaxHeaderBytes) {
      fail_at(path, "header length " + std::to_string(header_size) + " exceeds the " + std::to_string(kMaxHeaderBytes) +
                        "-byte limit (corrupt file?)");
    }
    if (header_size > file_size - 8) {
      fail_at(path, "header length " + std::to_string(header_size) + " is larger than the rest of the file (" +
                        std::to_string(file_size - 8) + " bytes)");
    }
    const std::string header_text(reinterpret_cast<const char*>(bytes + 8), header_size);
    json header;
    try {
      header = json::parse(header_text);
    } catch (const json::parse_error& e) {
      fail_at(path, "header is not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
    } catch (const json::exception& e) {
      fail_at(path, std::string("header holds unsupported JSON: ") + e.what());
    }
    if (!header.is_object()) fail_at(path, "header is not a JSON object, got " + json_type_name(header));

    const uint64_t buffer_offset = 8 + header_size;
    const uint64_t buffer_size = file_size - buffer_offset;
    std::vector<ParsedTensor> parsed;
    for (const auto& item : header.items()) {
      if (item.key() == kMetadataKey) {
        metadata_ = parse_metadata(path, item.value());
        continue;
      }
      parsed.push_back(parse_tensor_entry(path, item.key(), item.value(), buffer_size));
    }
    std::vector<const ParsedTensor*> pointers;
    for (const ParsedTensor& t : parsed) pointers.push_back(&t);
    check_no_overlap(path, pointers);

    for (ParsedTensor& t : parsed) {
      TensorView view;
      view.name = t.name;
      view.dtype = t.dtype;
      view.shape = std::move(t.shape);
      view.data = bytes + buffer_offset + t.begin;
      view.nbytes = static_cast<size_t>(t.end - t.begin);
      view.file = path;
      tensors_.emplace(t.name, std::move(view));
    }
  } catch (...) {
    ::munmap(mapping_, mapping_size_);
    mapping_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_) ::munmap(mapping_, mapping_size_);
}

Checkpoint Checkpoint::open_dir(const std::string& dir) {
  std::error_code dir_error;
  if (!fs::is_directory(dir, dir_error)) {
    fail_at(dir, "not a directory (expected a checkpoint directory with model.safetensors)");
  }
  Checkpoint checkpoint;
  checkpoint.dir_ = dir;
  const std::string index_path = join_path(dir, kIndexFileName);
  const std::string single_path = join_path(dir, kSingleFileName);

  if (!path_exists(index_path, dir)) {
    if (!path_exists(single_path, dir)) {
      fail_at(dir, std::string("no ") + kSingleFileName + " or " + kIndexFileName);
    }
    auto file = std::make_shared<SafetensorsFile>(single_path);
    for (const auto& item : file->tensors()) checkpoint.index_[item.first] = &item.second;
    checkpoint.files_.push_back(std::move(file));
    return checkpoint;
  }

  const json index = read_json_file(index_path);
  const json& weight_map = require_key(index, "weight_map", index_path);
  if (!weight_map.is_object()) {
    fail_at(index_path, "key 'weight_map': expected an object {tensor: shard file}, got " + json_type_name(weight_map));
  }
  if (weight_map.empty()) fail_at(index_path, "key 'weight_map': expected at least one tensor, got an empty object");

  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;  // each distinct shard is mapped once
  for (const auto& item : weight_map.items()) {
    const std::string where = index_path + ": tensor '" + item.key() + "'";
    if (!item.value().is_string()) fail_at(where, "expected a shard file name, got " + json_type_name(item.value()));
    const std::string shard = item.value().get<std::string>();
    if (!is_plain_file_name(shard)) {
      fail_at(where, "shard '" + shard + "' is not a plain file name in the checkpoint directory");
    }
    if (shards.count(shard)) continue;
    const std::string shard_path = join_path(dir, shard);
    if (!path_exists(shard_path, where)) fail_at(where, "shard file '" + shard + "' does not exist in " + dir);
    shards.emplace(shard, std::make_shared<SafetensorsFile>(shard_path));
  }
  for (const auto& item : weight_map.items()) {
    const std::string shard = item.value().get<std::string>();
    if (!shards.at(shard)->tensors().count(item.key())) {
      fail_at(index_path + ": tensor '" + item.key() + "'", "not found in shard '" + shard + "'");
    }
  }
  // Like Hugging Face loaders, every tensor of every shard is loaded (the weight_map only says where to
  // look); a name stored in two shards would make the result depend on load order, so it is refused.
  std::map<std::string, std::string> shard_of;
  for (const auto& shard : shards) {
    for (const auto& item : shard.second->tensors()) {
      auto inserted = shard_of.emplace(item.first, shard.first);
      if (!inserted.second) {
        fail_at(index_path + ": tensor '" + item.first + "'",
                "stored in two shards, '" + inserted.first->second + "' and '" + shard.first + "'");
      }
      checkpoint.index_[item.first] = &item.second;
    }
    checkpoint.files_.push_back(shard.second);
  }
  return checkpoint;
}

bool Checkpoint::has(const std::string& name) const { return index_.count(name) > 0; }

const TensorView& Checkpoint::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail_at(dir_, "tensor '" + name + "' is missing");
  return *it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& item : index_) out.push_back(item.first);
  return out;
}

size_t Checkpoint::total_bytes() const {
  size_t total = 0;
  for (const auto& item : index_) total += item.second->nbytes;
  return total;
}

namespace {

// Streams the file through a temporary sibling so a crash or full disk never leaves a half-written
// checkpoint under the final name (json_util's atomic writer needs the whole file in one string).
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path) : path_(path), temp_(path + ".tmp.XXXXXX") {
    fd_ = ::mkstemp(&temp_[0]);
    if (fd_ < 0) fail_at(path_, "cannot create temporary file (" + errno_text() + ")");
    // mkstemp creates 0600; checkpoints are ordinary data files.
    ::fchmod(fd_, 0644);
  }
  ~AtomicFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_at(path_, "write failed (" + errno_text() + ")");
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) fail_at(path_, "could not flush file to disk (" + errno_text() + ")");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_at(path_, "could not close file (" + errno_text() + ")");
    if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
      fail_at(path_, "cannot rename temporary file (" + errno_text() + ")");
    }
    committed_ = true;
  }

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  for (const TensorToWrite& t : tensors) {
    const std::string where = path + ": tensor '" + t.name + "'";
    if (t.name == kMetadataKey) fail_at(where, "the name is reserved for the header's metadata");
    if (!seen.insert(t.name).second) fail_at(where, "appears twice in the list of tensors to write");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) fail_at(where, "shape " + shape_text(t.shape) + " has a negative dimension");
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) {
        fail_at(where, "shape " + shape_text(t.shape) + " has more elements than 64-bit sizes can hold");
      }
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(t.dtype)), &bytes)) {
      fail_at(where, "shape " + shape_text(t.shape) + " has more bytes than 64-bit sizes can hold");
    }
    if (bytes != t.nbytes) {
      fail_at(where, "shape " + shape_text(t.shape) + " of " + dtype_name(t.dtype) + " needs " + std::to_string(bytes) +
                         " bytes, but " + std::to_string(t.nbytes) + " were given");
    }
    if (t.nbytes > 0 && t.data == nullptr) fail_at(where, "data is null");
  }

  // Widest dtypes first (then by name), as the reference writer does: with the buffer starting at a
  // multiple of 8, every tensor then starts at a multiple of its element size.
  std::vector<const TensorToWrite*> order;
  for (const TensorToWrite& t : tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
    const size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite* t : order) {
    header[t->name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const nlohmann::json::type_error&) {
    fail_at(path, "tensor names and metadata must be valid UTF-8");
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');

  unsigned char length_bytes[8];
  uint64_t length = header_text.size();
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(length >> (8 * i));

  AtomicFileWriter out(path);
  out.write(length_bytes, sizeof length_bytes);
  out.write(header_text.data(), header_text.size());
  for (const TensorToWrite* t : order) out.write(t->data, t->nbytes);
  out.commit();
}

}  // namespace lil
