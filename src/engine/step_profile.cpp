#include "engine/step_profile.h"

namespace tandem {

std::string_view step_op_name(StepOp op) {
  switch (op) {
    case StepOp::kEmbed: return "embedding";
    case StepOp::kNorm: return "rms_norm";
    case StepOp::kQkv: return "qkv matmul";
    case StepOp::kRopeKv: return "rope + kv write";
    case StepOp::kAttention: return "attention";
    case StepOp::kAttnOut: return "attn_output matmul";
    case StepOp::kResidual: return "residual add";
    case StepOp::kGateUp: return "gate+up matmul";
    case StepOp::kSiluMul: return "silu*up";
    case StepOp::kDown: return "down matmul";
    case StepOp::kOutput: return "output matmul";
    case StepOp::kCount: break;
  }
  return "?";
}

double StepProfile::total_seconds() const {
  double s = 0;
  for (double v : seconds) s += v;
  return s;
}

}  // namespace tandem
