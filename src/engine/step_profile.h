// Where the time of forward passes goes, op by op: `tandem bench --profile` turns it on
// for the generation tests and states each matrix op's weight rate against the read
// bandwidth, so the gap between a decode step and the roofline has names.
//
// Off by default (a Context without a profile reads no clocks). Times are wall-clock
// seconds of the calling thread around each op, including the op's fork-join.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace tandem {

enum class StepOp : int {
  kEmbed,      // token embedding rows to f32
  kNorm,       // RMSNorms (attention, FFN, output)
  kQkv,        // Q, K, V projections (one shared-input matmul) and their biases
  kRopeKv,     // RoPE of q and k, and the KV cache write
  kAttention,  // decode/prefill attention over the paged cache
  kAttnOut,    // output projection
  kResidual,   // the two residual adds per layer
  kGateUp,     // gate and up projections (one shared-input matmul)
  kSiluMul,    // SiLU(gate) * up
  kDown,       // down projection
  kOutput,     // output (vocabulary) projection
  kCount,
};

std::string_view step_op_name(StepOp op);

struct StepProfile {
  std::array<double, static_cast<size_t>(StepOp::kCount)> seconds{};
  std::array<uint64_t, static_cast<size_t>(StepOp::kCount)> weight_bytes{};  // matrix bytes read
  int64_t passes = 0;  // forward passes counted

  void add(StepOp op, double s, uint64_t bytes) {
    seconds[static_cast<size_t>(op)] += s;
    weight_bytes[static_cast<size_t>(op)] += bytes;
  }
  double total_seconds() const;
};

// Adds the time from construction to destruction to `p` (nothing when p is null).
class StepTimer {
 public:
  StepTimer(StepProfile* p, StepOp op, uint64_t weight_bytes = 0) : p_(p), op_(op), bytes_(weight_bytes) {
    if (p_ != nullptr) t0_ = std::chrono::steady_clock::now();
  }
  ~StepTimer() {
    if (p_ != nullptr)
      p_->add(op_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(), bytes_);
  }
  StepTimer(const StepTimer&) = delete;
  StepTimer& operator=(const StepTimer&) = delete;

 private:
  StepProfile* p_;
  StepOp op_;
  uint64_t bytes_;
  std::chrono::steady_clock::time_point t0_{};
};

}  // namespace tandem
