// CUDA graphs, owned (RAII) and checked: a stream capture of the work a callable
// queues, its instantiation, and launches. The CUDA executor caches one per decode shape
// (graph_cache.h).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "core/status.h"
#include "gpu/cuda/cuda_error.h"

namespace tandem::gpu {

// An instantiated graph. Move-only; default: empty.
class CudaGraphExec {
 public:
  CudaGraphExec() = default;
  explicit CudaGraphExec(cudaGraphExec_t e) : e_(e) {}
  CudaGraphExec(CudaGraphExec&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  CudaGraphExec& operator=(CudaGraphExec&& o) noexcept;
  CudaGraphExec(const CudaGraphExec&) = delete;
  CudaGraphExec& operator=(const CudaGraphExec&) = delete;
  ~CudaGraphExec();

  // Queues the graph's work on `stream` (cudaGraphLaunch).
  Status launch(cudaStream_t stream) const;
  bool empty() const { return e_ == nullptr; }

 private:
  cudaGraphExec_t e_ = nullptr;
};

// A captured graph. Move-only.
class CudaGraph {
 public:
  CudaGraph() = default;
  explicit CudaGraph(cudaGraph_t g) : g_(g) {}
  CudaGraph(CudaGraph&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
  CudaGraph& operator=(CudaGraph&& o) noexcept;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph();

  // Its nodes (kernels, memsets, copies).
  Result<uint64_t> node_count() const;
  // cudaGraphInstantiate, then cudaGraphUpload on `stream` (the driver's device memory
  // for the graph is taken now, not at the first launch).
  Result<CudaGraphExec> instantiate(cudaStream_t stream) const;

 private:
  cudaGraph_t g_ = nullptr;
};

// Begins a capture of `stream` (cudaStreamCaptureModeThreadLocal: this thread's calls
// that cannot be captured fail instead of running), runs `launch` (a callable returning
// Status that queues work on the stream), and ends the capture whatever happened, so the
// stream is never left capturing. Nothing runs on the device. On failure the thread's
// last CUDA error is cleared (capture errors are not sticky), so later launch checks do
// not see it. Errors: launch's own, or the capture's.
template <typename Launch>
Result<CudaGraph> capture_graph(cudaStream_t stream, Launch&& launch) {
  TANDEM_TRY(cuda_status(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture",
                         "thread-local mode"));
  Status st = launch();
  cudaGraph_t g = nullptr;
  const cudaError_t e = cudaStreamEndCapture(stream, &g);
  CudaGraph graph(g);  // destroyed on every error path
  if (!st.is_ok() || e != cudaSuccess || g == nullptr) {
    cudaGetLastError();
    TANDEM_TRY(std::move(st));
    TANDEM_TRY(cuda_status(e, "cudaStreamEndCapture"));
    return Error(Code::kInternal) << "cudaStreamEndCapture returned no graph";
  }
  return graph;
}

}  // namespace tandem::gpu
