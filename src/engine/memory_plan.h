// The GPU memory plan: where every byte of device memory goes, decided from the model's
// tensor sizes (the GGUF header, or make-model's plan of a file never written) and the
// context settings before anything is loaded, and refused with the numbers when it
// cannot fit. The loader then allocates exactly plan.items through the budgeted
// allocator (allocate_plan), so the allocator's high-water mark equals plan.total().
//
// Placement (until the cost model decides it tensor by tensor):
//  - Whole repeating layers go on the GPU, the LAST ones: layers [first_gpu_layer(),
//    n_layer). The CPU runs the first layers and the hidden state crosses PCIe once.
//  - The output head (output_norm + output.weight, or token_embd when tied) goes first,
//    before any layer: every token reads all of it like a layer, it is the largest
//    single matrix (a 128k vocab), and logits come out where sampling starts. With
//    `--gpu-layers auto` the head is placed whenever anything is; with an explicit
//    N > 0 it is always placed.
//  - token_embd stays in host memory (when tied, the head holds a GPU copy for the
//    logits only): a prompt reads one row per token, which the CPU gathers and sends.
//  - Each GPU layer's KV cache is on the GPU (the GPU_ONLY strategy); the host tiers
//    come with the scheduler.
//  - Fixed parts, whenever anything is on the GPU: activations and the dequantization
//    workspace for the largest batch (max_batch), the cuBLAS workspace, the attention
//    scratch (split-K decode partials for max_batch tokens over the context limit,
//    gpu/attention_scratch.h), and a CUDA graph reserve (gpu/reserves.h: device memory
//    the driver takes for instantiated graphs; the CUDA executor allocates it with the
//    rest, then hands it back to the driver for its graphs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "engine/model_config.h"
#include "gpu/allocator.h"

namespace tandem::gguf { class File; }

namespace tandem {

struct ModelPlan;

// ---- what the planner knows of a model

struct PlanTensor {
  std::string name;
  DType type = DType::kF32;
  uint64_t bytes = 0;
  int32_t layer = -1;  // N for "blk.N.*", -1 for a global tensor
};

struct PlanModel {
  ModelConfig config;
  bool tied_output = false;         // no output.weight: logits use token_embd
  std::vector<PlanTensor> tensors;  // file order
};

// From a GGUF file's metadata and tensor infos (no weight is read).
Result<PlanModel> plan_model_of(const gguf::File& f);
// From make-model's plan: an 8B model's plan with no file.
PlanModel plan_model_of(const ModelPlan& p);

// ---- the plan

struct MemoryPlanConfig {
  std::optional<uint64_t> budget;     // bytes of device memory; nullopt: no limit (a full offload)
  std::optional<int32_t> gpu_layers;  // nullopt: auto (as many as fit)
  int32_t n_ctx = 0;                  // tokens per sequence; 0: min(model's context, 4096), as Context
  int32_t n_seq = 1;
  int32_t block_tokens = 16;
  DType kv_type = DType::kF16;
  int32_t max_batch = 512;            // most tokens in one GPU forward (a prefill chunk)
  bool all_logits = false;            // logits for every token of a batch (perplexity)
};

enum class PlanKind { kWeights, kKvCache, kActivations, kWorkspace, kCublas, kAttentionScratch, kGraphs };
const char* plan_kind_name(PlanKind k);  // "weights", "KV cache", ...

// A named piece of an allocation: a tensor, a K or V pool, an activation buffer.
struct PlanPart {
  std::string name;
  uint64_t offset = 0;  // from the allocation's start, a multiple of gpu::kAllocAlignment
  uint64_t bytes = 0;   // unrounded
  DType type = DType::kF32;
};

// One device allocation.
struct PlanItem {
  std::string name;  // "output head", "blk.31 weights", "blk.31 KV cache", "activations", ...
  PlanKind kind = PlanKind::kWeights;
  int32_t layer = -1;
  uint64_t bytes = 0;  // what the allocator charges: the parts, each rounded up to 256
  std::vector<PlanPart> parts;
};

// Device memory a batch of `batch` tokens needs beside weights and KV.
struct BatchCost {
  int32_t batch = 0;
  uint64_t activations = 0;
  uint64_t workspace = 0;  // 0 up to gpu::kGemvMaxBatch tokens (GEMV straight from quants)
};

struct MemoryPlan {
  std::string model_name;
  MemoryPlanConfig config;          // n_ctx resolved
  int32_t n_layer = 0;
  int32_t gpu_layers = 0;           // the last gpu_layers repeating layers are on the GPU
  bool output_on_gpu = false;
  std::vector<PlanItem> items;      // every allocation, in the order to make them
  std::vector<BatchCost> by_batch;  // 1, 8, 64, ... up to max_batch
  uint64_t host_weight_bytes = 0;   // weights left in host memory
  std::vector<std::string> notes;

  int32_t first_gpu_layer() const { return n_layer - gpu_layers; }
  uint64_t total() const;
  uint64_t total(PlanKind k) const;
};

// kInvalidArgument for a bad config (n_seq, block_tokens, max_batch < 1; a KV type
// with no row layout); kOutOfMemory, naming every size and how many layers would fit,
// when an explicit gpu_layers does not fit the budget.
Result<MemoryPlan> plan_memory(const PlanModel& m, const MemoryPlanConfig& c);

// The plan as a table (for stderr before a run and `tandem inspect --plan`).
std::string format_plan(const MemoryPlan& p);

// Makes every allocation of the plan, in order; the first failure is returned (what
// was allocated is freed).
Result<std::vector<gpu::DeviceBuffer>> allocate_plan(const MemoryPlan& p, gpu::Allocator& a);

// "auto" -> nullopt, "0".."9999" -> the number; kInvalidArgument otherwise.
Result<std::optional<int32_t>> parse_gpu_layers(std::string_view s);

}  // namespace tandem
