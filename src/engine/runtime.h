// Everything a generation needs, loaded together: model, tokenizer, context.
// The command line and the C API both start from here.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "engine/context.h"
#include "engine/memory_plan.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

namespace tandem {

struct Runtime {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Context> context;
  // Why the device refused the model (its kUnsupported message) when open_runtime fell
  // back to the CPU (RuntimeDevice::cpu_fallback); empty otherwise.
  std::string device_refusal;
};

// Where layers run besides the CPU: the plan (made for this model file and for `cfg`'s
// context: n_ctx, n_seq, KV type, block size) and the backend whose executor runs what
// it places. Both must outlive the Runtime.
struct RuntimeDevice {
  gpu::GpuBackend* backend = nullptr;
  const MemoryPlan* plan = nullptr;
  // When the backend refuses the model as unsupported (kUnsupported from placing it: a
  // weight type or KV layout its kernels cannot take): true: every layer runs on the
  // CPU instead and Runtime::device_refusal says why; false: the refusal is the error.
  // Other failures (out of memory, a bad plan, a device error) are errors either way.
  bool cpu_fallback = false;
};

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const gguf::File& f);
// With `device` (and a plan that places something): the model's CPU part is packed for
// the CPU kernels, the plan allocated and the device's weights uploaded
// (place_on_device), and the context runs those layers there. A refusal of the model
// (see RuntimeDevice::cpu_fallback) is kUnsupported "<device name> cannot run this
// model: <why>", or with the fallback a CPU-only runtime (the model loaded again, all of
// it packed for the CPU).
Result<Runtime> open_runtime(const std::string& model_path, const ContextConfig& cfg,
                             const RuntimeDevice& device = {});

}  // namespace tandem
