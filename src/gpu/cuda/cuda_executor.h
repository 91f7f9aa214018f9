// The CUDA layer executor (gpu/executor.h): the last layers of a model and its output
// head on one CUDA device, in exactly the memory the engine's plan describes.
//
// create_cuda_executor makes desc.allocations in order through the budgeted allocator
// (so its high-water mark is the plan's total), uploads every weight through pinned
// staging on the executor's stream (staged_upload.h), zeroes the KV pools, and binds a
// cuBLAS handle to the stream and to the plan's cuBLAS workspace.
//
// run() per chunk of max_batch rows (exec_chunk.h): x and the chunk's positions, block
// tables, segments and attention indices are copied into their slots from one pinned
// staging buffer, the layers run (cuda_forward.h), then the logits of the wanted rows
// (in groups of the logits buffer's rows) or the hidden state come back through the
// same staging buffer; the stream is synchronized before run() returns. copy_blocks()
// queues device-to-device copies of whole KV blocks of every layer on the same stream.
//
// The plan's "CUDA graph reserve" slot is the executor's scratch: the per-token
// attention indices (table_start, n_ctx: i32 [max_batch] each) and the split-K
// workspace of decode attention (a few MB at most: attention_common.h's plan targets
// ~4 CTAs per SM). No CUDA graph is captured yet.
// TODO(graphs): capture decode steps (n_tokens <= kGemvMaxBatch) per (n_tokens, groups)
// shape; every parameter that changes between steps is already in device slots
// (positions, tables, table_start, n_ctx) except the decode split plan, which would be
// fixed per captured shape (plan it for the context limit). The memory plan should then
// give the attention scratch a part of its own and keep the reserve for the graphs.
#pragma once

#include <memory>

#include "core/status.h"
#include "gpu/allocator.h"
#include "gpu/device_info.h"
#include "gpu/executor.h"

namespace tandem::gpu {

// kInvalidArgument for a bad desc (check_executor_desc, or a graph reserve too small
// for the scratch); kUnsupported for weights or a KV layout the kernels cannot take
// (naming the tensor); kOutOfMemory when the allocator refuses (everything made so far
// is freed); CUDA failures with the call, sizes and place.
Result<std::unique_ptr<GpuExecutor>> create_cuda_executor(const ExecutorDesc& desc, Allocator& alloc,
                                                          const DeviceInfo& device);

}  // namespace tandem::gpu
