// The CUDA layer executor (gpu/executor.h): the last layers of a model and its output
// head on one CUDA device, in exactly the memory the engine's plan describes.
//
// create_cuda_executor makes desc.allocations in order through the budgeted allocator
// (so its high-water mark is the plan's total), hands the CUDA graph reserve straight
// back to the driver (below), uploads every weight through pinned staging on the
// executor's stream (staged_upload.h), zeroes the KV pools, and binds a cuBLAS handle to
// the stream and to the plan's cuBLAS workspace.
//
// run() per chunk of max_batch rows (exec_chunk.h): the chunk's positions, attention
// indices (table_start, n_ctx), segments, block tables and x rows are written into a
// pinned mirror of their device region and moved by ONE host-to-device copy
// (chunk_inputs.h); the layers run (cuda_forward.h), then the logits of the wanted rows
// (in groups of the logits buffer's rows) or the hidden state come back through the
// staging buffer's output area; the stream is synchronized before run() returns.
// copy_blocks() queues device-to-device copies of whole KV blocks of every layer on the
// same stream.
//
// The plan's "attention scratch" slot holds the split-K partial states of decode
// attention (gpu/attention_scratch.h: sized for max_batch tokens over the context
// limit, blocks_per_seq x block_tokens, on up to kAttnPlanMaxSms SMs; the executor
// plans splits for min(its SMs, kAttnPlanMaxSms) and refuses a smaller slot).
//
// CUDA graphs (graph_cache.h). A chunk that only decodes (every sequence one token, at
// most kGemvMaxBatch of them) has one decode attention launch, whose split-K plan is
// made for the context limit (exec_chunk.h's fix_decode_plan, in every mode, so graphs
// on and off give the same bits), and GEMV (or, for f32 weights, cuBLAS) matrices: the
// same launches every step, keyed by (n_tokens, first layer, end layer). A key's first
// chunk runs directly; its second is captured (the layers' launches only: the inputs'
// copy stays outside, one call either way, and the graph then reads nothing but device
// slots) and instantiated, then launched, and every later chunk of the key replays it.
// The head (row gathers that vary with out_rows, few launches) is never captured.
// Graph memory is the driver's, outside our allocator: the plan's graph reserve
// (gpu/reserves.h) is allocated with the plan and freed at once, and graphs are cached
// while their estimated memory fits in it; a capture that does not fit is dropped and
// its key stays direct. A capture or instantiation that fails warns once on stderr and
// leaves its key direct. Graphs are off when desc.graphs is false, when the backend was
// created with TANDEM_CUDA_GRAPHS=0 (CudaExecutorOptions), when the plan has no graph
// reserve of its own allocation, or when f32 matrices (cuBLAS inside the capture) have
// no cuBLAS workspace of the plan's. stats() counts direct chunks, captures, replays.
#pragma once

#include <memory>

#include "core/status.h"
#include "gpu/allocator.h"
#include "gpu/device_info.h"
#include "gpu/executor.h"

namespace tandem::gpu {

struct CudaExecutorOptions {
  bool graphs = true;  // false: no CUDA graphs, whatever desc.graphs says
};

// kInvalidArgument for a bad desc (check_executor_desc, chunk inputs out of their
// order, an attention scratch too small); kUnsupported for weights or a KV layout the
// kernels cannot take (naming the tensor); kOutOfMemory when the allocator refuses
// (everything made so far is freed); CUDA failures with the call, sizes and place.
Result<std::unique_ptr<GpuExecutor>> create_cuda_executor(const ExecutorDesc& desc, Allocator& alloc,
                                                          const DeviceInfo& device, const CudaExecutorOptions& options);

}  // namespace tandem::gpu
