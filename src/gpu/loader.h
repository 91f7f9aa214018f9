// Finds, loads and version-checks the GPU backend library at run time (dlopen), so the
// `tandem` program and libtandem start and run on machines with no CUDA at all.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "gpu/backend.h"

namespace tandem::gpu {

struct LoaderOptions {
  // Tried in order. A path with a '/' that does not exist is skipped; a bare name goes
  // through the dynamic loader's search (LD_LIBRARY_PATH, ldconfig).
  std::vector<std::string> library_paths;
  // Look for the CUDA driver (libcuda.so.1) first: where there is none, the library
  // (which pulls in cuBLAS, hundreds of MB) is not loaded at all.
  bool probe_driver = true;
  int32_t device = 0;
};

// A loaded backend. The library stays mapped until the process ends (the CUDA runtime
// registers exit handlers inside it, so unloading it early is unsafe); the backend
// object is destroyed with this. Move-only.
class LoadedBackend {
 public:
  LoadedBackend(std::unique_ptr<GpuBackend> b, std::string library)
      : backend_(std::move(b)), library_(std::move(library)) {}
  GpuBackend& backend() const { return *backend_; }
  const std::string& library() const { return library_; }

 private:
  std::unique_ptr<GpuBackend> backend_;
  std::string library_;
};

// The backend, or why there is none; the message is one line, fit for "no CUDA device
// (<message>)". kNotFound: no driver or no library; kUnsupported: an ABI mismatch or a
// library that is not a Tandem backend; other codes come from the backend (no device,
// driver too old for the runtime...).
Result<LoadedBackend> load_gpu_backend(const LoaderOptions& o);

// Where libtandem_cuda.so sits relative to a program in `program_dir`: beside it, in
// ../lib (installed), in ../gpu (the build tree: src/cli beside src/gpu); then the
// bare name for the dynamic loader's search.
std::vector<std::string> default_library_paths(const std::string& program_dir);

// The directory of the running program (from /proc/self/exe); "" if unknown.
std::string program_dir();

}  // namespace tandem::gpu
