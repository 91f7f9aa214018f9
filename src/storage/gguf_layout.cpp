// GGUF layout rules shared by the reader and the writer: alignment and tensor sizes.
#include "storage/gguf.h"
#include "storage/gguf_internal.h"

namespace tandem::gguf::detail {

bool align_up(uint64_t x, uint64_t alignment, uint64_t* out) {
  const uint64_t rem = x % alignment;
  if (rem == 0) {
    *out = x;
    return true;
  }
  return !__builtin_add_overflow(x, alignment - rem, out);
}

Result<TensorSize> tensor_size(std::span<const uint64_t> dims, DType type) {
  if (dims.empty() || dims.size() > kMaxDims)
    return Error(Code::kBadGguf) << "has " << dims.size() << " dims (allowed: 1 to "
                                 << kMaxDims << ")";
  TensorSize out{1, 0};
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 0) return Error(Code::kBadGguf) << "has dim " << d << " equal to 0";
    if (__builtin_mul_overflow(out.n_elements, dims[d], &out.n_elements) ||
        out.n_elements > static_cast<uint64_t>(INT64_MAX))
      return Error(Code::kBadGguf) << "has dims whose product overflows int64 (dim " << d
                                   << " = " << dims[d] << ")";
  }
  const DTypeTraits& tr = traits(type);
  if (dims[0] % static_cast<uint64_t>(tr.block_elems) != 0)
    return Error(Code::kBadGguf) << "has row length " << dims[0] << ", not a multiple of "
                                 << tr.name << "'s block of " << tr.block_elems;
  const std::optional<uint64_t> row = row_bytes(type, dims[0]);
  if (!row || __builtin_mul_overflow(*row, out.n_elements / dims[0], &out.nbytes))
    return Error(Code::kBadGguf) << "has a byte size that overflows u64";
  return out;
}

}  // namespace tandem::gguf::detail
