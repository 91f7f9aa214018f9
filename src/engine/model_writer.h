// Writes a ModelPlan as a GGUF file with random weights, streaming: a chunk of rows
// (about 4 MiB of f32) is generated and quantized on the thread arena, written, and
// the buffers reused, so memory stays at a few chunks whatever the model's size.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"
#include "cpu/thread_arena.h"
#include "engine/model_plan.h"

namespace tandem {

// Called after each chunk with the tensor bytes written so far and the total.
using WriteProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Writes `plan` to `path`, drawing every tensor's values from `seed` (see
// random_weights.h). The bytes depend only on (plan, seed), not on the arena's size.
// On an error a partial regular file is removed. Errors name the path.
Status write_model_file(const ModelPlan& plan, const std::string& path, uint64_t seed,
                        const cpu::ThreadArena& arena, const WriteProgressFn& progress = {});

// The f32 values (before rounding to the tensor's type) of rows [row0, row0 + n_rows)
// of `t`: out is [n_rows, t.row_len()] row-major. Single-threaded.
void planned_tensor_rows(const PlannedTensor& t, uint64_t seed, int64_t row0, int64_t n_rows,
                         float* out);

}  // namespace tandem
