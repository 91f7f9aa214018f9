// The per-ISA decode-attention kernels behind attention_decode() (cpu/attention.h).
// Each lives in a file built with its ISA's flags only (attention_<isa>.cpp); this
// header holds declarations and a plain struct only (no inline or template code shared
// between translation units built with different flags).
#pragma once

#include <cstdint>

#include "cpu/ops_ref.h"

namespace tandem::cpu {

// One KV head's query group over cached positions [t_begin, t_end): the unnormalized
// online-softmax state of every query head of the group.
struct AttnSpan {
  const float* q;              // [group, head_dim]: query heads kv_head*group .. +group-1
  int32_t group;               // query heads per KV head (n_heads / n_kv_heads)
  const PagedKv* kv;           // K, V: [n_blocks, n_kv_heads, block_tokens, head_dim]
  int32_t kv_head;
  const int32_t* block_table;  // [ceil(t_end / block_tokens)]
  int32_t t_begin, t_end;      // t_begin < t_end
  float scale;
  float* m;                    // [group] out: max over the span of scale * q.k
  float* l;                    // [group] out: sum of exp(s - m)
  float* acc;                  // [group, head_dim] out: sum of exp(s - m) * v
};
using AttnSpanFn = void (*)(const AttnSpan&);

// head_dim % 8 == 0, head_dim <= 256 (attention_avx2.cpp).
void attention_span_avx2(const AttnSpan& a);
// head_dim % 16 == 0, head_dim <= 256 (attention_avx512.cpp).
void attention_span_avx512(const AttnSpan& a);

}  // namespace tandem::cpu
