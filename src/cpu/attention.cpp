// attention_decode: picks the span kernel for the ISA, splits a batch of query tokens
// into (token, KV head[, context range]) tasks on the lane's threads, and turns the
// kernels' unnormalized softmax states into outputs (merging split ranges).
#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "cpu/attention_kernels.h"

namespace tandem::cpu {
namespace {

constexpr int32_t kMaxGroup = 256;  // bound of the per-task m/l arrays on the stack
constexpr int32_t kMaxDim = 256;    // bound of the kernels' scratch rows

AttnSpanFn span_kernel(Isa isa, int32_t head_dim, int32_t group) {
  if (group < 1 || group > kMaxGroup || head_dim < 1 || head_dim > kMaxDim) return nullptr;
  switch (isa) {
    case Isa::kAvx512:
      if (head_dim % 16 == 0) return attention_span_avx512;
      return head_dim % 8 == 0 ? attention_span_avx2 : nullptr;
    case Isa::kAvx2:
      return head_dim % 8 == 0 ? attention_span_avx2 : nullptr;
    case Isa::kScalar:
      return nullptr;
  }
  return nullptr;
}

// acc[g, :] /= l[g] for each of the group's heads (in place); acc: [group, d].
void normalize(float* acc, const float* l, int32_t group, int32_t d) {
  for (int32_t g = 0; g < group; ++g) {
    const float inv = l[g] > 0 ? 1.f / l[g] : 0.f;
    float* a = acc + static_cast<int64_t>(g) * d;
    for (int32_t i = 0; i < d; ++i) a[i] *= inv;
  }
}

// Runs one KV head's group over [t_begin, t_end) and writes the normalized output.
void run_group(AttnSpanFn fn, const float* q, int32_t group, const PagedKv& kv, int32_t kvh,
               const int32_t* table, int32_t n_ctx, float scale, float* out) {
  float m[kMaxGroup], l[kMaxGroup];
  fn({q, group, &kv, kvh, table, 0, n_ctx, scale, m, l, out});
  normalize(out, l, group, kv.head_dim);
}

// Partial states of one KV head's group, one per context range, merged into out.
//   part: [n_split] of {m: [group], l: [group], acc: [group, d]}
void merge_splits(const float* part, int32_t n_split, int32_t group, int32_t d, float* out) {
  const int64_t stride = static_cast<int64_t>(group) * (d + 2);
  for (int32_t g = 0; g < group; ++g) {
    float m = -INFINITY;
    for (int32_t s = 0; s < n_split; ++s) m = std::max(m, part[s * stride + g]);
    float* o = out + static_cast<int64_t>(g) * d;
    std::fill(o, o + d, 0.f);
    float l = 0.f;
    for (int32_t s = 0; s < n_split; ++s) {
      const float* p = part + s * stride;
      const float w = std::exp(p[g] - m);
      l += p[group + g] * w;
      const float* acc = p + 2 * group + static_cast<int64_t>(g) * d;
      for (int32_t i = 0; i < d; ++i) o[i] += acc[i] * w;
    }
    const float inv = l > 0 ? 1.f / l : 0.f;
    for (int32_t i = 0; i < d; ++i) o[i] *= inv;
  }
}

void check_shapes(int32_t n_heads, const PagedKv& kv, size_t table_size, int32_t max_ctx) {
  TANDEM_CHECK(kv_type_ok(kv.type, kv.head_dim))
      << "KV type " << dtype_name(kv.type) << " with head_dim " << kv.head_dim;
  TANDEM_CHECK(kv.n_kv_heads > 0 && n_heads % kv.n_kv_heads == 0)
      << n_heads << " query heads, " << kv.n_kv_heads << " KV heads";
  TANDEM_CHECK(static_cast<int64_t>(table_size) * kv.block_tokens >= max_ctx)
      << "block table of " << table_size << " blocks of " << kv.block_tokens << " for "
      << max_ctx << " tokens";
}

}  // namespace

bool attention_simd_ok(Isa isa, int32_t head_dim, int32_t group) {
  return span_kernel(isa, head_dim, group) != nullptr;
}

int32_t attention_splits(int64_t n_tokens, int32_t n_kv_heads, int32_t n_ctx, int n_threads) {
  if (n_tokens != 1 || n_kv_heads >= n_threads) return 1;
  const int32_t want = (n_threads + n_kv_heads - 1) / n_kv_heads;
  return std::max(1, std::min(want, n_ctx / kAttnMinSplitTokens));
}

void attention_decode_one(Isa isa, const float* q, int32_t n_heads, const PagedKv& kv,
                          std::span<const int32_t> block_table, int32_t n_ctx, float scale,
                          float* out) {
  check_shapes(n_heads, kv, block_table.size(), n_ctx);
  const int32_t group = n_heads / kv.n_kv_heads;
  const AttnSpanFn fn = span_kernel(isa, kv.head_dim, group);
  if (fn == nullptr) {
    attention_decode_ref(q, n_heads, kv, block_table, n_ctx, scale, out);
    return;
  }
  const int64_t gd = static_cast<int64_t>(group) * kv.head_dim;
  for (int32_t kvh = 0; kvh < kv.n_kv_heads; ++kvh)
    run_group(fn, q + kvh * gd, group, kv, kvh, block_table.data(), n_ctx, scale, out + kvh * gd);
}

void attention_decode(const CpuLane& lane, const AttnBatch& b) {
  if (b.n_tokens <= 0) return;
  const PagedKv& kv = b.kv;
  const int32_t max_ctx = b.n_ctx0 + static_cast<int32_t>(b.n_tokens) - 1;
  TANDEM_CHECK(b.n_ctx0 >= 1) << "n_ctx0 " << b.n_ctx0;
  check_shapes(b.n_heads, kv, b.block_table.size(), max_ctx);
  const int32_t d = kv.head_dim;
  const int32_t group = b.n_heads / kv.n_kv_heads;
  const int64_t q_stride = static_cast<int64_t>(b.n_heads) * d;  // one token's q / out
  const int64_t gd = static_cast<int64_t>(group) * d;             // one group's q / out
  const AttnSpanFn fn = span_kernel(lane.isa, d, group);
  if (fn == nullptr) {
    lane.arena->parallel_for(b.n_tokens, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t)
        attention_decode_ref(b.q + t * q_stride, b.n_heads, kv, b.block_table,
                             b.n_ctx0 + static_cast<int32_t>(t), b.scale, b.out + t * q_stride);
    });
    return;
  }
  const int32_t n_kv = kv.n_kv_heads;
  const int32_t n_split = attention_splits(b.n_tokens, n_kv, b.n_ctx0, lane.arena->n_threads());
  if (n_split == 1) {
    lane.arena->parallel_for(b.n_tokens * n_kv, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t t = i / n_kv;
        const int32_t kvh = static_cast<int32_t>(i % n_kv);
        const int64_t off = t * q_stride + kvh * gd;
        run_group(fn, b.q + off, group, kv, kvh, b.block_table.data(),
                  b.n_ctx0 + static_cast<int32_t>(t), b.scale, b.out + off);
      }
    });
    return;
  }
  // One token, split-K: task i = (kvh, s) runs positions [n_ctx*s/S, n_ctx*(s+1)/S).
  const int32_t n_ctx = b.n_ctx0;
  const int64_t part_size = static_cast<int64_t>(group) * (d + 2);  // m, l, acc
  std::vector<float> parts(static_cast<size_t>(n_kv) * n_split * part_size);  // [n_kv, S, part]
  lane.arena->parallel_for(static_cast<int64_t>(n_kv) * n_split, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int32_t kvh = static_cast<int32_t>(i / n_split);
      const int64_t s = i % n_split;
      float* p = parts.data() + i * part_size;
      const auto t_begin = static_cast<int32_t>(n_ctx * s / n_split);
      const auto t_end = static_cast<int32_t>(n_ctx * (s + 1) / n_split);
      fn({b.q + kvh * gd, group, &kv, kvh, b.block_table.data(), t_begin, t_end, b.scale, p,
          p + group, p + 2 * group});
    }
  });
  for (int32_t kvh = 0; kvh < n_kv; ++kvh)
    merge_splits(parts.data() + static_cast<int64_t>(kvh) * n_split * part_size, n_split, group,
                 d, b.out + kvh * gd);
}

}  // namespace tandem::cpu
