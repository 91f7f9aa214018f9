// A parsed GGUF file over a read-only mmap: opening, lifetime, lookups of keys and tensors.
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/check.h"
#include "storage/gguf.h"

namespace tandem::gguf {

// The mapping of a whole file; unmapped when the File goes.
struct File::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr != nullptr) ::munmap(addr, size);
  }
};

namespace {

Error os_error(int err, const std::string& path, const char* call) {
  const Code code = (err == ENOENT || err == ENOTDIR) ? Code::kNotFound : Code::kIo;
  return Error(code) << path << ": " << call << " failed: " << std::strerror(err);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<File> File::open(const std::string& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return os_error(errno, path, "open");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return os_error(errno, path, "fstat");
  if (!S_ISREG(st.st_mode)) return Error(Code::kIo) << path << ": not a regular file";
  auto map = std::make_unique<Mapping>();
  map->size = static_cast<size_t>(st.st_size);
  if (map->size > 0) {
    void* addr = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (addr == MAP_FAILED) return os_error(errno, path, "mmap");
    map->addr = addr;
  }
  const std::span<const std::byte> bytes(static_cast<const std::byte*>(map->addr), map->size);
  TANDEM_ASSIGN_OR_RETURN(File f, parse(bytes, path));
  f.map_ = std::move(map);
  return f;
}

void File::release_pages(std::span<const std::byte> bytes) const {
  if (!map_ || map_->addr == nullptr || bytes.empty()) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(bytes.data()) + page - 1) / page * page;
  const auto end = reinterpret_cast<uintptr_t>(bytes.data() + bytes.size()) / page * page;
  const auto map_begin = reinterpret_cast<uintptr_t>(map_->addr);
  TANDEM_CHECK(reinterpret_cast<uintptr_t>(bytes.data()) >= map_begin &&
               reinterpret_cast<uintptr_t>(bytes.data() + bytes.size()) <= map_begin + map_->size)
      << path_ << ": release_pages of a range outside the mapping";
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

File::File() = default;
File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

const Value* File::find(std::string_view key) const {
  for (const KeyValue& kv : kv_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const std::byte> File::tensor_data(const TensorInfo& t) const {
  const uint64_t size = bytes_.size();
  TANDEM_CHECK(data_offset_ <= size && t.offset <= size - data_offset_ &&
               t.nbytes <= size - data_offset_ - t.offset)
      << path_ << ": tensor '" << t.name << "' is not a tensor of this file";
  return bytes_.subspan(data_offset_ + t.offset, t.nbytes);
}

}  // namespace tandem::gguf
