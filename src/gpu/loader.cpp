#include "gpu/loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace tandem::gpu {
namespace {

std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

// The first library on the list that exists and loads; kNotFound naming every place
// looked in when none exists.
Result<std::pair<void*, std::string>> open_library(const std::vector<std::string>& paths) {
  std::string looked;
  for (const std::string& p : paths) {
    const bool bare = p.find('/') == std::string::npos;
    if (!bare && ::access(p.c_str(), F_OK) != 0) {
      looked += (looked.empty() ? "" : ", ") + p;
      continue;
    }
    dlerror();
    void* h = dlopen(p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h != nullptr) return std::make_pair(h, p);
    const std::string why = dl_error();
    if (bare) {  // not on the loader's search path (or broken): say so, look further
      looked += (looked.empty() ? "" : ", ") + p + " (" + why + ")";
      continue;
    }
    return Error(Code::kNotFound) << "cannot load " << p << ": " << why;
  }
  return Error(Code::kNotFound) << kCudaLibraryName << " not found (looked for " << looked
                                << "; Tandem was built without CUDA, or the library was not installed)";
}

}  // namespace

Result<LoadedBackend> load_gpu_backend(const LoaderOptions& o) {
  if (o.probe_driver) {
    dlerror();
    // Kept open: the CUDA runtime loads the driver library anyway.
    if (dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) == nullptr)
      return Error(Code::kNotFound) << "no CUDA driver: " << dl_error();
  }
  TANDEM_ASSIGN_OR_RETURN(auto lib, open_library(o.library_paths));
  auto [handle, path] = lib;
  dlerror();
  auto abi = reinterpret_cast<tandem_gpu_abi_version_fn>(dlsym(handle, kAbiVersionSymbol));
  auto create = reinterpret_cast<tandem_cuda_create_fn>(dlsym(handle, kCreateSymbol));
  if (abi == nullptr || create == nullptr)
    return Error(Code::kUnsupported) << path << " is not a Tandem GPU backend (no " << kAbiVersionSymbol
                                     << " / " << kCreateSymbol << " symbol)";
  if (const uint32_t v = abi(); v != kGpuBackendAbi)
    return Error(Code::kUnsupported) << path << " was built for GPU backend ABI " << v << ", this Tandem needs "
                                     << kGpuBackendAbi << " (build the program and the library together)";
  char why[512] = {};
  const tandem_gpu_create_args args{kGpuBackendAbi, o.device, why, sizeof(why)};
  GpuBackend* b = create(&args);
  if (b == nullptr)
    return Error(Code::kUnsupported) << (why[0] ? why : "the backend gave no reason") << " [" << path << "]";
  return LoadedBackend(std::unique_ptr<GpuBackend>(b), path);
}

std::vector<std::string> default_library_paths(const std::string& program_dir) {
  std::vector<std::string> v;
  if (!program_dir.empty()) {
    v.push_back(program_dir + "/" + kCudaLibraryName);
    v.push_back(program_dir + "/../lib/" + kCudaLibraryName);
    v.push_back(program_dir + "/../gpu/" + kCudaLibraryName);
  }
  v.push_back(kCudaLibraryName);
  return v;
}

std::string program_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  std::string p(buf, static_cast<size_t>(n));
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? std::string() : p.substr(0, slash);
}

}  // namespace tandem::gpu
