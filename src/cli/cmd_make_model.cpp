#include "cli/common.h"

namespace tandem::cli {

int cmd_make_model(const MakeModelOptions& o) {
  return fail(Error(Code::kUnsupported) << "make-model is not built yet");
}

}  // namespace tandem::cli
