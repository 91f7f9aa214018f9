#include "gpu/cuda/cuda_graph.h"

namespace tandem::gpu {

CudaGraphExec& CudaGraphExec::operator=(CudaGraphExec&& o) noexcept {
  if (this != &o) {
    if (e_) cudaGraphExecDestroy(e_);
    e_ = std::exchange(o.e_, nullptr);
  }
  return *this;
}

CudaGraphExec::~CudaGraphExec() {
  if (e_) cudaGraphExecDestroy(e_);  // nothing to report to; the owner synchronized its stream first
}

Status CudaGraphExec::launch(cudaStream_t stream) const {
  return cuda_status(cudaGraphLaunch(e_, stream), "cudaGraphLaunch");
}

CudaGraph& CudaGraph::operator=(CudaGraph&& o) noexcept {
  if (this != &o) {
    if (g_) cudaGraphDestroy(g_);
    g_ = std::exchange(o.g_, nullptr);
  }
  return *this;
}

CudaGraph::~CudaGraph() {
  if (g_) cudaGraphDestroy(g_);
}

Result<uint64_t> CudaGraph::node_count() const {
  size_t n = 0;
  TANDEM_TRY(cuda_status(cudaGraphGetNodes(g_, nullptr, &n), "cudaGraphGetNodes", "count"));
  return static_cast<uint64_t>(n);
}

Result<CudaGraphExec> CudaGraph::instantiate(cudaStream_t stream) const {
  cudaGraphExec_t e = nullptr;
  TANDEM_TRY(cuda_status(cudaGraphInstantiate(&e, g_, 0), "cudaGraphInstantiate"));
  CudaGraphExec exec(e);
  TANDEM_TRY(cuda_status(cudaGraphUpload(e, stream), "cudaGraphUpload"));
  return exec;
}

}  // namespace tandem::gpu
